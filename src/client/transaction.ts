/**
 * A transaction handle: the data operations bound to one tx_id, plus commit
 * and abort. Obtained from XenStoreClient.startTransaction(), or handed to
 * the function given to XenStoreClient.transaction(). `await using` aborts
 * a transaction that was neither committed nor aborted.
 */
import './dispose-symbol.js';
import { Op } from '../protocol/op.js';
import { Operations, type Call } from './operations.js';
import type { RequestOptions } from './requests.js';

export class Transaction extends Operations implements AsyncDisposable {
  private finished = false;

  /** @internal */
  constructor(call: Call, txId: number, defaults: RequestOptions = {}) {
    super(call, txId, defaults);
  }

  get id(): number {
    return this.txId;
  }

  /**
   * Commits. Rejects with XenStoreError code EAGAIN if it conflicted. If the
   * request is aborted or times out, whether the commit happened is unknown.
   */
  async commit(opts?: RequestOptions): Promise<void> {
    this.finished = true;
    await this.call(Op.TRANSACTION_END, this.txId, ['T'], undefined, undefined, opts ?? this.defaults);
  }

  /** Discards the transaction's writes. Does nothing once committed or aborted. */
  async abort(opts?: RequestOptions): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.call(Op.TRANSACTION_END, this.txId, ['F'], undefined, undefined, opts ?? {});
  }

  /** Aborts unless already committed or aborted; errors (a closed connection) are ignored. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort().catch(() => undefined);
  }
}
