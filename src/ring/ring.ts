/**
 * One direction of a XenStore ring: a 1024-byte circular buffer with
 * free-running u32 producer and consumer indices (docs/misc/xenstore-ring.txt).
 * The same code serves the daemon (reads requests, writes responses) and a
 * guest (writes requests, reads responses).
 *
 * Memory ordering: indices are read and written with Atomics, which are
 * sequentially consistent, so the producer's data stores are visible before
 * its index store, and the consumer's data loads happen after its index load
 * and before it publishes the new consumer index.
 */
import { RING_SIZE } from '../protocol/limits.js';
import { REQ_CONS, REQ_OFFSET, REQ_PROD, RSP_CONS, RSP_OFFSET, RSP_PROD } from './layout.js';

const MASK = RING_SIZE - 1;

/** The indices are corrupt: the producer claims more than a ring's worth. */
export class RingIndexError extends Error {
  constructor(readonly prod: number, readonly cons: number) {
    super(`ring indices out of range: prod ${prod}, cons ${cons}`);
    this.name = 'RingIndexError';
  }
}

export class Ring {
  private readonly bytes: Uint8Array;
  private readonly words: Int32Array;

  constructor(
    page: SharedArrayBuffer | ArrayBuffer,
    private readonly dataOffset: number,
    private readonly consIdx: number,
    private readonly prodIdx: number,
  ) {
    this.bytes = new Uint8Array(page, dataOffset, RING_SIZE);
    this.words = new Int32Array(page);
  }

  /** The request ring of `page` (guest produces, daemon consumes). */
  static requests(page: SharedArrayBuffer | ArrayBuffer): Ring {
    return new Ring(page, REQ_OFFSET, REQ_CONS, REQ_PROD);
  }

  /** The response ring of `page` (daemon produces, guest consumes). */
  static responses(page: SharedArrayBuffer | ArrayBuffer): Ring {
    return new Ring(page, RSP_OFFSET, RSP_CONS, RSP_PROD);
  }

  get prod(): number {
    return Atomics.load(this.words, this.prodIdx) >>> 0;
  }

  get cons(): number {
    return Atomics.load(this.words, this.consIdx) >>> 0;
  }

  /** Bytes waiting to be consumed. Throws RingIndexError if the indices are impossible. */
  readable(): number {
    const prod = this.prod;
    const cons = this.cons;
    const n = (prod - cons) >>> 0;
    if (n > RING_SIZE) throw new RingIndexError(prod, cons);
    return n;
  }

  /** Free space for the producer. Throws RingIndexError if the indices are impossible. */
  writable(): number {
    return RING_SIZE - this.readable();
  }

  /**
   * Copies up to `src.length - off` bytes into the ring (producer side),
   * wrapping at the end; publishes the new producer index. Returns bytes written.
   */
  write(src: Uint8Array, off = 0, len = src.length - off): number {
    const cons = this.cons;
    const prod = this.prod;
    const used = (prod - cons) >>> 0;
    if (used > RING_SIZE) throw new RingIndexError(prod, cons);
    const n = Math.min(len, RING_SIZE - used);
    if (n === 0) return 0;
    const start = prod & MASK;
    const first = Math.min(n, RING_SIZE - start);
    this.bytes.set(src.subarray(off, off + first), start);
    if (first < n) this.bytes.set(src.subarray(off + first, off + n), 0);
    Atomics.store(this.words, this.prodIdx, (prod + n) | 0);
    return n;
  }

  /**
   * Takes up to `max` bytes out of the ring (consumer side) into a new Buffer
   * and publishes the new consumer index. Returns an empty buffer if none.
   */
  read(max = RING_SIZE): Buffer {
    const prod = this.prod;
    const cons = this.cons;
    const avail = (prod - cons) >>> 0;
    if (avail > RING_SIZE) throw new RingIndexError(prod, cons);
    const n = Math.min(avail, max);
    const out = Buffer.allocUnsafe(n);
    if (n === 0) return out;
    const start = cons & MASK;
    const first = Math.min(n, RING_SIZE - start);
    out.set(this.bytes.subarray(start, start + first), 0);
    if (first < n) out.set(this.bytes.subarray(0, n - first), first);
    Atomics.store(this.words, this.consIdx, (cons + n) | 0);
    return out;
  }

  /** Resets both indices to 0 (reconnection, by the daemon only). */
  reset(): void {
    Atomics.store(this.words, this.consIdx, 0);
    Atomics.store(this.words, this.prodIdx, 0);
  }
}
