/**
 * TRANSACTION_START and TRANSACTION_END. Commit logic lives in txn/merge.ts;
 * here: ids, limits, and turning the outcome into OK or EAGAIN.
 */
import { XsError } from '../../protocol/errno.js';
import { encodeStrings, strings } from '../../protocol/payload.js';
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

export function end(r: Request): Uint8Array {
  const { conn, services: daemon } = r;
  const txn = r.txn;
  if (txn === undefined) throw new XsError('ENOENT', 'no such transaction');
  const args = strings(r.frame.payload, true);
  const arg = args.length === 1 ? args[0] : undefined;
  if (arg !== 'T' && arg !== 'F') throw new XsError('EINVAL', 'TRANSACTION_END takes T or F');
  conn.transactions.delete(txn.id);
  if (arg === 'F') return OK;
  if (!daemon.commit(conn, txn)) throw new XsError('EAGAIN');
  return OK;
}
