/**
 * A deliberately naive reference model of the XenStore daemon's data and
 * transaction semantics, for privileged (dom0) callers only.
 *
 *  - The store is a plain Map from absolute path to { value, perms }; a node's
 *    children are the keys one component below it. Nothing is shared or clever.
 *  - A transaction is a FULL COPY of the map taken at its first request (not
 *    at START: until then it has seen nothing and cannot be told from one
 *    started later; the daemon takes T1 there too), a working copy it reads
 *    and writes, the set of things it looked at (its footprint),
 *    the paths it wrote or removed, its requests with their answers, and the
 *    changes it made (one per path, for watch events).
 *  - Commit rule (the conflict rule every implementation must at least meet):
 *    the transaction commits if every footprint item has the same
 *    existence / value / perms / child list in the live map as in its start
 *    copy (which is trivially true if nothing else changed the store since it
 *    started). Its writes are then copied from its working map into the live
 *    map. Otherwise it is a conflict (EAGAIN) -- unless the caller decides,
 *    from what the daemon did, to accept a commit by replay (`replay`): the
 *    daemon may commit more than this rule, never less.
 *
 * Footprint items (what an answer or an effect depends on):
 *   n:P  existence, value and perms of P  (READ, GET_PERMS)
 *   p:P  existence and perms of P         (the node WRITE overwrites; the ancestor whose perms a new node inherits)
 *   v:P  existence and value of P         (the node SET_PERMS overwrites)
 *   e:P  existence of P                   (ancestors of created nodes, RM and its parent, MKDIR)
 *   c:P  existence and child names of P   (DIRECTORY)
 */
import { Op } from '../../src/protocol/op.js';

export interface MNode {
  readonly value: Buffer;
  /** Normalised, as GET_PERMS lists them: ['n0', 'r5']. */
  readonly perms: readonly string[];
}

export type Tree = Map<string, MNode>;

export type DataReq =
  | { readonly op: 'READ' | 'DIRECTORY' | 'GET_PERMS' | 'MKDIR' | 'RM'; readonly path: string }
  | { readonly op: 'WRITE'; readonly path: string; readonly value: Buffer }
  | { readonly op: 'SET_PERMS'; readonly path: string; readonly perms: readonly string[] };

/** A reply: message type (the request's, or Op.ERROR) and payload bytes. */
export interface Answer {
  readonly type: number;
  readonly payload: Buffer;
}

/** One modification, as the watch layer sees it. */
export interface Change {
  readonly path: string;
  readonly removed: boolean;
  /** For a removal: the paths that existed at or below it (watches below fire only for these). */
  readonly existed?: ReadonlySet<string>;
}

export interface Event {
  readonly conn: number;
  readonly path: string;
  readonly token: string;
}

export const OK_PAYLOAD = Buffer.from('OK\0', 'latin1');
const EMPTY = Buffer.alloc(0);
const ROOT_PERMS: readonly string[] = ['n0'];
/** Open transactions per connection for dom0 (the 'connection-transactions' setting). */
export const MAX_TRANSACTIONS = 1024;
export const HOME = '/local/domain/0';

export function ok(type: number, payload: Buffer = OK_PAYLOAD): Answer {
  return { type, payload };
}

export function err(name: string): Answer {
  return { type: Op.ERROR, payload: Buffer.from(`${name}\0`, 'latin1') };
}

function nulList(items: readonly string[]): Buffer {
  return Buffer.from(items.map((s) => `${s}\0`).join(''), 'latin1');
}

export function answersEqual(a: Answer, b: Answer): boolean {
  return a.type === b.type && a.payload.equals(b.payload);
}

// ---- paths ----------------------------------------------------------------------

/** Canonical absolute path for a dom0 client's raw path, or undefined if the protocol forbids it. */
export function resolve(raw: string): string | undefined {
  if (raw === '' || !/^[A-Za-z0-9\-/_@]+$/.test(raw) || raw.startsWith('@')) return undefined;
  if (raw === '/') return '/';
  const abs = raw.startsWith('/') ? raw : `${HOME}/${raw}`;
  if (abs.endsWith('/') || abs.includes('//')) return undefined;
  return abs;
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** Strict ancestors of `p`, root first. */
export function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let q = p; q !== '/'; ) {
    q = parentOf(q);
    out.unshift(q);
  }
  return out;
}

/** True if `p` is `a` or lies below it. */
export function isAtOrBelow(p: string, a: string): boolean {
  return p === a || a === '/' || p.startsWith(`${a}/`);
}

export function childrenOf(t: Tree, p: string): string[] {
  const out: string[] = [];
  for (const k of t.keys()) {
    if (k !== '/' && parentOf(k) === p) out.push(k.slice(k.lastIndexOf('/') + 1));
  }
  return out.sort();
}

// ---- trees ---------------------------------------------------------------------

export function initialTree(): Tree {
  const t: Tree = new Map();
  for (const p of ['/', '/local', '/tool', '/tool/xenstored']) t.set(p, { value: EMPTY, perms: ROOT_PERMS });
  return t;
}

function describeNode(n: MNode | undefined): string {
  return n === undefined ? '-' : `${n.value.toString('hex')}|${n.perms.join(' ')}`;
}

/** Text of one footprint item in a tree, for comparing two trees on it. */
export function observe(t: Tree, item: string): string {
  const kind = item.slice(0, 2);
  const p = item.slice(2);
  const n = t.get(p);
  switch (kind) {
    case 'e:':
      return n === undefined ? '-' : '+';
    case 'p:':
      return n === undefined ? '-' : n.perms.join(' ');
    case 'v:':
      return n === undefined ? '-' : n.value.toString('hex');
    case 'n:':
      return describeNode(n);
    case 'c:':
      return n === undefined ? '-' : childrenOf(t, p).join('/');
    default:
      throw new Error(`bad footprint item ${item}`);
  }
}

/** Differences between two trees, as readable lines (empty if equal). */
export function diffTrees(a: Tree, b: Tree, an = 'a', bn = 'b'): string[] {
  const out: string[] = [];
  for (const k of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = describeNode(a.get(k));
    const y = describeNode(b.get(k));
    if (x !== y) out.push(`${k}: ${an}=${x} ${bn}=${y}`);
  }
  return out;
}

/** Every node's parent exists. */
export function treeProblems(t: Tree): string[] {
  const out: string[] = [];
  if (!t.has('/')) out.push('no root');
  for (const k of t.keys()) if (k !== '/' && !t.has(parentOf(k))) out.push(`${k}: orphan`);
  return out;
}

// ---- permission strings ----------------------------------------------------------

/** SET_PERMS arguments normalised as the daemon reports them, or undefined if invalid. */
export function parsePermList(items: readonly string[]): string[] | undefined {
  if (items.length === 0) return undefined;
  const out: string[] = [];
  for (const s of items) {
    const m = /^([nrwb])([0-9]{1,10})$/.exec(s);
    if (m === null) return undefined;
    const id = Number(m[2]);
    if (id > 0xffff) return undefined;
    out.push(`${m[1]}${id}`);
  }
  return out;
}

// ---- the data operations ---------------------------------------------------------

/** What an operation reports besides its answer. */
interface Effects {
  touch(item: string): void;
  /** The node at this path was created or overwritten. */
  wrote(path: string): void;
  /** The subtree at this path was removed. */
  removed(path: string): void;
  changed(c: Change): void;
}

const NO_EFFECTS: Effects = { touch() {}, wrote() {}, removed() {}, changed() {} };

/** Creates `p` and its missing ancestors (value on the leaf), inheriting the deepest existing ancestor's perms. */
function create(t: Tree, p: string, value: Buffer, fx: Effects): void {
  const chain = [...ancestors(p), p];
  let i = 0;
  while (i < chain.length && t.has(chain[i]!)) i++;
  for (const a of chain) fx.touch(`e:${a}`);
  const source = chain[i - 1]!;
  fx.touch(`p:${source}`);
  const perms = t.get(source)!.perms;
  for (let j = i; j < chain.length; j++) {
    const q = chain[j]!;
    t.set(q, { value: q === p ? value : EMPTY, perms });
    fx.wrote(q);
  }
  fx.changed({ path: p, removed: false });
}

/**
 * A transaction announces one change per path (in first-change order); a
 * path removed at any point stays a removal, so watchers below it hear of it.
 */
export class ChangeSet {
  private readonly byPath = new Map<string, Change>();

  add(c: Change): void {
    const prev = this.byPath.get(c.path);
    // Once removed, a path stays a removal, of what existed when it was first removed.
    if (prev?.removed === true) this.byPath.set(c.path, { path: c.path, removed: true, existed: prev.existed });
    else this.byPath.set(c.path, c);
  }

  get list(): Change[] {
    return [...this.byPath.values()];
  }

  get size(): number {
    return this.byPath.size;
  }
}

function removeSubtree(t: Tree, p: string): void {
  for (const k of [...t.keys()]) if (isAtOrBelow(k, p)) t.delete(k);
}

/** Runs one data request on `t` (mutating it) and returns the answer. */
export function execData(t: Tree, req: DataReq, fx: Effects = NO_EFFECTS): Answer {
  const type = Op[req.op];
  if (req.op === 'SET_PERMS') {
    const perms = parsePermList(req.perms);
    const p = resolve(req.path);
    if (perms === undefined || p === undefined) return err('EINVAL');
    fx.touch(`v:${p}`);
    const n = t.get(p);
    if (n === undefined) return err('ENOENT');
    t.set(p, { value: n.value, perms });
    fx.wrote(p);
    fx.changed({ path: p, removed: false });
    return ok(type);
  }
  const p = resolve(req.path);
  if (p === undefined) return err('EINVAL');
  const n = t.get(p);
  switch (req.op) {
    case 'READ':
      fx.touch(`n:${p}`);
      return n === undefined ? err('ENOENT') : ok(type, n.value);
    case 'GET_PERMS':
      fx.touch(`n:${p}`);
      return n === undefined ? err('ENOENT') : ok(type, nulList(n.perms));
    case 'DIRECTORY':
      fx.touch(`c:${p}`);
      return n === undefined ? err('ENOENT') : ok(type, nulList(childrenOf(t, p)));
    case 'WRITE':
      if (n === undefined) {
        create(t, p, req.value, fx);
      } else {
        fx.touch(`p:${p}`);
        t.set(p, { value: req.value, perms: n.perms });
        fx.wrote(p);
        fx.changed({ path: p, removed: false });
      }
      return ok(type);
    case 'MKDIR':
      if (n === undefined) create(t, p, EMPTY, fx);
      else fx.touch(`e:${p}`);
      return ok(type);
    case 'RM': {
      if (p === '/') return err('EINVAL');
      fx.touch(`e:${parentOf(p)}`);
      fx.touch(`e:${p}`);
      if (!t.has(parentOf(p))) return err('ENOENT');
      if (n === undefined) return ok(type);
      const existed = new Set([...t.keys()].filter((k) => isAtOrBelow(k, p)));
      removeSubtree(t, p);
      fx.removed(p);
      fx.changed({ path: p, removed: true, existed });
      return ok(type);
    }
  }
}

// ---- transactions --------------------------------------------------------------------

export interface Recorded {
  readonly req: DataReq;
  readonly answer: Answer;
}

export class MTxn {
  /** The live map at the transaction's first request (never modified). */
  private start: Tree = new Map();
  /** The transaction's own full copy, which its requests read and write. */
  private work: Tree = new Map();
  private begun = false;
  readonly footprint = new Set<string>();
  /** Paths created or overwritten, and subtrees removed, in order. */
  readonly wrote = new Set<string>();
  readonly removed: string[] = [];
  readonly log: Recorded[] = [];
  private readonly changeSet = new ChangeSet();

  constructor(
    readonly id: number,
    private readonly live: () => Tree,
  ) {}

  /** A transaction that changed nothing (the daemon commits these unconditionally). */
  get readOnly(): boolean {
    return this.changeSet.size === 0;
  }

  get changes(): Change[] {
    return this.changeSet.list;
  }

  exec(req: DataReq): Answer {
    const fx: Effects = {
      touch: (i) => this.footprint.add(i),
      wrote: (p) => this.wrote.add(p),
      removed: (p) => this.removed.push(p),
      changed: (c) => this.changeSet.add(c),
    };
    if (!this.begun) {
      this.begun = true;
      this.start = new Map(this.live());
      this.work = new Map(this.start);
    }
    const answer = execData(this.work, req, fx);
    this.log.push({ req, answer });
    return answer;
  }

  /** Footprint items whose state in `live` differs from the start copy (empty: no conflict). */
  conflicts(live: Tree): string[] {
    const out: string[] = [];
    for (const item of this.footprint) {
      const a = observe(this.start, item);
      const b = observe(live, item);
      if (a !== b) out.push(`${item} was ${a} now ${b}`);
    }
    return out;
  }

  /** Copies this transaction's writes into `live` (which it mutates). */
  applyTo(live: Tree): void {
    for (const r of this.removed) removeSubtree(live, r);
    const paths = [...this.wrote].sort((a, b) => a.split('/').length - b.split('/').length);
    for (const p of paths) {
      const n = this.work.get(p);
      if (n === undefined) removeSubtree(live, p);
      else live.set(p, n);
    }
  }

  /**
   * Re-runs the recorded requests on a copy of `live`: the resulting map and
   * changes if every answer is the one the client saw, else undefined.
   */
  replay(live: Tree): { tree: Tree; changes: Change[] } | undefined {
    const tree = new Map(live);
    const changes = new ChangeSet();
    const fx: Effects = { ...NO_EFFECTS, changed: (c) => changes.add(c) };
    for (const { req, answer } of this.log) {
      if (!answersEqual(execData(tree, req, fx), answer)) return undefined;
    }
    return { tree, changes: changes.list };
  }
}

// ---- connections and watches ------------------------------------------------------------

export interface MWatch {
  /** As registered (events for a relative watch name paths relative to the home). */
  readonly path: string;
  readonly abs: string;
  readonly token: string;
}

/** How a dom0 watcher that registered a relative path is told of `abs`. */
export function relativeToHome(abs: string): string {
  return abs.startsWith(`${HOME}/`) ? abs.slice(HOME.length + 1) : abs;
}

export class MConn {
  nextTxId = 1;
  readonly open = new Map<number, MTxn>();
  /** Ids of ended transactions, oldest first (for requests naming a dead transaction). */
  readonly ended: number[] = [];
  /** Keyed by `${abs}\0${token}`. */
  readonly watches = new Map<string, MWatch>();
}

export type EndOutcome =
  | { readonly kind: 'answer'; readonly answer: Answer }
  | { readonly kind: 'commit'; readonly txn: MTxn };

export class Model {
  live: Tree = initialTree();
  readonly conns: MConn[] = [];

  constructor(nconns: number) {
    for (let i = 0; i < nconns; i++) this.conns.push(new MConn());
  }

  private conn(c: number): MConn {
    const mc = this.conns[c];
    if (mc === undefined) throw new Error(`no connection ${c}`);
    return mc;
  }

  /** A data request, direct (txId 0) or inside a transaction. */
  data(c: number, txId: number, req: DataReq): { answer: Answer; events: Event[] } {
    if (txId !== 0) {
      const txn = this.conn(c).open.get(txId);
      if (txn === undefined) return { answer: err('ENOENT'), events: [] };
      return { answer: txn.exec(req), events: [] };
    }
    const changes: Change[] = [];
    const answer = execData(this.live, req, { ...NO_EFFECTS, changed: (ch) => changes.push(ch) });
    return { answer, events: this.eventsFor(changes) };
  }

  start(c: number, txId: number): Answer {
    const mc = this.conn(c);
    if (txId !== 0) return err('EBUSY');
    if (mc.open.size >= MAX_TRANSACTIONS) return err('ENOSPC');
    let id = mc.nextTxId;
    while (mc.open.has(id)) id++;
    mc.nextTxId = id + 1;
    mc.open.set(id, new MTxn(id, () => this.live));
    return ok(Op.TRANSACTION_START, Buffer.from(`${id}\0`, 'latin1'));
  }

  /**
   * TRANSACTION_END. Abort and errors are answered here; a commit request
   * closes the transaction and hands it back for the caller to decide (with
   * `conflicts`, `replay`, `commitWrites`, `commitReplayed`).
   */
  end(c: number, txId: number, commit: boolean): EndOutcome {
    const mc = this.conn(c);
    const txn = txId === 0 ? undefined : mc.open.get(txId);
    if (txn === undefined) return { kind: 'answer', answer: err('ENOENT') };
    mc.open.delete(txId);
    mc.ended.push(txId);
    if (!commit) return { kind: 'answer', answer: ok(Op.TRANSACTION_END) };
    return { kind: 'commit', txn };
  }

  /**
   * Commit by the naive rule: copy the transaction's writes into the live
   * map. `announced`: the same writes as they land on the live map (a
   * replay's changes), so that a removal announces what it removes there,
   * once (C xenstored's rule), not what the transaction's snapshot held.
   */
  commitWrites(txn: MTxn, announced: readonly Change[]): Event[] {
    txn.applyTo(this.live);
    return this.eventsFor(announced);
  }

  /** Commit by replay: the live map becomes the replayed one; its changes were made on the live map. */
  commitReplayed(tree: Tree, changes: readonly Change[]): Event[] {
    this.live = tree;
    return this.eventsFor(changes);
  }

  watch(c: number, raw: string, token: string): { answer: Answer; events: Event[] } {
    const abs = resolve(raw);
    if (abs === undefined) return { answer: err('EINVAL'), events: [] };
    const mc = this.conn(c);
    const key = `${abs}\0${token}`;
    if (mc.watches.has(key)) return { answer: err('EEXIST'), events: [] };
    mc.watches.set(key, { path: raw, abs, token });
    return { answer: ok(Op.WATCH), events: [{ conn: c, path: raw, token }] };
  }

  unwatch(c: number, raw: string, token: string): Answer {
    const abs = resolve(raw);
    if (abs === undefined) return err('ENOENT'); // no watch can have it: both of Xen's daemons answer ENOENT
    const mc = this.conn(c);
    if (!mc.watches.delete(`${abs}\0${token}`)) return err('ENOENT');
    return ok(Op.UNWATCH);
  }

  /**
   * Watch events for changes: a watch on the changed path or above it hears
   * the changed path (relative to the home if the watch was relative); for a
   * removal, a watch below it hears its own path as registered, if its node
   * existed (C xenstored's rule).
   */
  eventsFor(changes: readonly Change[]): Event[] {
    const out: Event[] = [];
    for (const ch of changes) {
      this.conns.forEach((mc, conn) => {
        for (const w of mc.watches.values()) {
          const relative = !w.path.startsWith('/');
          if (isAtOrBelow(ch.path, w.abs)) out.push({ conn, path: relative ? relativeToHome(ch.path) : ch.path, token: w.token });
          else if (ch.removed && isAtOrBelow(w.abs, ch.path) && (ch.existed === undefined || ch.existed.has(w.abs))) out.push({ conn, path: w.path, token: w.token });
        }
      });
    }
    return out;
  }
}
