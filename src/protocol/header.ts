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

export function readHeader(buf: Uint8Array, off: number): Header {
  const dv = new DataView(buf.buffer, buf.byteOffset + off, HEADER_SIZE);
  return {
    type: dv.getUint32(0, true),
    reqId: dv.getUint32(4, true),
    txId: dv.getUint32(8, true),
    len: dv.getUint32(12, true),
  };
}

export function writeHeader(buf: Buffer, off: number, type: number, reqId: number, txId: number, len: number): void {
  buf.writeUInt32LE(type, off);
  buf.writeUInt32LE(reqId, off + 4);
  buf.writeUInt32LE(txId, off + 8);
  buf.writeUInt32LE(len, off + 12);
}
