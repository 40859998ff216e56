/**
 * Transactions and how each commit is decided: a new transaction starts from
 * the live root; at TRANSACTION_END the node quota is checked again against
 * the live store (XSA-326), then txn/merge.ts swaps, grafts or asks for a
 * replay, which re-runs the transaction's recorded requests on the live store
 * and succeeds only if every answer is the same. A conflict (EAGAIN) is
 * counted, charged to the domain whose commit caused it (conflict credit) and
 * named in the log. The daemon is reached through CommitHost.
 */
import type { Frame } from '../protocol/decoder.js';
import { errorPayload, XsError } from '../protocol/errno.js';
import { Op } from '../protocol/op.js';
import { applyChanges, type NodeChange } from '../store/diff.js';
import type { History, Revision } from '../store/history.js';
import type { Change } from '../store/state.js';
import type { Store } from '../store/store.js';
import { commit, type ConflictMode } from '../txn/merge.js';
import { Transaction } from '../txn/transaction.js';
import type { QuotaName, Settings } from './config.js';
import type { Connection } from './connection.js';
import type { Logger } from './log.js';

export interface CommitStats {
  /** TRANSACTION_START answered. */
  started: number;
  commits: { 'read-only': number; swap: number; coalesce: number; replay: number };
  conflicts: number;
}

/** What commit decisions need of the daemon. */
export interface CommitHost {
  readonly store: Store;
  readonly settings: Settings;
  readonly conflict: ConflictMode;
  readonly stats: CommitStats;
  readonly history: History;
  readonly logger: Logger;
  readonly requestLog: boolean;
  quota(domid: number, name: QuotaName): number;
  /** The domain caused another's EAGAIN: charge its conflict credit. */
  charge(domid: number): void;
  announce(changes: readonly Change[]): void;
  /** Runs one recorded request inside `txn` (for replay); throws XsError as handlers do; undefined: unknown type. */
  rerun(conn: Connection, frame: Frame, txn: Transaction): Uint8Array | undefined;
}

export class Commits {
  constructor(private readonly host: CommitHost) {}

  newTransaction(conn: Connection): Transaction {
    const h = this.host;
    const t = new Transaction(conn.allocTxId(), h.store, {
      maxNodes: conn.caller.privileged ? undefined : h.quota(conn.caller.domid, 'transaction-nodes'),
      maxLogEntries: h.settings['transaction-log-entries'],
      maxLogBytes: h.settings['transaction-log-bytes'],
    });
    t.startRev = h.history.head;
    h.stats.started++;
    return t;
  }

  /** Before a request of `txn`: T1 moves to the live root if the transaction has seen nothing yet. */
  refresh(txn: Transaction): void {
    if (txn.refresh()) txn.startRev = this.host.history.head;
  }

  /** Commits `txn`; on success its changes are announced. False means EAGAIN. */
  commit(conn: Connection, txn: Transaction): boolean {
    const h = this.host;
    // Quotas were checked against the store as the transaction saw it; other
    // commits since may have used the room (XSA-326): check again now.
    if (!conn.caller.privileged) {
      for (const [domid, d] of txn.delta) {
        if (d > 0 && domid !== 0 && h.store.usage(domid) + d > h.quota(domid, 'nodes')) throw new XsError('ENOSPC', `committing would put domain ${domid} over its node quota`);
      }
    }
    const out = commit(h.store, txn, h.conflict, (t) => this.replay(conn, t));
    if (!out.ok) {
      h.stats.conflicts++;
      this.blame(conn, txn);
      return false;
    }
    h.stats.commits[out.how]++;
    txn.committed = out.changes;
    h.announce(out.changes);
    return true;
  }

  /**
   * Re-creates an open transaction carried over a live update: it sees the
   * store plus its own pending changes, and can still read and write, but is
   * doomed to EAGAIN if it commits a write (its starting snapshot is gone).
   */
  adopt(conn: Connection, txId: number, pending: readonly NodeChange[]): void {
    const h = this.host;
    const t = new Transaction(txId, h.store, {
      maxNodes: conn.caller.privileged ? undefined : h.quota(conn.caller.domid, 'transaction-nodes'),
      maxLogEntries: 0,
      maxLogBytes: 0,
    });
    let gen = h.store.generation;
    t.root = applyChanges(t.root, pending, () => ++gen);
    t.doomed = true;
    t.replayable = false;
    conn.transactions.set(txId, t);
    conn.skipTxId(txId);
  }

  /** Names, in the log, the commit a failed transaction conflicted with (oxenstored's conflict credit idea). */
  private blame(conn: Connection, txn: Transaction): void {
    const h = this.host;
    const low = txn.low ?? [];
    // The earliest commit that changed a region the transaction touched.
    let r: Revision | undefined;
    for (const scope of txn.regions ?? [low]) {
      const c = h.history.firstChangeAfter(txn.startRev, scope);
      if (c !== undefined && (r === undefined || c.rev < r.rev)) r = c;
    }
    if (r !== undefined && r.domid !== conn.caller.domid) h.charge(r.domid);
    const level = h.requestLog ? 'info' : 'debug';
    if (!h.logger.enabled(level)) return;
    const who = r === undefined ? 'a commit no longer in the history' : `r${r.rev} (${r.op} by dom${r.domid} conn ${r.conn})`;
    h.logger.log(level, `${conn.label} transaction ${txn.id}: EAGAIN; /${low.join('/')} was changed by ${who}`);
  }

  /** Re-runs a transaction's requests on the live store; the new transaction if every answer matched. */
  private replay(conn: Connection, old: Transaction): Transaction | undefined {
    const t = new Transaction(old.id, this.host.store, { maxNodes: undefined, maxLogEntries: 0, maxLogBytes: 0 });
    for (const rec of old.log) {
      const frame: Frame = { type: rec.type, reqId: 0, txId: old.id, payload: rec.payload };
      let replyType: number = rec.type;
      let reply: Uint8Array | undefined;
      try {
        reply = this.host.rerun(conn, frame, t);
      } catch (e) {
        if (!(e instanceof XsError)) return undefined;
        replyType = Op.ERROR;
        reply = errorPayload(e.errno);
      }
      if (reply === undefined) return undefined;
      if (replyType !== rec.replyType || Buffer.compare(reply, rec.reply) !== 0) return undefined;
    }
    return t;
  }
}
