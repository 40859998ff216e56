/**
 * Value escaping exactly as Xen's xenstore-read/-ls print values, and the
 * unescaping xenstore-write applies to its arguments (docs/cli-compat.md §4).
 */

/** Printable form of a value: \\, \t, \n, \r, \000-\007 in octal, other non-printables as \xHH. */
export function sanitise(v: Uint8Array): string {
  let out = '';
  for (const b of v) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b <= 0x7e) out += String.fromCharCode(b);
    else if (b === 0x09) out += '\\t';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b <= 0x07) out += `\\00${b}`;
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const hexVal = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);

/** C's sscanf("%2x") at `i`: the value and the index after it, or undefined if no digit. */
function scanHex2(s: Uint8Array, i: number): { value: number; next: number } | undefined {
  let j = i;
  while (j < s.length && isSpace(s[j]!)) j++;
  let width = 2;
  let neg = false;
  if (j < s.length && (s[j] === 0x2b || s[j] === 0x2d)) {
    neg = s[j] === 0x2d;
    j++;
    width--;
  }
  let digits = 0;
  let value = 0;
  if (width > 0 && j < s.length && s[j] === 0x30) {
    j++;
    width--;
    digits++;
    if (width > 0 && j < s.length && (s[j] === 0x78 || s[j] === 0x58)) {
      j++;
      width--;
    }
  }
  while (width > 0 && j < s.length && hexVal(s[j]!) >= 0) {
    value = value * 16 + hexVal(s[j]!);
    j++;
    width--;
    digits++;
  }
  if (digits === 0) return undefined;
  return { value: (neg ? -value : value) & 0xff, next: j };
}

/** The bytes xenstore-write stores for argument `arg` (without -R). */
export function unsanitise(arg: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!;
    if (c !== 0x5c) {
      out.push(c);
      continue;
    }
    i++;
    if (i >= arg.length) {
      out.push(0); // a trailing lone backslash stores a NUL
      break;
    }
    const e = arg[i]!;
    if (e === 0x74) out.push(0x09);
    else if (e === 0x6e) out.push(0x0a);
    else if (e === 0x72) out.push(0x0d);
    else if (e === 0x78) {
      const h = scanHex2(arg, i + 1);
      if (h === undefined) out.push(0x78);
      else {
        out.push(h.value);
        i = h.next - 1;
      }
    } else if (e >= 0x30 && e <= 0x37) {
      let v = 0;
      let n = 0;
      while (n < 3 && i < arg.length && arg[i]! >= 0x30 && arg[i]! <= 0x37) {
        v = v * 8 + (arg[i]! - 0x30);
        i++;
        n++;
      }
      i--;
      out.push(v & 0xff);
    } else out.push(e);
  }
  return Buffer.from(out);
}

/** C atoi: leading blanks, optional sign, decimal digits, 0 if none; result cut to signed 32 bits. */
export function atoi(s: string): number {
  const m = /^[\t\n\v\f\r ]*([+-]?)([0-9]*)/.exec(s);
  const digits = m?.[2] ?? '';
  if (digits === '') return 0;
  let v = BigInt(digits);
  if (m?.[1] === '-') v = -v;
  const clamp = 1n << 63n;
  if (v >= clamp) v = clamp - 1n;
  if (v < -clamp) v = -clamp;
  return Number(BigInt.asIntN(32, v));
}

/** glibc's strerror texts for the errno names the protocol uses. */
export const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  EISCONN: 'Transport endpoint is already connected',
  EBADF: 'Bad file descriptor',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Bad file descriptor',
  ECLOSED: 'Bad file descriptor',
  ETIMEDOUT: 'Connection timed out',
  ENOTDIR: 'Not a directory',
};

export const ERRNO_NUMBER: Record<string, number> = {
  EPERM: 1, ENOENT: 2, EIO: 5, E2BIG: 7, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EBUSY: 16, EEXIST: 17,
  EISDIR: 21, EINVAL: 22, ENOSPC: 28, EROFS: 30, ENOSYS: 38, ENOTEMPTY: 39, EISCONN: 106, EBADF: 9,
  ECONNRESET: 9, ECLOSED: 9,
};

export function strerror(code: string): string {
  return STRERROR[code] ?? STRERROR.EINVAL!;
}
