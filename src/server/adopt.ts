/**
 * Live update, the new daemon's side: rebuild everything from the state
 * stream the previous daemon wrote, on the file descriptors it handed over
 * (see live-update.ts): the listening socket, each client connection with its
 * watches, open transactions (doomed to EAGAIN if they commit a write) and
 * pending bytes in both directions, and each guest's ring and event channel.
 */
import type { NodeChange } from '../store/diff.js';
import type { Perms } from '../store/perms.js';
import { restoreState, type RestoredState } from '../state/snapshot.js';
import { DOMID_INVALID, type Record } from '../state/stream.js';
import type { SimHandover } from './backend.js';
import type { Connection } from './connection.js';
import type { Daemon } from './daemon.js';
import { watchSpec } from './handlers/watch.js';
import type { SimSidecar } from './live-update.js';
import type { UnixTransport } from './transport-unix.js';

/** The ring connections of a restored state, by their connection id in the stream. */
export function ringConnections(daemon: Daemon, s: RestoredState): Map<number, Connection> {
  const conns = new Map<number, Connection>();
  for (const c of s.connections) {
    if (c.spec.kind !== 'ring') continue;
    const conn = daemon.lifecycle.ringConnection(c.spec.domid);
    if (conn !== undefined) conns.set(c.connId, conn);
  }
  return conns;
}

/** Gives the connections in `conns` back their watches. */
function adoptWatches(daemon: Daemon, watches: Iterable<Extract<Record, { type: 'watch' }>>, conns: ReadonlyMap<number, Connection>): void {
  for (const w of watches) {
    const conn = conns.get(w.connId);
    if (conn === undefined) continue;
    const spec = watchSpec(w.path, w.token, conn.caller.domid);
    daemon.addWatch(conn, spec.key, { path: w.path, token: w.token, comps: spec.comps, depth: w.depth, relative: spec.comps !== undefined && !w.path.startsWith('/') });
  }
}

/** Gives the connections in `conns` back their watches and (doomed) open transactions. */
export function adoptClients(daemon: Daemon, s: RestoredState, records: readonly Record[], conns: ReadonlyMap<number, Connection>): void {
  adoptWatches(daemon, s.watches, conns);
  const pending = new Map<string, NodeChange[]>();
  for (const r of records) {
    if (r.type !== 'node' || r.connId === 0) continue;
    const key = `${r.connId}/${r.txId}`;
    const list = pending.get(key) ?? [];
    list.push(r.perms.length === 0 ? { kind: 'delete', path: r.path } : { kind: 'set', path: r.path, value: r.value, perms: r.perms as Perms });
    pending.set(key, list);
  }
  for (const t of s.transactions) {
    const conn = conns.get(t.connId);
    if (conn !== undefined) daemon.adoptTransaction(conn, t.txId, pending.get(`${t.connId}/${t.txId}`) ?? []);
  }
}

export async function adoptLiveState(daemon: Daemon, transport: UnixTransport, sim: SimHandover | undefined, records: readonly Record[], sidecar: SimSidecar): Promise<void> {
  const s = restoreState(records);
  daemon.restore(s);
  for (const b of sidecar.bound) sim?.adoptBound(b.domid, b.port, b.fd);
  const conns = ringConnections(daemon, s);
  for (const c of s.connections) {
    if (c.spec.kind === 'socket' && c.spec.fd >= 0) conns.set(c.connId, transport.adopt(c.spec.fd));
  }
  adoptClients(daemon, s, records, conns);
  const global = records.find((r): r is Extract<Record, { type: 'global' }> => r.type === 'global');
  await transport.listen(global !== undefined && global.rwSocketFd >= 0 ? global.rwSocketFd : undefined);
  for (const c of s.connections) {
    const conn = conns.get(c.connId);
    if (conn === undefined) continue;
    if (c.outData.length > 0) conn.sink.write(c.outData, 1);
    if (c.inData.length > 0) daemon.receive(conn, c.inData);
  }
}

/**
 * After a crash (--durable): re-attaches the rings that DIR/rings lists
 * (server/durable.ts) and gives their connections back their watches,
 * targets, features and quota overrides. Returns the domains that could not
 * be re-attached (they died meanwhile, or their ring cannot be mapped), with
 * the reason; the caller reports them.
 */
export function adoptSessions(daemon: Daemon, records: readonly Record[]): { attached: number[]; lost: Array<{ domid: number; why: string }> } {
  const conns = new Map<number, Connection>();
  const attached: number[] = [];
  const lost: Array<{ domid: number; why: string }> = [];
  daemon.domains.restoreSettings(records.filter((r): r is Extract<Record, { type: 'domain' }> => r.type === 'domain'));
  for (const r of records) {
    if (r.type !== 'connection' || r.spec.kind !== 'ring') continue;
    const { domid, evtchn, tdomid } = r.spec;
    try {
      if (domid === 0) daemon.lifecycle.attachLocalDomain();
      else daemon.introduceDomain(domid, daemon.lifecycle.locateRing(domid)?.gfn ?? 0n, evtchn);
    } catch (e) {
      lost.push({ domid, why: (e as Error).message });
      continue;
    }
    const conn = daemon.lifecycle.ringConnection(domid);
    if (conn === undefined) continue;
    conns.set(r.connId, conn);
    attached.push(domid);
    if (tdomid !== DOMID_INVALID) daemon.setTarget(domid, tdomid);
  }
  // Domains that are not there any more: forget what they left, as their death would have.
  for (const d of [...daemon.domains.all()]) if (d.domid !== 0 && !d.introduced) daemon.domains.forget(d.domid);
  adoptWatches(daemon, records.filter((r): r is Extract<Record, { type: 'watch' }> => r.type === 'watch'), conns);
  return { attached, lost };
}
