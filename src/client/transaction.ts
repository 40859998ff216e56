/**
 * A transaction handle: the data operations bound to one tx_id, plus commit
 * and abort. Obtained from XenStoreClient.startTransaction(), or handed to
 * the function given to XenStoreClient.transaction().
 */
import { Op } from '../protocol/op.js';
import { Operations, type Call } from './operations.js';

export class Transaction extends Operations {
  private finished = false;

  constructor(call: Call, txId: number) {
    super(call, txId);
  }

  get id(): number {
    return this.txId;
  }

  /** Commits. Rejects with XenStoreError code EAGAIN if it conflicted. */
  async commit(): Promise<void> {
    this.finished = true;
    await this.call(Op.TRANSACTION_END, this.txId, ['T'], undefined);
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.call(Op.TRANSACTION_END, this.txId, ['F'], undefined);
  }
}
