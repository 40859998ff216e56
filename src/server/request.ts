/**
 * The shared handler signature: a handler gets the request and answers with
 * the payload of the reply (same type as the request), or throws XsError.
 */
import type { Frame } from '../protocol/decoder.js';
import type { OpContext } from '../store/state.js';
import type { Transaction } from '../txn/transaction.js';
import type { Connection } from './connection.js';
import type { Daemon } from './daemon.js';

export interface Request {
  readonly daemon: Daemon;
  readonly conn: Connection;
  readonly frame: Frame;
  /** The transaction named by tx_id, for ops that run inside one. */
  readonly txn: Transaction | undefined;
  /** Store context (live store or transaction) for data operations. */
  readonly ctx: OpContext;
  /** Work to do once the reply is queued (e.g. a new watch's first event). */
  readonly afterReply: Array<() => void>;
}

export type Handler = (r: Request) => Uint8Array;

export const OK = Buffer.from('OK\0', 'latin1');
