/**
 * The daemon's state as state-stream records, and back: nodes, quotas,
 * domains, and (for live update) connections with their watches and open
 * transactions. A cold dump carries no file descriptors (-1).
 */
import { childNodes } from '../store/children.js';
import { checkTree } from '../store/check.js';
import { diffTrees } from '../store/diff.js';
import { EMPTY_VALUE, makeNode, type Node } from '../store/node.js';
import type { Perm, Perms } from '../store/perms.js';
import { putChild } from '../store/tree.js';
import { childGet } from '../store/children.js';
import { ACCESS_READ, ACCESS_WRITE, DOMID_INVALID, recordOffset, StreamError, type Record } from './stream.js';

/**
 * What a dump needs of a connection: the server's Connection has this shape
 * (state/ takes it as a parameter and imports nothing from server/).
 */
export interface StateConnection {
  readonly id: number;
  readonly caller: { readonly domid: number; readonly privileged: boolean; readonly target: number | undefined };
  readonly watches: { values(): Iterable<{ readonly path: string; readonly token: string; readonly depth?: number | undefined }> };
  readonly transactions: { values(): Iterable<{ readonly id: number; readonly base: Node; readonly root: Node }> };
}

/** What a dump needs of a domain. */
export interface StateDomain {
  readonly domid: number;
  readonly features: number;
  readonly quotas: ReadonlyMap<string, number>;
}

export interface StateSource<Connection extends StateConnection = StateConnection> {
  readonly root: Node;
  /** The limits by name: per-domain quotas, and the daemon's own limits. */
  readonly settings: { readonly perDomain: ReadonlyArray<[string, number]>; readonly global: ReadonlyArray<[string, number]> };
  readonly domains: Iterable<StateDomain>;
  readonly conns: Iterable<Connection>;
}

export interface DumpOptions<Connection extends StateConnection = StateConnection> {
  /** Socket file descriptor of each connection (live update), else -1. */
  readonly socketFd?: (c: Connection) => number;
  readonly rwSocketFd?: number;
  readonly evtchnFd?: number;
  /** Ring connection's event channel, by domid. */
  readonly ringPort?: (domid: number) => number | undefined;
  /** Whether `c` is a domain's ring connection (default: unprivileged; dom0's own ring is privileged). */
  readonly isRing?: (c: Connection) => boolean;
  /** Bytes received but not processed, and bytes to send, per connection (live update). */
  readonly pending?: (c: Connection) => { inData: Buffer; outData: Buffer };
}

const join = (base: string, name: string): string => (base === '/' ? `/${name}` : `${base}/${name}`);

/** Every node of `root` as committed NODE_DATA records, parents first. */
export function* nodeRecords(root: Node): Generator<Record> {
  const stack: Array<[Node, string]> = [[root, '/']];
  while (stack.length > 0) {
    const [n, p] = stack.pop()!;
    yield { type: 'node', connId: 0, txId: 0, path: p, value: n.value, access: 0, perms: n.perms };
    const kids = [...childNodes(n.children)];
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i]!, join(p, kids[i]!.name)]);
  }
}

export function* dumpState<C extends StateConnection>(s: StateSource<C>, opts: DumpOptions<C> = {}): Generator<Record> {
  yield { type: 'global', rwSocketFd: opts.rwSocketFd ?? -1, evtchnFd: opts.evtchnFd ?? -1 };
  yield {
    type: 'global-quota',
    perDomain: [...s.settings.perDomain],
    global: [...s.settings.global],
  };
  for (const d of s.domains) {
    yield { type: 'domain', domid: d.domid, features: d.features, quotas: [...d.quotas.entries()] };
  }
  for (const c of s.conns) {
    const ring = opts.isRing?.(c) ?? !c.caller.privileged;
    yield {
      type: 'connection',
      connId: c.id,
      flags: 0,
      spec: ring
        ? { kind: 'ring', domid: c.caller.domid, tdomid: c.caller.target ?? DOMID_INVALID, evtchn: opts.ringPort?.(c.caller.domid) ?? 0 }
        : { kind: 'socket', fd: opts.socketFd?.(c) ?? -1 },
      inData: opts.pending?.(c).inData ?? Buffer.alloc(0),
      outRespLen: 0,
      outData: opts.pending?.(c).outData ?? Buffer.alloc(0),
    };
    for (const w of c.watches.values()) yield { type: 'watch', connId: c.id, path: w.path, token: w.token, depth: w.depth };
    for (const t of c.transactions.values()) {
      yield { type: 'transaction', connId: c.id, txId: t.id };
      for (const ch of diffTrees(t.base, t.root)) {
        if (ch.kind === 'set') yield { type: 'node', connId: c.id, txId: t.id, path: ch.path, value: ch.value, access: ACCESS_WRITE | ACCESS_READ, perms: ch.perms };
        else yield { type: 'node', connId: c.id, txId: t.id, path: ch.path, value: Buffer.alloc(0), access: 0, perms: [] };
      }
    }
  }
  yield* nodeRecords(s.root);
}

export interface RestoredState {
  readonly root: Node;
  readonly counts: Map<number, number>;
  /** Every limit the stream names (per-domain and global), by the name it uses. */
  readonly settings: ReadonlyArray<[string, number]>;
  readonly domains: ReadonlyArray<Extract<Record, { type: 'domain' }>>;
  readonly connections: ReadonlyArray<Extract<Record, { type: 'connection' }>>;
  readonly watches: ReadonlyArray<Extract<Record, { type: 'watch' }>>;
  readonly transactions: ReadonlyArray<Extract<Record, { type: 'transaction' }>>;
}

const comps = (p: string): string[] => (p === '/' ? [] : p.slice(1).split('/'));

/** Rebuilds the committed tree and the rest from records; refuses inconsistent input. */
export function restoreState(records: readonly Record[]): RestoredState {
  let root: Node | undefined;
  const settings: Array<[string, number]> = [];
  const domains: Array<Extract<Record, { type: 'domain' }>> = [];
  const connections: Array<Extract<Record, { type: 'connection' }>> = [];
  const watches: Array<Extract<Record, { type: 'watch' }>> = [];
  const transactions: Array<Extract<Record, { type: 'transaction' }>> = [];
  const connIds = new Set<number>();
  let index = 0;
  for (const r of records) {
    index++;
    const at = recordOffset(r) ?? 0;
    switch (r.type) {
      case 'global-quota':
        settings.push(...r.perDomain, ...r.global);
        break;
      case 'domain':
        domains.push(r);
        break;
      case 'connection':
        connIds.add(r.connId);
        connections.push(r);
        break;
      case 'watch':
        if (!connIds.has(r.connId)) throw new StreamError(at, `record ${index}: watch for unknown connection ${r.connId}`);
        watches.push(r);
        break;
      case 'transaction':
        if (!connIds.has(r.connId)) throw new StreamError(at, `record ${index}: transaction for unknown connection ${r.connId}`);
        transactions.push(r);
        break;
      case 'node': {
        if (r.connId !== 0) break; // pending transaction data: such transactions are restored doomed
        const perms = r.perms as readonly Perm[] as Perms;
        const cs = comps(r.path);
        if (cs.length === 0) {
          root = makeNode('', r.value, perms, 0, root?.children);
          break;
        }
        if (root === undefined) throw new StreamError(at, `record ${index}: node ${r.path} before the root`);
        let parent: Node | undefined = root;
        for (let i = 0; i < cs.length - 1 && parent !== undefined; i++) parent = childGet(parent.children, cs[i]!);
        if (parent === undefined) throw new StreamError(at, `record ${index}: node ${r.path} before its parent`);
        if (childGet(parent.children, cs[cs.length - 1]!) !== undefined) throw new StreamError(at, `record ${index}: node ${r.path} twice`);
        root = putChild(root, cs, cs.length, makeNode(cs[cs.length - 1]!, r.value.length === 0 ? EMPTY_VALUE : r.value, perms, 0), 0);
        break;
      }
      case 'global':
        break;
    }
  }
  if (root === undefined) throw new StreamError(0, 'no root node in the stream');
  const report = checkTree(root);
  if (report.problems.length > 0) throw new StreamError(0, `inconsistent tree: ${report.problems.slice(0, 3).join('; ')}`);
  return { root, counts: report.counts, settings, domains, connections, watches, transactions };
}

/**
 * The ring sessions of a dump (durable mode's DIR/rings): settings, domains,
 * each ring connection and its watches; no nodes and no transactions. Stops
 * at the tree, so a dump's nodes are never walked.
 */
export function sessionRecords(records: Iterable<Record>): Record[] {
  const out: Record[] = [];
  const rings = new Set<number>();
  for (const r of records) {
    if (r.type === 'node' && r.connId === 0) break;
    if (r.type === 'connection') {
      if (r.spec.kind !== 'ring') continue;
      rings.add(r.connId);
    } else if (r.type === 'transaction' || r.type === 'node' || (r.type === 'watch' && !rings.has(r.connId))) {
      continue;
    }
    out.push(r);
  }
  return out;
}
