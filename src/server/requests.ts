/**
 * One request, from its decoded frame to its reply: the dispatch table
 * (dispatch.ts) says which handler runs and whether the caller may send it
 * and in which transaction; the handler gets a narrow Services interface and
 * its store context (live store or transaction, the caller's quotas); errors
 * become wire strings in one place (XsError, or EIO for a bug, logged); a
 * changed store is recorded (history, durability) and announced to watchers.
 */
import type { Frame } from '../protocol/decoder.js';
import { errorPayload, XsError } from '../protocol/errno.js';
import { Op, opName } from '../protocol/op.js';
import { nulAt } from '../protocol/payload.js';
import { changeScope } from '../store/cost.js';
import type { CommitInfo } from '../store/history.js';
import type { Node } from '../store/node.js';
import type { Change, Limits, OpContext, TreeState } from '../store/state.js';
import type { Store } from '../store/store.js';
import type { Transaction } from '../txn/transaction.js';
import type { QuotaName } from './config.js';
import type { Connection } from './connection.js';
import { lookupOp } from './dispatch.js';
import type { Logger } from './log.js';
import { DEFERRED, type Request } from './request.js';
import type { Services } from './services.js';

export interface RequestsHost {
  /** What handlers get (the daemon, seen through Services). */
  readonly services: Services;
  readonly store: Store;
  readonly stats: { requests: number };
  readonly logger: Logger;
  readonly requestLog: boolean;
  quota(domid: number, name: QuotaName): number;
  /** `conn` has output for the next flush. */
  markDirty(conn: Connection): void;
  /** The live root changed from `before` (history, durability). */
  committed(before: Node, info: CommitInfo, within?: readonly string[]): void;
  announce(changes: readonly Change[]): void;
  /** A deferred reply was queued: read `conn` again and send what it has. */
  resume(conn: Connection): void;
  /** Before a request inside `txn` (Commits.refresh). */
  refresh(txn: Transaction): void;
  /** Told of every request and the time it took (metrics); undefined: nothing is timed. */
  readonly observer: RequestObserver | undefined;
}

/** Sees each request once it is served: its type and the seconds the daemon spent on it. */
export interface RequestObserver {
  request(type: number, seconds: number): void;
}

/** A Request as handlers see it (a class, so that defer() costs no closure per request). */
class HandlerRequest implements Request {
  constructor(
    private readonly runner: Requests,
    readonly conn: Connection,
    readonly frame: Frame,
    readonly txn: Transaction | undefined,
    readonly ctx: OpContext,
    readonly afterReply: Array<() => void>,
  ) {}

  get services(): Services {
    return this.runner.services;
  }

  defer(work: Promise<Uint8Array>): Uint8Array {
    return this.runner.defer(this.conn, this.frame, work);
  }
}

/** A request's first argument (its path, for the requests that have one), at most 256 bytes. */
function firstArg(payload: Buffer): string {
  const end = Math.min(payload.length, 256);
  const nul = nulAt(payload, 0, end);
  return payload.toString('latin1', 0, nul < 0 ? end : nul);
}

const MUTATIONS = new Set<number>([Op.WRITE, Op.MKDIR, Op.RM, Op.SET_PERMS]);
const SUMMARY_ITEMS = 3;

/**
 * What a committed transaction did, for the history: its writing requests
 * (or, when its log was too large to keep, its changed paths), the first
 * few of them and how many more.
 */
export function transactionSummary(txn: Transaction): string {
  // Only the items shown are turned into strings: a commit pays for three, not for its whole log.
  const shown: string[] = [];
  let count = 0;
  if (txn.replayable) {
    for (const e of txn.log) {
      if (!MUTATIONS.has(e.type) || e.replyType !== e.type) continue;
      if (count++ < SUMMARY_ITEMS) shown.push(`${opName(e.type)} ${firstArg(e.payload)}`);
    }
  } else {
    for (const c of txn.changes) if (count++ < SUMMARY_ITEMS) shown.push(`${c.removed ? 'RM' : 'WRITE'} ${c.path.abs}`);
  }
  const more = count > SUMMARY_ITEMS ? ` and ${count - SUMMARY_ITEMS} more` : '';
  return `transaction ${txn.id}: ${count === 0 ? 'no change' : shown.join(', ') + more}`;
}

export class Requests {
  /** Work to do once the current reply is queued (e.g. a new watch's first event). */
  private readonly afterReply: Array<() => void> = [];

  constructor(private readonly host: RequestsHost) {}

  get services(): Services {
    return this.host.services;
  }

  private commitInfo(conn: Connection, frame: Frame, txn: Transaction | undefined): CommitInfo {
    const op = frame.type === Op.TRANSACTION_END && txn !== undefined ? transactionSummary(txn) : `${opName(frame.type)} ${firstArg(frame.payload)}`;
    return { time: Date.now(), domid: conn.caller.domid, conn: conn.id, txId: frame.txId, op, baseRev: txn?.startRev };
  }

  /** Runs one request: dispatch, privilege and transaction rules, the reply, history, durability, watch events. */
  process(conn: Connection, frame: Frame): void {
    const observer = this.host.observer;
    if (observer === undefined) return this.serve(conn, frame);
    const start = process.hrtime.bigint();
    this.serve(conn, frame);
    observer.request(frame.type, Number(process.hrtime.bigint() - start) / 1e9);
  }

  private serve(conn: Connection, frame: Frame): void {
    this.host.stats.requests++;
    this.host.markDirty(conn);
    const before = this.host.store.root;
    const { type, reqId, txId } = frame;
    if (this.host.requestLog) {
      // The access log (CONTROL log on): one line per request, in the log's format.
      const args = frame.payload.toString('latin1').replace(/\0/g, ' ').trimEnd().slice(0, 200);
      this.host.logger.info('request', { conn: conn.label, domid: conn.caller.domid, op: opName(type), req: reqId, tx: txId, args });
    }
    const spec = lookupOp(type);
    let txn: Transaction | undefined;
    try {
      if (spec === undefined) throw new XsError('ENOSYS', `unknown message type ${type}`);
      if (spec.priv && !conn.caller.privileged) throw new XsError('EACCES', `${opName(type)} is for dom0 only`);
      if (txId !== 0 && spec.tx !== 'ignore') {
        txn = conn.transactions.get(txId);
        if (txn === undefined) throw new XsError('ENOENT', `no transaction ${txId}`);
        if (spec.tx === 'data') this.host.refresh(txn);
      }
      const payload = spec.handler(this.request(conn, frame, spec.tx === 'data' || spec.tx === 'end' ? txn : undefined));
      if (payload === DEFERRED) return;
      conn.reply(type, reqId, txId, payload);
      // The payload is a view into received bytes: copied. An answer is never changed once
      // returned (a stored value, or built for this reply), so the log keeps it as it is.
      if (txn !== undefined && spec.tx === 'data') txn.record({ type, payload: Buffer.from(frame.payload), replyType: type, reply: Buffer.isBuffer(payload) ? payload : Buffer.from(payload) });
    } catch (e) {
      const errno = this.errnoOf(e, conn, type);
      conn.reply(Op.ERROR, reqId, txId, errorPayload(errno));
      if (txn !== undefined && spec?.tx === 'data') txn.record({ type, payload: Buffer.from(frame.payload), replyType: Op.ERROR, reply: errorPayload(errno) });
    }
    const changes = this.host.store.takeChanges();
    if (this.host.store.root !== before) {
      // The lowest path holding every change this request (or the commit it ended) made.
      const within = changeScope(type === Op.TRANSACTION_END ? (txn?.committed ?? []) : changes);
      this.host.committed(before, this.commitInfo(conn, frame, txn), within);
    }
    this.host.announce(changes);
    if (this.afterReply.length > 0) {
      for (const f of this.afterReply) f();
      this.afterReply.length = 0;
    }
  }

  private errnoOf(e: unknown, conn: Connection, type: number): XsError['errno'] {
    if (e instanceof XsError) return e.errno;
    // A bug, not a client error: say so loudly, keep serving everyone else.
    this.host.logger.error(`internal error in ${opName(type)} from ${conn.label}: ${e instanceof Error ? e.stack : String(e)}`);
    return 'EIO';
  }

  /** A request as its handler sees it (also how a transaction's requests are replayed). */
  request(conn: Connection, frame: Frame, txn: Transaction | undefined): Request {
    return new HandlerRequest(this, conn, frame, txn, this.context(conn, txn ?? this.host.store), this.afterReply);
  }

  /** Request.defer: stop reading `conn` until `work` settles, then queue its answer. */
  defer(conn: Connection, frame: Frame, work: Promise<Uint8Array>): Uint8Array {
    conn.awaiting = true;
    conn.throttled = true;
    conn.sink.pause();
    const answer = (type: number, payload: Uint8Array): void => {
      conn.awaiting = false;
      if (conn.closed) return;
      conn.reply(type, frame.reqId, frame.txId, payload);
      this.host.markDirty(conn);
      this.host.resume(conn);
    };
    work.then(
      (payload) => answer(frame.type, payload),
      (e: unknown) => answer(Op.ERROR, errorPayload(this.errnoOf(e, conn, frame.type))),
    );
    return DEFERRED;
  }

  private context(conn: Connection, state: TreeState): OpContext {
    return { state, caller: conn.caller, limits: conn.caller.privileged ? undefined : this.limits(conn.caller.domid), home: conn.home };
  }

  private limits(domid: number): Limits {
    return {
      nodes: this.host.quota(domid, 'nodes'),
      nodeSize: this.host.quota(domid, 'node-size'),
      nodePerms: this.host.quota(domid, 'permissions'),
      pathMax: this.host.quota(domid, 'path-max'),
    };
  }}
