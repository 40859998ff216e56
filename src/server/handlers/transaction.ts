/**
 * TRANSACTION_START and TRANSACTION_END. Commit logic lives in txn/merge.ts;
 * here: ids, limits, and turning the outcome into OK or EAGAIN.
 */
import { XsError } from '../../protocol/errno.js';
import { encodeStrings } from '../../protocol/payload.js';
import { OK, type Request } from '../request.js';

export function start(r: Request): Uint8Array {
  const { conn, services: daemon } = r;
  if (r.frame.txId !== 0) throw new XsError('EBUSY', 'nested transactions are not supported');
  const open = conn.transactions.size;
  if ((!conn.caller.privileged && open >= daemon.quota(conn.caller.domid, 'transactions')) || open >= daemon.settings['connection-transactions']) {
    throw new XsError('ENOSPC', 'too many open transactions');
  }
  const txn = daemon.newTransaction(conn);
  conn.transactions.set(txn.id, txn);
  return encodeStrings([String(txn.id)]);
}

/** TRANSACTION_END's one argument, "T" or "F" (NUL-terminated or not), read without building strings. */
function commitArg(p: Buffer): 'T' | 'F' | undefined {
  if (p.length === 0 || p.length > 2 || (p.length === 2 && p[1] !== 0)) return undefined;
  return p[0] === 0x54 ? 'T' : p[0] === 0x46 ? 'F' : undefined;
}

export function end(r: Request): Uint8Array {
  const { conn, services: daemon } = r;
  const txn = r.txn;
  if (txn === undefined) throw new XsError('ENOENT', 'no such transaction');
  const arg = commitArg(r.frame.payload);
  if (arg === undefined) throw new XsError('EINVAL', 'TRANSACTION_END takes T or F');
  conn.transactions.delete(txn.id);
  if (arg === 'F') return OK;
  if (!daemon.commit(conn, txn)) throw new XsError('EAGAIN');
  return OK;
}
