/**
 * The 16-byte message header: four little-endian u32 (type, req_id, tx_id, len).
 */
import { HEADER_SIZE } from './limits.js';

export interface Header {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly len: number;
}

/** The little-endian u32 at `off` (no view object: the decoder reads four per frame). */
export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) + buf[off + 3]! * 0x100_0000;
}

export function readHeader(buf: Uint8Array, off: number): Header {
  if (off < 0 || off + HEADER_SIZE > buf.length) throw new RangeError(`no ${HEADER_SIZE}-byte header at offset ${off} of ${buf.length} bytes`);
  return { type: readU32(buf, off), reqId: readU32(buf, off + 4), txId: readU32(buf, off + 8), len: readU32(buf, off + 12) };
}

/** Writes `v` (a u32) little-endian at `off`. */
function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v;
  buf[off + 1] = v >>> 8;
  buf[off + 2] = v >>> 16;
  buf[off + 3] = v >>> 24;
}

/** Writes a header at `off` (each field a u32, as on the wire). */
export function writeHeader(buf: Uint8Array, off: number, type: number, reqId: number, txId: number, len: number): void {
  if (off < 0 || off + HEADER_SIZE > buf.length) throw new RangeError(`no room for a ${HEADER_SIZE}-byte header at offset ${off} of ${buf.length} bytes`);
  writeU32(buf, off, type);
  writeU32(buf, off + 4, reqId);
  writeU32(buf, off + 8, txId);
  writeU32(buf, off + 12, len);
}
