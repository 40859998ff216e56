/**
 * The daemon's core, independent of any transport: connections feed it bytes,
 * it decodes, dispatches, answers, announces changes to watchers, and batches
 * each connection's output into one write per turn. Output is bounded: a
 * connection whose peer does not read stops being read (replies cannot pile
 * up), and one whose backlog still grows past the hard bound (watch events it
 * does not read) is dropped.
 */
import type { Frame } from '../protocol/decoder.js';
import { FrameTooLongError } from '../protocol/decoder.js';
import { errorPayload, XsError } from '../protocol/errno.js';
import { Op, opName } from '../protocol/op.js';
import { PAYLOAD_MAX } from '../protocol/limits.js';
import { checkTree, compareCounts } from '../store/check.js';
import { emptyRoot, type Node } from '../store/node.js';
import { applyChanges, diffTreesWithin, type NodeChange } from '../store/diff.js';
import type { DurableLog } from './durable.js';
import { changeScope } from '../store/cost.js';
import { History, type CommitInfo } from '../store/history.js';
import * as ops from '../store/ops.js';
import { relativeTo, resolvePath } from '../store/path.js';
import { canRead, DEFAULT_PERMS, type Caller, type Perms } from '../store/perms.js';
import { purgeDomain } from '../store/purge.js';
import type { Change, Limits, OpContext, TreeState } from '../store/state.js';
import { Store } from '../store/store.js';
import { commit, type ConflictMode } from '../txn/merge.js';
import { Transaction } from '../txn/transaction.js';
import { WatchIndex } from '../watch/watch-index.js';
import { defaultSettings, quotaName, type QuotaName, type Settings } from './config.js';
import { dumpState, type RestoredState } from '../state/snapshot.js';
import { DOMID_INVALID, encodeStream, type Record as StateRecord } from '../state/stream.js';
import type { DomainBackend } from './backend.js';
import { Connection, type ConnWatch, type Sink } from './connection.js';
import { lookupOp } from './dispatch.js';
import { Domains } from './domains.js';
import { Logger } from './log.js';
import { RingConnection } from './ring-connection.js';
import { ConflictCredit } from './fairness.js';
import type { Request } from './request.js';

export interface DaemonOptions {
  readonly settings?: Partial<Settings>;
  readonly conflict?: ConflictMode;
  /** Keep the nodes of released domains (the C daemon's -K; a security risk). */
  readonly keepOrphans?: boolean;
  /** Make every commit durable in this log before acknowledging it. */
  readonly durable?: DurableLog;
  readonly logger?: Logger;
}

export interface Stats {
  requests: number;
  commits: { 'read-only': number; swap: number; coalesce: number; replay: number };
  conflicts: number;
  droppedConnections: number;
}

const SYSTEM: Caller = { domid: 0, privileged: true, target: undefined };

export class Daemon {
  readonly store = new Store(emptyRoot());
  readonly watches = new WatchIndex<ConnWatch>();
  readonly domains = new Domains();
  readonly conns = new Set<Connection>();
  readonly settings: Settings;
  readonly conflict: ConflictMode;
  readonly keepOrphans: boolean;
  readonly logger: Logger;
  readonly stats: Stats = { requests: 0, commits: { 'read-only': 0, swap: 0, coalesce: 0, replay: 0 }, conflicts: 0, droppedConnections: 0 };
  /** CONTROL log on|off: one log line per request. */
  requestLog = false;
  /** A live update is handing everything over: guests' kicks are ignored meanwhile. */
  frozen = false;
  /** CONTROL live-update, when the daemon runs from the command line (see live-update.ts). */
  liveUpdate: { control(r: Request, args: string[]): string } | undefined;
  private readonly specialPerms = new Map<string, Perms>();
  private readonly dirty = new Set<Connection>();
  private readonly afterReply: Array<() => void> = [];
  /** Retained committed revisions (Irmin-style history). */
  history: History;
  private nextConnId = 1;
  private flushScheduled = false;
  private readonly durable: DurableLog | undefined;
  /** The root before the first unsynced commit of this turn (durable mode), to undo on a failed sync. */
  private turnStart: { root: Node; rev: number } | undefined;
  private backend: DomainBackend | undefined;
  /** Durable mode: the ring sessions (attached domains, their watches) changed since DIR/rings was written. */
  private sessionsDirty = false;
  private readonly credit: ConflictCredit;
  private readonly rings = new Map<number, RingConnection>();
  /** Requests from unprivileged connections still allowed in this turn ('turn-guest-requests'). */
  private guestBudget: number;
  /** Unprivileged connections paused because the turn's budget ran out, oldest first. */
  private readonly deferred = new Set<Connection>();

  constructor(opts: DaemonOptions = {}) {
    this.settings = { ...defaultSettings(), ...opts.settings };
    this.conflict = opts.conflict ?? 'coalesce';
    this.keepOrphans = opts.keepOrphans ?? false;
    this.logger = opts.logger ?? new Logger();
    this.durable = opts.durable;
    this.credit = new ConflictCredit(() => this.settings['conflict-burst'], () => this.settings['conflict-rate'], () => Date.now());
    const ctx = this.systemContext(this.store);
    for (const p of ['/local', '/tool/xenstored']) ops.mkdir(ctx, resolvePath(p, 0));
    this.store.takeChanges();
    this.history = new History(this.settings.history, this.store.root, Date.now(), this.settings['history-bytes']);
    this.guestBudget = this.turnBudget();
  }

  // ---- connections -------------------------------------------------------

  /** Lets INTRODUCE map rings through `backend` (the simulated or the real Xen). */
  async attachBackend(backend: DomainBackend): Promise<void> {
    this.backend = backend;
    await backend.start({
      onNotify: (domid) => this.rings.get(domid)?.kick(),
      onDomainDeath: (domid) => {
        if (!this.domains.isIntroduced(domid)) return;
        const before = this.store.root;
        this.releaseDomain(domid);
        if (this.store.root !== before) this.committed(before, { time: Date.now(), domid, conn: 0, txId: 0, op: `death of domain ${domid}` });
        this.scheduleFlush();
      },
      onDomainShutdown: (domid) => this.domainShutdown(domid),
    });
  }

  /**
   * Attaches the ring of the domain the daemon runs in (dom0's kernel xenbus),
   * if the backend has one and it is not attached yet (a restore or a live
   * update may already have brought it back with its watches).
   */
  attachLocalDomain(): void {
    const local = this.backend?.localDomain?.();
    if (local === undefined || this.rings.has(local.domid)) return;
    this.introduceDomain(local.domid, local.gfn, local.port);
    this.logger.info(`domain ${local.domid}'s own ring attached (event channel ${local.port})`);
  }

  /** Where the backend says `domid`'s ring is (the simulated Xen's descriptor), if it can tell. */
  locateRing(domid: number): { gfn: bigint; port: number } | undefined {
    return this.backend?.locate?.(domid);
  }

  /** Asks the backend to report domains that died or shut down (e.g. while no daemon ran). */
  recheckDomains(): void {
    this.backend?.checkDomains?.();
  }

  /** Whether `conn` is a domain's ring connection (not a socket). */
  isRing(conn: Connection): boolean {
    return this.rings.get(conn.caller.domid)?.connection === conn;
  }

  /** The domain shut down or crashed but still exists: @releaseDomain once (RESUME re-arms). */
  domainShutdown(domid: number): void {
    const dom = this.domains.get(domid);
    if (dom === undefined || !dom.introduced || dom.shutdown) return;
    dom.shutdown = true;
    this.logger.info(`domain ${domid} shut down`);
    this.announceSpecial('@releaseDomain');
    this.scheduleFlush();
  }

  /** Stops talking to guests without touching their rings (shutdown, not death). */
  async closeBackend(): Promise<void> {
    for (const r of this.rings.values()) r.detach();
    this.rings.clear();
    await this.backend?.close();
    this.backend = undefined;
  }

  connect(domid: number, privileged: boolean, sink: Sink): Connection {
    const conn = new Connection(this.nextConnId++, domid, privileged, sink);
    const target = this.domains.get(domid)?.target;
    if (target !== undefined) conn.caller = { ...conn.caller, target };
    this.conns.add(conn);
    this.logger.debug(`${conn.label} connected`);
    return conn;
  }

  /** Bytes arrived for `conn`. */
  receive(conn: Connection, chunk: Buffer): void {
    if (conn.closed) return;
    conn.decoder.feed(chunk);
    this.drain(conn);
    this.scheduleFlush();
  }

  /** The transport of `conn` delivered its backlog: read again if we stopped. */
  writable(conn: Connection): void {
    // Frozen (live-update handover): stay paused; resumeAll() looks again if the update is abandoned.
    if (conn.closed || !conn.throttled || this.frozen) return;
    if (conn.queuedBytes > this.settings['connection-soft-bytes'] / 2) return;
    const wait = conn.caller.privileged ? 0 : this.credit.waitMs(conn.caller.domid);
    if (wait > 0) return void setTimeout(() => this.writable(conn), wait).unref();
    if (!conn.caller.privileged && conn.queuedFrames >= this.quota(conn.caller.domid, 'outstanding')) return;
    conn.throttled = false;
    conn.sink.resume();
    this.drain(conn);
    this.scheduleFlush();
  }

  /**
   * Output leaves once per event-loop turn: every connection that became
   * readable in this turn has been processed by then, so one fsync (durable
   * mode) and one write per connection cover them all.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  disconnect(conn: Connection, reason?: string): void {
    if (conn.closed) return;
    if (reason !== undefined) this.logger.warn(`${conn.label}: ${reason}`);
    this.dropWatches(conn);
    conn.transactions.clear();
    conn.flush();
    conn.closed = true;
    this.conns.delete(conn);
    this.dirty.delete(conn);
    this.deferred.delete(conn);
    conn.sink.close();
  }

  dropWatches(conn: Connection): void {
    if (conn.watches.size > 0) this.sessionsDirty = true;
    for (const w of conn.watches.values()) this.watches.remove(w);
    conn.watches.clear();
  }

  private drain(conn: Connection): void {
    // During a live-update handover nothing more is processed: bytes already
    // read stay in the decoder and go to the next daemon with the state.
    if (this.frozen) return;
    const soft = this.settings['connection-soft-bytes'];
    const wait = conn.caller.privileged ? 0 : this.credit.waitMs(conn.caller.domid);
    if (wait > 0 && !conn.throttled && conn.decoder.buffered > 0) {
      // Out of conflict credit: come back when some has been regained.
      conn.throttled = true;
      conn.sink.pause();
      setTimeout(() => this.writable(conn), wait).unref();
      return;
    }
    const guest = !conn.caller.privileged;
    while (!conn.closed && !conn.throttled) {
      if (guest && this.guestBudget <= 0) {
        if (conn.decoder.buffered > 0) this.defer(conn);
        return;
      }
      let frame: Frame | undefined;
      try {
        frame = conn.decoder.next();
      } catch (e) {
        if (e instanceof FrameTooLongError) return this.disconnect(conn, e.message);
        throw e;
      }
      if (frame === undefined) return;
      if (guest) this.guestBudget--;
      this.process(conn, frame);
      if (conn.queuedBytes > soft || (!conn.caller.privileged && conn.queuedFrames >= this.quota(conn.caller.domid, 'outstanding'))) {
        conn.throttled = true;
        conn.sink.pause();
      }
    }
  }

  /**
   * The turn's budget for unprivileged requests ran out: stop reading `conn`
   * until the next turn. However many guests are busy, one event-loop turn
   * serves a bounded number of their requests, so the control domain's
   * connections (never deferred) wait at most that long for theirs.
   */
  private defer(conn: Connection): void {
    conn.throttled = true;
    conn.sink.pause();
    this.deferred.add(conn);
    this.scheduleFlush();
  }

  /** Guest requests one turn may serve ('turn-guest-requests'; 0: no limit). */
  private turnBudget(): number {
    const n = this.settings['turn-guest-requests'];
    return n === 0 ? Number.POSITIVE_INFINITY : n;
  }

  /** A new turn: the deferred connections are served first, in the order they were deferred. */
  private newTurn(): void {
    this.guestBudget = this.turnBudget();
    if (this.deferred.size === 0 || this.frozen) return;
    const waiting = [...this.deferred];
    this.deferred.clear();
    for (const c of waiting) this.writable(c);
  }

  /** After a live update was abandoned: serve what every connection sent meanwhile. */
  resumeAll(): void {
    for (const c of [...this.conns]) {
      if (c.closed) continue;
      if (c.throttled) this.writable(c);
      else this.drain(c);
    }
    this.scheduleFlush();
  }

  /** Marks a connection as having output for the next flush. */
  markDirty(conn: Connection): void {
    this.dirty.add(conn);
  }

  /** Sends every connection's batched output; drops those past the hard bound. */
  flush(): void {
    this.newTurn();
    if (!this.syncDurable()) return;
    for (const c of this.dirty) {
      c.flush();
      const hard = c.caller.privileged ? this.settings['connection-hard-bytes'] : this.settings['domain-output-bytes'];
      if (c.queuedBytes > hard) {
        this.stats.droppedConnections++;
        this.disconnect(c, `dropped: ${c.queuedBytes} bytes of output not read by the peer`);
      } else if (c.throttled) {
        // The transport may have taken everything at once and will then never
        // say 'drain': look again on the next turn.
        setImmediate(() => this.writable(c));
      }
    }
    this.dirty.clear();
  }

  /**
   * Durable mode: makes this turn's commits durable before anything is sent.
   * If the disk refuses, the turn is undone: the store goes back to where it
   * was, and every connection that would have been told anything about it is
   * closed unanswered, so no client ever sees a commit that is not on disk.
   */
  private syncDurable(): boolean {
    const log = this.durable;
    if (log === undefined) return true;
    if (this.sessionsDirty) {
      this.sessionsDirty = false;
      try {
        log.saveSessions(this.sessionRecords());
      } catch (e) {
        this.sessionsDirty = true;
        this.logger.error(`durable ring sessions: ${(e as Error).message} (retried at the next turn)`);
      }
    }
    if (this.turnStart === undefined) return true;
    const before = this.turnStart;
    this.turnStart = undefined;
    try {
      log.sync();
    } catch (e) {
      this.logger.error(`durable log: ${(e as Error).message}; undoing this turn's commits`);
      this.store.reset(before.root, checkTree(before.root).counts);
      this.history.rollback(before.rev, before.root, Date.now());
      for (const c of [...this.dirty]) {
        c.out.clear(); // not one answer of this turn may leave
        this.disconnect(c, 'the commit could not be made durable; nothing was acknowledged');
      }
      this.dirty.clear();
      return false;
    }
    try {
      log.maybeSnapshot(this.store.root);
    } catch (e) {
      this.logger.error(`durable snapshot: ${(e as Error).message} (the log keeps growing until one succeeds)`);
    }
    return true;
  }

  /** Called whenever the live root changed from `before`: durability and history. */
  private committed(before: Node, info: CommitInfo, within?: readonly string[]): void {
    const rev = this.history.head;
    if (this.settings.history > 0) this.history.record(info, this.store.root, before, within);
    if (this.durable === undefined) return;
    this.turnStart ??= { root: before, rev };
    this.durable.append(diffTreesWithin(before, this.store.root, within ?? []));
  }

  private commitInfo(conn: Connection, frame: Frame, txn: Transaction | undefined): CommitInfo {
    const nul = frame.payload.indexOf(0);
    const arg = frame.payload.toString('latin1', 0, Math.min(nul < 0 ? frame.payload.length : nul, 256));
    const op = frame.type === Op.TRANSACTION_END ? `transaction ${frame.txId}` : `${opName(frame.type)} ${arg}`;
    return { time: Date.now(), domid: conn.caller.domid, conn: conn.id, txId: frame.txId, op, baseRev: txn?.startRev };
  }

  // ---- requests ------------------------------------------------------------

  private process(conn: Connection, frame: Frame): void {
    this.stats.requests++;
    this.dirty.add(conn);
    const before = this.store.root;
    const { type, reqId, txId } = frame;
    if (this.requestLog) this.logger.info(`${conn.label} ${opName(type)} tx=${txId} ${frame.payload.toString('latin1').replace(/\0/g, ' ').slice(0, 200)}`);
    const spec = lookupOp(type);
    let txn: Transaction | undefined;
    try {
      if (spec === undefined) throw new XsError('ENOSYS', `unknown message type ${type}`);
      if (spec.priv && !conn.caller.privileged) throw new XsError('EACCES', `${opName(type)} is for dom0 only`);
      if (txId !== 0 && spec.tx !== 'ignore') {
        txn = conn.transactions.get(txId);
        if (txn === undefined) throw new XsError('ENOENT', `no transaction ${txId}`);
      }
      const payload = spec.handler(this.request(conn, frame, spec.tx === 'data' || spec.tx === 'end' ? txn : undefined));
      conn.reply(type, reqId, txId, payload);
      if (txn !== undefined && spec.tx === 'data') txn.record({ type, payload: Buffer.from(frame.payload), replyType: type, reply: Buffer.from(payload) });
    } catch (e) {
      const errno = this.errnoOf(e, conn, type);
      conn.reply(Op.ERROR, reqId, txId, errorPayload(errno));
      if (txn !== undefined && spec?.tx === 'data') txn.record({ type, payload: Buffer.from(frame.payload), replyType: Op.ERROR, reply: errorPayload(errno) });
    }
    const changes = this.store.takeChanges();
    if (this.store.root !== before) {
      // Where this request's changes lie: a transaction's lowest path, or the paths it changed.
      const within = type === Op.TRANSACTION_END ? (txn?.low ?? []) : changeScope(changes);
      this.committed(before, this.commitInfo(conn, frame, txn), within);
    }
    this.announce(changes);
    for (const f of this.afterReply) f();
    this.afterReply.length = 0;
  }

  private errnoOf(e: unknown, conn: Connection, type: number): XsError['errno'] {
    if (e instanceof XsError) return e.errno;
    // A bug, not a client error: say so loudly, keep serving everyone else.
    this.logger.error(`internal error in ${opName(type)} from ${conn.label}: ${e instanceof Error ? e.stack : String(e)}`);
    return 'EIO';
  }

  private request(conn: Connection, frame: Frame, txn: Transaction | undefined): Request {
    return { daemon: this, conn, frame, txn, ctx: this.context(conn, txn ?? this.store), afterReply: this.afterReply };
  }

  private context(conn: Connection, state: TreeState): OpContext {
    return { state, caller: conn.caller, limits: conn.caller.privileged ? undefined : this.limits(conn.caller.domid), home: conn.home };
  }

  private systemContext(state: TreeState): OpContext {
    return { state, caller: SYSTEM, limits: undefined, home: '/local/domain/0' };
  }

  /** A quota's value for a domain: its own override, else the global setting. */
  quota(domid: number, name: QuotaName): number {
    return this.domains.get(domid)?.quotas.get(name) ?? this.settings[name];
  }

  private limits(domid: number): Limits {
    return {
      nodes: this.quota(domid, 'nodes'),
      nodeSize: this.quota(domid, 'node-size'),
      nodePerms: this.quota(domid, 'permissions'),
      pathMax: this.quota(domid, 'path-max'),
    };
  }

  // ---- transactions --------------------------------------------------------

  newTransaction(conn: Connection): Transaction {
    const t = new Transaction(conn.allocTxId(), this.store, {
      maxNodes: conn.caller.privileged ? undefined : this.quota(conn.caller.domid, 'transaction-nodes'),
      maxLogEntries: this.settings['transaction-log-entries'],
      maxLogBytes: this.settings['transaction-log-bytes'],
    });
    t.startRev = this.history.head;
    return t;
  }

  /** Commits `txn`; on success its changes are announced. False means EAGAIN. */
  commit(conn: Connection, txn: Transaction): boolean {
    // Quotas were checked against the store as the transaction saw it; other
    // commits since may have used the room (XSA-326): check again now.
    if (!conn.caller.privileged) {
      for (const [domid, d] of txn.delta) {
        if (d > 0 && domid !== 0 && this.store.usage(domid) + d > this.quota(domid, 'nodes')) throw new XsError('ENOSPC', `committing would put domain ${domid} over its node quota`);
      }
    }
    const out = commit(this.store, txn, this.conflict, (t) => this.replay(conn, t));
    if (!out.ok) {
      this.stats.conflicts++;
      this.blame(conn, txn);
      return false;
    }
    this.stats.commits[out.how]++;
    this.announce(out.changes);
    return true;
  }

  /** Names, in the log, the commit a failed transaction conflicted with (oxenstored's conflict credit idea). */
  private blame(conn: Connection, txn: Transaction): void {
    const low = txn.low ?? [];
    const r = this.history.firstChangeAfter(txn.startRev, low);
    if (r !== undefined && r.domid !== conn.caller.domid) this.credit.charge(r.domid);
    const level = this.requestLog ? 'info' : 'debug';
    if (!this.logger.enabled(level)) return;
    const who = r === undefined ? 'a commit no longer in the history' : `r${r.rev} (${r.op} by dom${r.domid} conn ${r.conn})`;
    this.logger.log(level, `${conn.label} transaction ${txn.id}: EAGAIN; /${low.join('/')} was changed by ${who}`);
  }

  /** Re-runs a transaction's requests on the live store; the new transaction if every answer matched. */
  private replay(conn: Connection, old: Transaction): Transaction | undefined {
    const t = new Transaction(old.id, this.store, { maxNodes: undefined, maxLogEntries: 0, maxLogBytes: 0 });
    for (const rec of old.log) {
      const spec = lookupOp(rec.type);
      if (spec === undefined) return undefined;
      const frame: Frame = { type: rec.type, reqId: 0, txId: old.id, payload: rec.payload };
      let replyType: number = rec.type;
      let reply: Uint8Array;
      try {
        reply = spec.handler(this.request(conn, frame, t));
      } catch (e) {
        if (!(e instanceof XsError)) return undefined;
        replyType = Op.ERROR;
        reply = errorPayload(e.errno);
      }
      if (replyType !== rec.replyType || Buffer.compare(reply, rec.reply) !== 0) return undefined;
    }
    return t;
  }

  // ---- watches -------------------------------------------------------------

  /** Registers a watch (checks done by the caller). Returns false if it exists already. */
  addWatch(conn: Connection, key: string, w: Omit<ConnWatch, 'owner'>): ConnWatch | undefined {
    if (conn.watches.has(key)) return undefined;
    const entry: ConnWatch = { ...w, owner: conn };
    conn.watches.set(key, entry);
    this.watches.add(entry);
    this.sessionsDirty = true;
    return entry;
  }

  removeWatch(conn: Connection, key: string, entry: ConnWatch): void {
    if (conn.watches.get(key) !== entry) return;
    conn.watches.delete(key);
    this.watches.remove(entry);
    this.sessionsDirty = true;
  }

  /** The connection of a guest's ring, if it has one. */
  ringConnection(domid: number): Connection | undefined {
    return this.rings.get(domid)?.connection;
  }

  /** All ring connections, for a live update. */
  ringConnections(): ReadonlyMap<number, RingConnection> {
    return this.rings;
  }

  /**
   * Re-creates an open transaction carried over a live update: it sees the
   * store plus its own pending changes, and can still read and write, but is
   * doomed to EAGAIN if it commits a write (its starting snapshot is gone).
   */
  adoptTransaction(conn: Connection, txId: number, pending: readonly NodeChange[]): void {
    const t = new Transaction(txId, this.store, {
      maxNodes: conn.caller.privileged ? undefined : this.quota(conn.caller.domid, 'transaction-nodes'),
      maxLogEntries: 0,
      maxLogBytes: 0,
    });
    let gen = this.store.generation;
    t.root = applyChanges(t.root, pending, () => ++gen);
    t.doomed = true;
    t.replayable = false;
    conn.transactions.set(txId, t);
    conn.skipTxId(txId);
  }

  /** Sends watch events for changes, to watchers allowed to read the node. */
  announce(changes: readonly Change[]): void {
    for (const c of changes) {
      const abs = c.path.abs;
      this.watches.match(c.path.comps, c.removed, (w, below) => {
        const conn = w.owner;
        if (conn.closed || !canRead(c.perms, conn.caller)) return;
        this.queueEvent(conn, below ? w.path : w.relative ? relativeTo(abs, conn.home) : abs, w.token);
      });
    }
  }

  /**
   * Queues one event, within bounds: an event that would exceed the payload
   * limit is dropped (as the C daemon does), and a connection whose backlog is
   * already past its hard bound gets no more (it is dropped at the next flush).
   */
  private queueEvent(conn: Connection, path: string, token: string): void {
    if (Buffer.byteLength(path, 'latin1') + Buffer.byteLength(token, 'latin1') + 2 > PAYLOAD_MAX) return;
    const hard = conn.caller.privileged ? this.settings['connection-hard-bytes'] : this.settings['domain-output-bytes'];
    this.dirty.add(conn);
    if (conn.queuedBytes > hard) return;
    conn.event(path, token);
  }

  /** Fires a special watch (@introduceDomain, @releaseDomain) for those allowed. */
  announceSpecial(name: string): void {
    const perms = this.specialPermsOf(name);
    for (const w of this.watches.matchSpecial(name)) {
      const conn = w.owner;
      if (conn.closed || !canRead(perms, conn.caller)) continue;
      this.queueEvent(conn, w.path, w.token);
    }
  }

  specialPermsOf(name: string): Perms {
    return this.specialPerms.get(name) ?? DEFAULT_PERMS;
  }

  setSpecialPerms(name: string, perms: Perms): void {
    this.specialPerms.set(name, perms);
  }

  // ---- domains -------------------------------------------------------------

  introduceDomain(domid: number, mfn: bigint, port: number): void {
    const dom = this.domains.ensure(domid);
    if (dom.introduced && dom.mfn === mfn && dom.port === port) return;
    const fresh = !dom.introduced;
    // A re-introduction with new coordinates (e.g. after resume) rebinds the ring.
    this.rings.get(domid)?.detach();
    this.rings.delete(domid);
    if (this.backend !== undefined) {
      let link;
      try {
        link = this.backend.attach(domid, mfn, port);
      } catch (e) {
        this.logger.warn(`INTRODUCE ${domid}: cannot map its ring (gfn ${mfn}, port ${port}): ${(e as Error).message}`);
        throw new XsError('EINVAL', `cannot map the ring of domain ${domid}: ${(e as Error).message}`);
      }
      const ring = new RingConnection(this, domid, link);
      this.rings.set(domid, ring);
      queueMicrotask(() => ring.kick()); // the guest may have written before we bound
    }
    dom.introduced = true;
    dom.mfn = mfn;
    dom.port = port;
    this.sessionsDirty = true;
    if (!fresh) return;
    this.logger.info(`domain ${domid} introduced (mfn ${mfn}, port ${port})`);
    this.announceSpecial('@introduceDomain');
  }

  /** RELEASE or domain death: drop its connections, its nodes and every trace of its id. */
  releaseDomain(domid: number): void {
    this.sessionsDirty = true;
    this.rings.get(domid)?.detach();
    this.rings.delete(domid);
    for (const c of [...this.conns]) {
      if (c.caller.domid === domid && !c.caller.privileged) this.disconnect(c, `domain ${domid} released`);
      else if (c.caller.target === domid) c.caller = { ...c.caller, target: undefined };
    }
    purgeDomain(this.store, domid, this.keepOrphans);
    for (const [name, perms] of this.specialPerms) {
      if (perms.some((p) => p.domid === domid)) this.specialPerms.set(name, DEFAULT_PERMS);
    }
    this.domains.forget(domid);
    // Nobody acts for a domain that is gone (nor for a later one with its id).
    for (const d of this.domains.all()) if (d.target === domid) d.target = undefined;
    this.credit.forget(domid);
    this.logger.info(`domain ${domid} released`);
    this.announce(this.store.takeChanges());
    this.announceSpecial('@releaseDomain');
  }

  setTarget(domid: number, target: number): void {
    this.sessionsDirty = true;
    this.domains.ensure(domid).target = target;
    for (const c of this.conns) {
      if (c.caller.domid === domid && !c.caller.privileged) c.caller = { ...c.caller, target };
    }
  }

  // ---- state stream ----------------------------------------------------------

  /**
   * The ring sessions as state records (durable mode's DIR/rings): settings,
   * domains, each ring connection and its watches; no nodes, no transactions.
   */
  sessionRecords(): StateRecord[] {
    const out: StateRecord[] = [];
    const rings = new Set<number>();
    const all = dumpState(
      { root: this.store.root, settings: this.settings, domains: this.domains, conns: this.conns },
      { ringPort: (domid) => this.domains.get(domid)?.port, isRing: (c) => this.isRing(c) },
    );
    for (const r of all) {
      if (r.type === 'node' && r.connId === 0) break; // the tree: in the log and snapshot
      if (r.type === 'connection') {
        if (r.spec.kind !== 'ring') continue;
        rings.add(r.connId);
      } else if (r.type === 'watch' || r.type === 'transaction' || r.type === 'node') {
        if (r.type !== 'watch' || !rings.has(r.connId)) continue;
      }
      out.push(r);
    }
    return out;
  }

  /** The whole state as a migration stream (no file descriptors: a cold dump). */
  dumpStream(): Buffer {
    return encodeStream(
      dumpState(
        { root: this.store.root, settings: this.settings, domains: this.domains, conns: this.conns },
        { ringPort: (domid) => this.domains.get(domid)?.port, isRing: (c) => this.isRing(c) },
      ),
    );
  }

  /** Starts from `root` (recovered or restored, before serving anyone): the history starts there too. */
  load(root: Node, counts: ReadonlyMap<number, number>): void {
    this.store.reset(root, counts);
    this.history = new History(this.settings.history, root, Date.now(), this.settings['history-bytes']);
  }

  /**
   * Starts from a restored state (before serving anyone): the store, quotas,
   * domain features and quota overrides; domains that had a ring connection are
   * re-attached if the backend can locate their ring. Socket connections, their
   * watches and transactions cannot survive a cold restart and are dropped.
   */
  restore(s: RestoredState): void {
    if (this.conns.size > 0) throw new Error('restore: the daemon already has connections');
    this.load(s.root, s.counts);
    Object.assign(this.settings, s.settings);
    for (const d of s.domains) {
      const dom = this.domains.ensure(d.domid);
      dom.features = d.features;
      for (const [raw, v] of d.quotas) {
        const name = quotaName(raw);
        if (name !== undefined) dom.quotas.set(name, v);
      }
    }
    for (const c of s.connections) {
      if (c.spec.kind !== 'ring') continue;
      const where = this.backend?.locate?.(c.spec.domid);
      if (where === undefined) {
        this.logger.warn(`restore: cannot locate the ring of domain ${c.spec.domid}; it must be introduced again`);
        continue;
      }
      this.introduceDomain(c.spec.domid, where.gfn, where.port);
      if (c.spec.tdomid !== DOMID_INVALID) this.setTarget(c.spec.domid, c.spec.tdomid);
    }
    this.store.takeChanges();
  }

  // ---- introspection -------------------------------------------------------

  /** Invariant check: tree well-formed, node counts match a recount, watch index matches connections, history bytes match a recount. */
  check(): string[] {
    const report = checkTree(this.store.root);
    const problems = [...report.problems, ...compareCounts(report.counts, this.store.usageTable())];
    let watches = 0;
    for (const c of this.conns) watches += c.watches.size;
    if (watches !== this.watches.size) problems.push(`watch index holds ${this.watches.size} watches, connections ${watches}`);
    const held = this.history.recountHeldBytes();
    if (held !== this.history.heldBytes) problems.push(`history accounts ${this.history.heldBytes} bytes held by old revisions, a recount finds ${held}`);
    return problems;
  }
}
