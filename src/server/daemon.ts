/**
 * The daemon's core, independent of any transport, and mostly wiring: it owns
 * the store, connections, domains and limits, and hands each concern to its
 * module through a small host interface: requests.ts (dispatch, errors),
 * flow.ts (when a connection is read; the turn budget), commits.ts (how each
 * commit is decided), durability.ts (history, the durable log), watchers.ts
 * (watch registration and delivery; firing is watch/fire.ts) and
 * domain-lifecycle.ts (backend, INTRODUCE, shutdown, RELEASE, death).
 * Handlers see it through services.ts only. Output leaves once per turn; a
 * connection whose backlog grows past the hard bound is dropped at the flush.
 */
import { checkTree, compareCounts } from '../store/check.js';
import type { NodeChange } from '../store/diff.js';
import { History } from '../store/history.js';
import { emptyRoot, type Node } from '../store/node.js';
import * as ops from '../store/ops.js';
import { resolvePath } from '../store/path.js';
import type { Caller, Perms } from '../store/perms.js';
import type { OpContext } from '../store/state.js';
import { Store } from '../store/store.js';
import type { ConflictMode } from '../txn/merge.js';
import type { Transaction } from '../txn/transaction.js';
import type { WatchIndex } from '../watch/watch-index.js';
import { dumpState, sessionRecords, type RestoredState } from '../state/snapshot.js';
import { DOMID_INVALID, encodeStream, type Record as StateRecord } from '../state/stream.js';
import type { DomainBackend } from './backend.js';
import { Commits, type CommitStats } from './commits.js';
import { defaultSettings, knownSettings, settingsByKind, type QuotaName, type Settings } from './config.js';
import { Connection, type ConnWatch, type Sink } from './connection.js';
import { lookupOp } from './dispatch.js';
import { DomainLifecycle } from './domain-lifecycle.js';
import { Domains } from './domains.js';
import type { DurableLog } from './durable.js';
import { Durability } from './durability.js';
import { ConflictCredit } from './fairness.js';
import { FlowControl } from './flow.js';
import { Logger } from './log.js';
import { IdleReclaim } from './reclaim.js';
import { Requests, type RequestObserver } from './requests.js';
import type { Request } from './request.js';
import { RingConnection } from './ring-connection.js';
import type { Services } from './services.js';
import { Watchers } from './watchers.js';

export interface DaemonOptions {
  readonly settings?: Partial<Settings>;
  readonly conflict?: ConflictMode;
  /** Keep the nodes of released domains (the C daemon's -K; a security risk). */
  readonly keepOrphans?: boolean;
  /** Make every commit durable in this log before acknowledging it. */
  readonly durable?: DurableLog;
  readonly logger?: Logger;
}

export interface Stats extends CommitStats {
  requests: number;
  droppedConnections: number;
}

const SYSTEM: Caller = { domid: 0, privileged: true, target: undefined };

export class Daemon implements Services {
  /** The watch index (its size: CONTROL memreport, the invariant check). */
  get watches(): WatchIndex<ConnWatch> {
    return this.watchers.index;
  }
  readonly store = new Store(emptyRoot());
  readonly domains = new Domains();
  readonly conns = new Set<Connection>();
  readonly settings: Settings;
  readonly conflict: ConflictMode;
  readonly keepOrphans: boolean;
  readonly logger: Logger;
  readonly stats: Stats = { requests: 0, started: 0, commits: { 'read-only': 0, swap: 0, coalesce: 0, replay: 0 }, conflicts: 0, droppedConnections: 0 };
  /** CONTROL log on|off: one log line per request. */
  requestLog = false;
  /** Metrics (--metrics-listen): told of every request and its time. */
  observer: RequestObserver | undefined;
  /** A live update is handing everything over: guests' kicks are ignored meanwhile. */
  frozen = false;
  /** CONTROL live-update, when the daemon runs from the command line (see live-update.ts). */
  liveUpdate: { control(r: Request, args: string[]): string } | undefined;
  private readonly dirty = new Set<Connection>();
  /** Retained committed revisions (Irmin-style history). */
  history: History;
  private nextConnId = 1;
  private readonly durability: Durability;
  readonly lifecycle: DomainLifecycle;
  private readonly credit: ConflictCredit;
  readonly flow: FlowControl;
  private readonly requests: Requests;
  readonly watchers: Watchers;
  private readonly commits: Commits;
  /** One full GC once idle after large deletions (reclaim.ts). */
  readonly reclaim = new IdleReclaim(this);

  constructor(opts: DaemonOptions = {}) {
    this.settings = { ...defaultSettings(), ...opts.settings };
    this.conflict = opts.conflict ?? 'coalesce';
    this.keepOrphans = opts.keepOrphans ?? false;
    this.logger = opts.logger ?? new Logger();
    this.credit = new ConflictCredit(() => this.settings['conflict-burst'], () => this.settings['conflict-rate'], () => Date.now());
    const ctx: OpContext = { state: this.store, caller: SYSTEM, limits: undefined, home: '/local/domain/0' };
    for (const p of ['/local', '/tool/xenstored']) ops.mkdir(ctx, resolvePath(p, 0));
    this.store.takeChanges();
    this.history = new History(this.settings.history, this.store.root, Date.now(), this.settings['history-bytes']);
    const daemon = this;
    this.requests = new Requests({
      services: this,
      store: this.store,
      stats: this.stats,
      logger: this.logger,
      get requestLog() {
        return daemon.requestLog;
      },
      get observer() {
        return daemon.observer;
      },
      quota: (domid, name) => this.quota(domid, name),
      markDirty: (c) => this.dirty.add(c),
      committed: (before, info, within) => this.durability.committed(before, info, within),
      announce: (changes) => this.watchers.announce(changes),
      resume: (conn) => {
        this.flow.writable(conn);
        this.flow.scheduleFlush();
      },
      refresh: (txn) => this.commits.refresh(txn),
    });
    this.watchers = new Watchers({
      settings: this.settings,
      markDirty: (c) => this.dirty.add(c),
      // Only ring connections' watches are in DIR/rings: a socket client's WATCH costs no rewrite.
      watchesChanged: (c) => c.sink instanceof RingConnection && this.durability.sessionsChanged(),
    });
    this.lifecycle = new DomainLifecycle({
      domains: this.domains,
      conns: this.conns,
      store: this.store,
      keepOrphans: this.keepOrphans,
      logger: this.logger,
      disconnect: (conn, reason) => this.disconnect(conn, reason),
      announce: (changes) => this.watchers.announce(changes),
      announceSpecial: (name) => this.watchers.announceSpecial(name),
      scheduleFlush: () => this.flow.scheduleFlush(),
      sessionsChanged: () => this.durability.sessionsChanged(),
      forgetDomain: (domid) => {
        this.watchers.forgetDomain(domid);
        this.credit.forget(domid);
      },
      committed: (before, domid, op) => this.durability.committed(before, { time: Date.now(), domid, conn: 0, txId: 0, op }),
      makeRing: (domid, link) => new RingConnection(this, domid, link),
    });
    this.durability = new Durability(opts.durable, {
      store: this.store,
      get history() {
        return daemon.history;
      },
      settings: this.settings,
      logger: this.logger,
      sessionRecords: () => this.sessionRecords(),
    });
    this.commits = new Commits({
      store: this.store,
      settings: this.settings,
      conflict: this.conflict,
      stats: this.stats,
      get history() {
        return daemon.history;
      },
      logger: this.logger,
      get requestLog() {
        return daemon.requestLog;
      },
      quota: (domid, name) => this.quota(domid, name),
      charge: (domid) => this.credit.charge(domid),
      announce: (changes) => this.watchers.announce(changes),
      rerun: (conn, frame, txn) => {
        const spec = lookupOp(frame.type);
        return spec === undefined ? undefined : spec.handler(this.requests.request(conn, frame, txn));
      },
    });
    this.flow = new FlowControl({
      settings: this.settings,
      get frozen() {
        return daemon.frozen;
      },
      outstanding: (domid) => this.quota(domid, 'outstanding'),
      creditWaitMs: (domid) => this.credit.waitMs(domid),
      process: (conn, frame) => this.requests.process(conn, frame),
      disconnect: (conn, reason) => this.disconnect(conn, reason),
      flush: () => this.flush(),
    });
  }

  // ---- connections -------------------------------------------------------
  /** Lets INTRODUCE map rings through `backend` (the simulated or the real Xen). */
  attachBackend(backend: DomainBackend): Promise<void> {
    return this.lifecycle.attachBackend(backend);
  }

  /** Stops talking to guests without touching their rings (shutdown, not death). */
  closeBackend(): Promise<void> {
    return this.lifecycle.closeBackend();
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
    this.flow.receive(conn, chunk);
  }

  /** The transport of `conn` delivered its backlog: read again if we stopped. */
  writable(conn: Connection): void {
    this.flow.writable(conn);
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
    this.flow.forget(conn);
    conn.sink.close();
  }

  /** After a live update was abandoned: serve what every connection sent meanwhile. */
  resumeAll(): void {
    this.flow.resumeAll(this.conns);
  }

  /** Marks a connection as having output for the next flush. */
  markDirty(conn: Connection): void {
    this.dirty.add(conn);
  }

  /** Sends every connection's batched output; drops those past the hard bound. */
  flush(): void {
    this.reclaim.turn();
    if (!this.durability.sync()) {
      // Not one answer of this turn may leave: its commits were undone.
      for (const c of [...this.dirty]) {
        c.out.clear();
        this.disconnect(c, 'the commit could not be made durable; nothing was acknowledged');
      }
      this.dirty.clear();
      return;
    }
    for (const c of this.dirty) {
      // Deleted one by one: Set.clear() allocates a new table, once per turn.
      this.dirty.delete(c);
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
  }

  /** A quota's value for a domain: its own override, else the global setting. */
  quota(domid: number, name: QuotaName): number {
    return this.domains.get(domid)?.quotas.get(name) ?? this.settings[name];
  }

  // ---- transactions (commits.ts) ---------------------------------------------

  newTransaction(conn: Connection): Transaction {
    return this.commits.newTransaction(conn);
  }

  /** Commits `txn`; on success its changes are announced. False means EAGAIN. */
  commit(conn: Connection, txn: Transaction): boolean {
    return this.commits.commit(conn, txn);
  }

  /** An open transaction carried over a live update (doomed to EAGAIN if it commits a write). */
  adoptTransaction(conn: Connection, txId: number, pending: readonly NodeChange[]): void {
    this.commits.adopt(conn, txId, pending);
  }

  // ---- watches (watchers.ts) -------------------------------------------------

  addWatch(conn: Connection, key: string, w: Omit<ConnWatch, 'owner'>): ConnWatch | undefined {
    return this.watchers.add(conn, key, w);
  }

  removeWatch(conn: Connection, key: string, entry: ConnWatch): void {
    this.watchers.remove(conn, key, entry);
  }

  dropWatches(conn: Connection): void {
    this.watchers.drop(conn);
  }

  specialPermsOf(name: string): Perms {
    return this.watchers.specialPermsOf(name);
  }

  setSpecialPerms(name: string, perms: Perms): void {
    this.watchers.setSpecialPerms(name, perms);
  }

  // ---- domains (domain-lifecycle.ts) -----------------------------------------

  introduceDomain(domid: number, mfn: bigint, port: number): void {
    this.lifecycle.introduceDomain(domid, mfn, port);
  }

  releaseDomain(domid: number): void {
    this.lifecycle.releaseDomain(domid);
  }

  setTarget(domid: number, target: number): void {
    this.lifecycle.setTarget(domid, target);
  }

  // ---- state stream ----------------------------------------------------------

  /** The whole state as state records (no file descriptors: a cold dump). */
  private records(): Generator<StateRecord> {
    return dumpState(
      { root: this.store.root, settings: settingsByKind(this.settings), domains: this.domains.all(), conns: this.conns },
      { ringPort: (domid) => this.domains.get(domid)?.port, isRing: (c) => this.lifecycle.isRing(c) },
    );
  }

  /** The ring sessions (durable mode's DIR/rings): domains, ring connections and their watches. */
  sessionRecords(): StateRecord[] {
    return sessionRecords(this.records());
  }

  /** The whole state as a migration stream (CONTROL dump). */
  dumpStream(): Buffer {
    return encodeStream(this.records());
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
    Object.assign(this.settings, knownSettings(s.settings));
    this.domains.restoreSettings(s.domains);
    for (const c of s.connections) {
      if (c.spec.kind !== 'ring') continue;
      const where = this.lifecycle.locateRing(c.spec.domid);
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
