/**
 * Payload field syntax: NUL-terminated strings, optionally followed by raw bytes.
 * Every parser here returns typed values or throws XsError('EINVAL').
 */
import { XsError } from './errno.js';

const NUL = 0;

/**
 * The first NUL in `p` at or after `from` (and before `end`), or -1. A plain
 * loop: the strings searched are paths and tokens, and Buffer's indexOf is a
 * call into C++.
 */
export function nulAt(p: Uint8Array, from: number, end = p.length): number {
  for (let i = from; i < end; i++) if (p[i] === NUL) return i;
  return -1;
}

/** The single NUL-terminated string a request carries (READ, RM, ...). Trailing bytes after the NUL are rejected. */
export function oneString(p: Buffer): string {
  const end = nulAt(p, 0);
  if (end < 0 || end !== p.length - 1) throw new XsError('EINVAL', 'expected one NUL-terminated argument');
  return p.toString('latin1', 0, end);
}

/**
 * Splits `p` into NUL-terminated strings. A trailing unterminated piece is kept
 * as a last element only if `allowUnterminatedTail`.
 */
export function strings(p: Buffer, allowUnterminatedTail = false): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < p.length) {
    const end = nulAt(p, start);
    if (end < 0) {
      if (!allowUnterminatedTail) throw new XsError('EINVAL', 'argument is not NUL-terminated');
      out.push(p.toString('latin1', start, p.length));
      break;
    }
    out.push(p.toString('latin1', start, end));
    start = end + 1;
  }
  return out;
}

/** WRITE's payload: a NUL-terminated path, then the value (binary, may be empty). */
export function pathAndValue(p: Buffer): { path: string; value: Buffer } {
  const end = nulAt(p, 0);
  if (end < 0) throw new XsError('EINVAL', 'WRITE needs a NUL after the path');
  return { path: p.toString('latin1', 0, end), value: p.subarray(end + 1) };
}

/** Encodes strings each followed by a NUL. */
export function encodeStrings(items: readonly string[]): Buffer {
  let n = 0;
  for (const s of items) n += s.length + 1;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  for (const s of items) {
    o += out.write(s, o, 'latin1');
    out[o++] = NUL;
  }
  return out;
}

/** Strict unsigned decimal (what domids, ports and counts are on the wire). */
export function parseUint(s: string, max: number): number {
  if (!/^[0-9]{1,10}$/.test(s)) throw new XsError('EINVAL', `not an unsigned number: ${JSON.stringify(s)}`);
  const n = Number(s);
  if (n > max) throw new XsError('EINVAL', `${s} is out of range`);
  return n;
}
