/**
 * transaction()'s retry loop: run the body on a fresh transaction, commit,
 * and on EAGAIN (someone else committed a conflicting change first) wait a
 * jittered, growing delay and run it again, until a deadline, not a count.
 * Time, not attempts, is what a caller can reason about under contention.
 */
import { fullJitterMs, sleep } from './backoff.js';
import { abortError, XenStoreError } from './errors.js';
import type { RequestOptions } from './requests.js';
import type { Transaction } from './transaction.js';

/** How long transaction() keeps retrying a conflicting transaction by default: 5 s. */
export const DEFAULT_TRANSACTION_DEADLINE_MS = 5_000;

export interface TransactionOptions {
  /**
   * Retry on EAGAIN until this many ms after the call (default 5000); a
   * conflict after that rejects with EAGAIN. The body itself is never cut
   * short by the deadline; give it a `signal` for that.
   */
  readonly deadlineMs?: number;
  /** Cancels the transaction (between attempts, or any request of it): rejects with an AbortError. */
  readonly signal?: AbortSignal;
  /** First backoff ceiling in ms, doubled each retry, the delay drawn uniformly below it (default 1). */
  readonly baseDelayMs?: number;
  /** Largest backoff ceiling in ms (default 100). */
  readonly maxDelayMs?: number;
}

const isConflict = (e: unknown): boolean => e instanceof XenStoreError && e.code === 'EAGAIN';

/** One attempt: start, run the body, commit. A body that throws aborts the transaction. */
async function attempt<T>(begin: (opts: RequestOptions) => Promise<Transaction>, fn: (tx: Transaction) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  const tx = await begin({ signal });
  let result: T;
  try {
    result = await fn(tx);
  } catch (e) {
    await tx.abort().catch(() => undefined);
    throw e;
  }
  await tx.commit();
  return result;
}

export async function runTransaction<T>(begin: (opts: RequestOptions) => Promise<Transaction>, fn: (tx: Transaction) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
  const deadlineMs = opts.deadlineMs ?? DEFAULT_TRANSACTION_DEADLINE_MS;
  const deadline = performance.now() + deadlineMs;
  const { signal } = opts;
  for (let retry = 0; ; retry++) {
    if (signal?.aborted === true) throw abortError('TRANSACTION', undefined, signal.reason);
    try {
      return await attempt(begin, fn, signal);
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
    const leftMs = deadline - performance.now();
    if (leftMs <= 0) {
      throw new XenStoreError('EAGAIN', 'TRANSACTION_END', undefined, `still conflicting after ${retry + 1} attempts; the ${deadlineMs} ms deadline passed`);
    }
    await sleep(Math.min(leftMs, fullJitterMs(retry, opts.baseDelayMs ?? 1, opts.maxDelayMs ?? 100)), 'TRANSACTION', signal);
  }
}
