/**
 * The shared handler signature: a handler gets the request and answers with
 * the payload of the reply (same type as the request), or throws XsError.
 */
import type { Frame } from '../protocol/decoder.js';
import type { OpContext } from '../store/state.js';
import type { Transaction } from '../txn/transaction.js';
import type { Connection } from './connection.js';
import type { Services } from './services.js';

export interface Request {
  /** What the handler may read and do (not the daemon itself). */
  readonly services: Services;
  readonly conn: Connection;
  readonly frame: Frame;
  /** The transaction named by tx_id, for ops that run inside one. */
  readonly txn: Transaction | undefined;
  /** Store context (live store or transaction) for data operations. */
  readonly ctx: OpContext;
  /** Work to do once the reply is queued (e.g. a new watch's first event). */
  readonly afterReply: Array<() => void>;
  /**
   * Answers later, for work that must not block the daemon (CONTROL writing
   * a file): returns DEFERRED for the handler to return; the connection is
   * not read until `work` settles, and its value (or its XsError) is the
   * reply, so the connection's replies stay in order.
   */
  defer(work: Promise<Uint8Array>): Uint8Array;
}

/** What a handler returns when its reply comes later (Request.defer). */
export const DEFERRED: Uint8Array = new Uint8Array(0);

export type Handler = (r: Request) => Uint8Array;

export const OK = Buffer.from('OK\0', 'latin1');
