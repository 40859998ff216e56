/**
 * Frame encoding. FrameBatch collects the replies and events of one event-loop
 * turn into one contiguous buffer, so a connection costs one socket write per turn.
 */
import { writeHeader } from './header.js';
import { HEADER_SIZE } from './limits.js';

export function encodeFrame(type: number, reqId: number, txId: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(out, 0, type, reqId, txId, payload.length);
  out.set(payload, HEADER_SIZE);
  return out;
}

export class FrameBatch {
  private scratch: Buffer;
  private len = 0;
  private count = 0;

  constructor(initialBytes = 8192) {
    this.scratch = Buffer.allocUnsafe(initialBytes);
  }

  get bytes(): number {
    return this.len;
  }

  get frames(): number {
    return this.count;
  }

  add(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    const need = this.reserve(HEADER_SIZE + payload.length);
    writeHeader(this.scratch, this.len, type, reqId, txId, payload.length);
    this.scratch.set(payload, this.len + HEADER_SIZE);
    this.len = need;
    this.count++;
  }

  /**
   * Adds a frame whose payload is `a` NUL `b` NUL in latin1 (a watch event:
   * path and token), written in place: a fan-out to many watchers builds no
   * payload Buffer per event.
   */
  addTwoStrings(type: number, reqId: number, txId: number, a: string, b: string): void {
    const size = a.length + b.length + 2;
    const need = this.reserve(HEADER_SIZE + size);
    const buf = this.scratch;
    writeHeader(buf, this.len, type, reqId, txId, size);
    let o = this.len + HEADER_SIZE;
    o += buf.write(a, o, 'latin1');
    buf[o++] = 0;
    o += buf.write(b, o, 'latin1');
    buf[o] = 0;
    this.len = need;
    this.count++;
  }

  /** Makes room for `more` bytes; returns the length after them. */
  private reserve(more: number): number {
    const need = this.len + more;
    if (need > this.scratch.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
      this.scratch.copy(bigger, 0, 0, this.len);
      this.scratch = bigger;
    }
    return need;
  }

  /** A copy of what is batched, leaving it in place. */
  peek(): Buffer {
    return Buffer.from(this.scratch.subarray(0, this.len));
  }

  /** What is batched, in place: valid until the next add, clear or take. */
  view(): Buffer {
    return this.scratch.subarray(0, this.len);
  }

  /** Drops everything added since the last take. */
  clear(): void {
    this.len = 0;
    this.count = 0;
  }

  /** Everything added since the last take, as one buffer the caller owns. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.len);
    this.scratch.copy(out, 0, 0, this.len);
    this.len = 0;
    this.count = 0;
    return out;
  }
}
