/**
 * Incremental frame decoder: bytes in (any chunking), whole frames out.
 * Frames are pulled one at a time so the caller can stop mid-chunk (back-pressure);
 * unread bytes stay buffered. Payloads are views into the input: copy what you keep.
 */
import { readU32 } from './header.js';
import { HEADER_SIZE, PAYLOAD_MAX } from './limits.js';

export interface Frame {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  /** View into the received bytes; valid until the next feed(). */
  readonly payload: Buffer;
}

/** A header announced a payload longer than the protocol allows. */
export class FrameTooLongError extends Error {
  constructor(readonly len: number) {
    super(`frame payload of ${len} bytes exceeds ${PAYLOAD_MAX}`);
    this.name = 'FrameTooLongError';
  }
}

const EMPTY = Buffer.alloc(0);

export class FrameDecoder {
  private buf: Buffer = EMPTY;
  private off = 0;
  /** `buf` is the caller's chunk itself, not a copy. */
  private borrowed = false;

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.buf.length - this.off;
  }

  /** A copy of the bytes received and not yet returned as frames (live update hands them on). */
  unread(): Buffer {
    return Buffer.from(this.buf.subarray(this.off));
  }

  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.off === this.buf.length) {
      this.buf = chunk;
      this.borrowed = true;
    } else {
      // Only the tail of a split frame is copied: at most one frame's worth.
      this.buf = Buffer.concat([this.buf.subarray(this.off), chunk]);
      this.borrowed = false;
    }
    this.off = 0;
  }

  /**
   * Makes the unread bytes the decoder's own, for a caller that feeds chunks
   * it will overwrite (a read buffer used again for every read).
   */
  retain(): void {
    if (!this.borrowed) return;
    this.borrowed = false;
    if (this.off < this.buf.length) this.buf = Buffer.from(this.buf.subarray(this.off));
    else this.buf = EMPTY;
    this.off = 0;
  }

  /** The next complete frame, or undefined if more bytes are needed. Throws FrameTooLongError. */
  next(): Frame | undefined {
    const buf = this.buf;
    const at = this.off;
    const avail = buf.length - at;
    if (avail < HEADER_SIZE) return undefined;
    const len = readU32(buf, at + 12);
    if (len > PAYLOAD_MAX) throw new FrameTooLongError(len);
    if (avail < HEADER_SIZE + len) return undefined;
    const start = at + HEADER_SIZE;
    this.off = start + len;
    const payload = buf.subarray(start, this.off);
    if (this.off === buf.length) {
      this.buf = EMPTY;
      this.off = 0;
    }
    return { type: readU32(buf, at), reqId: readU32(buf, at + 4), txId: readU32(buf, at + 8), payload };
  }

  /** Drops everything buffered (connection reset). */
  reset(): void {
    this.buf = EMPTY;
    this.off = 0;
    this.borrowed = false;
  }
}
