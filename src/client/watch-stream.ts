/**
 * A watch as an async iterable of events. Events are buffered up to a bound;
 * a consumer that falls further behind gets an EOVERFLOW error instead of
 * unbounded memory. Ending the iteration (break, return, `await using`) or
 * the watch's AbortSignal unwatches.
 */
import './dispose-symbol.js';
import { XenStoreError } from './errors.js';

export interface WatchEvent {
  /** The path that changed (relative if the watch path was relative). */
  readonly path: string;
  readonly token: string;
}

export class WatchStream implements AsyncIterableIterator<WatchEvent>, AsyncDisposable {
  private readonly buffer: WatchEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;
  private ended = false;

  /** @internal */
  constructor(
    readonly path: string,
    readonly token: string,
    private readonly maxBuffered: number,
    private readonly unwatch: () => Promise<void>,
  ) {}

  /** Called by the client for each event with this watch's token. */
  push(ev: WatchEvent): void {
    if (this.ended || this.error !== undefined) return;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: ev, done: false });
      return;
    }
    if (this.buffer.length >= this.maxBuffered) {
      this.cancel(new XenStoreError('EOVERFLOW', 'WATCH', this.path, `more than ${this.maxBuffered} events not consumed`));
      return;
    }
    this.buffer.push(ev);
  }

  /** Ends the stream with an error (connection lost, overflow). */
  fail(e: Error): void {
    if (this.ended || this.error !== undefined) return;
    this.error = e;
    this.buffer.length = 0;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(e);
    }
  }

  /** Ends the stream with an error and unwatches (overflow, the watch's AbortSignal). */
  cancel(e: Error): void {
    if (this.ended || this.error !== undefined) return;
    this.fail(e);
    void this.unwatch().catch(() => undefined);
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const ev = this.buffer.shift();
    if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Stops watching (sends UNWATCH) and ends the iteration. */
  async return(): Promise<IteratorResult<WatchEvent>> {
    if (!this.ended) {
      this.ended = true;
      this.buffer.length = 0;
      if (this.waiter !== undefined) {
        this.waiter.resolve({ value: undefined, done: true });
        this.waiter = undefined;
      }
      if (this.error === undefined) await this.unwatch();
    }
    return { value: undefined, done: true };
  }

  close(): Promise<IteratorResult<WatchEvent>> {
    return this.return();
  }

  /** Same as return(): unwatches, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return().catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchEvent> {
    return this;
  }
}
