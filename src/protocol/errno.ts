/**
 * The one place where errors become wire strings. Handlers throw XsError with
 * an errno name from xs_wire.h; the dispatcher turns it into "ENAME\0".
 */
export const ERRNO_NAMES = [
  'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO',
  'ENOTEMPTY', 'ENOSYS', 'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG', 'EPERM',
] as const;

export type Errno = (typeof ERRNO_NAMES)[number];

/**
 * A protocol-level failure, answered to the client as an ERROR message: an
 * answer, not a bug, so it carries no stack trace (V8 captures one for every
 * Error it constructs, which was 7% of the daemon's time in a profile of
 * clients conflicting on one counter).
 */
export class XsError extends Error {
  readonly errno: Errno;
  constructor(errno: Errno, detail?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(detail === undefined ? errno : `${errno}: ${detail}`);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.errno = errno;
    this.name = 'XsError';
  }
}

const wire = new Map<string, Buffer>(ERRNO_NAMES.map((e) => [e, Buffer.from(`${e}\0`, 'latin1')]));

/** Wire payload of an ERROR reply for `errno` (shared, never mutate). */
export function errorPayload(errno: Errno): Buffer {
  const b = wire.get(errno);
  if (b === undefined) throw new Error(`unknown errno ${errno}`);
  return b;
}

export function isErrno(s: string): s is Errno {
  return (ERRNO_NAMES as readonly string[]).includes(s);
}

/**
 * The wire errno for a system call's failure (a file a command writes, a log
 * file): its own code where XenStore has the same name, else `fallback`.
 */
export function systemErrno(e: unknown, fallback: Errno = 'EIO'): Errno {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (ERRNO_NAMES as readonly string[]).includes(code) ? (code as Errno) : fallback;
}
