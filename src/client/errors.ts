/**
 * The client's errors. Every failure is a XenStoreError whose `code` is one
 * member of a closed union: the protocol's errno names, a few connection
 * codes, and EUNKNOWN for anything else (the original text kept in `detail`).
 */
import { ERRNO_NAMES, type Errno } from '../protocol/errno.js';

/** Codes of failures on the client's side of the wire (connection, local checks, cancellation). */
export const CLIENT_ERROR_CODES = [
  /** Nothing listens on the socket (or, for a guest, the ring cannot be reached). */
  'ECONNREFUSED',
  /** The daemon closed the connection, or it failed, while requests were outstanding. */
  'ECONNRESET',
  /** The client was closed by its owner. */
  'ECLOSED',
  /** A request, a connection attempt or a transaction's deadline ran out. */
  'ETIMEDOUT',
  /** The caller's AbortSignal fired. */
  'ECANCELED',
  /** A watch's consumer fell more than the buffer behind. */
  'EOVERFLOW',
  /** The daemon broke the protocol (an oversize frame, a reply to no request). */
  'EPROTO',
  /** Catch-all: an error string or system code this version does not know; see `detail`. */
  'EUNKNOWN',
] as const;

/** Every code a XenStoreError can carry: closed, so `switch (e.code)` can be exhaustive. */
export type XenStoreErrorCode = Errno | (typeof CLIENT_ERROR_CODES)[number];

const KNOWN = new Set<string>([...ERRNO_NAMES, ...CLIENT_ERROR_CODES]);

/** True if `s` is a member of XenStoreErrorCode. */
export function isXenStoreErrorCode(s: string): s is XenStoreErrorCode {
  return KNOWN.has(s);
}

/** Maps a wire error string or a system error code into the union; unknown ones become EUNKNOWN. */
export function toErrorCode(s: string): XenStoreErrorCode {
  return isXenStoreErrorCode(s) ? s : 'EUNKNOWN';
}

export interface XenStoreErrorOptions {
  /** The underlying error (a system error, the AbortSignal's reason). */
  readonly cause?: unknown;
  /** The error's name: 'XenStoreError' unless it is an AbortError or TimeoutError. */
  readonly name?: 'XenStoreError' | 'AbortError' | 'TimeoutError';
}

export class XenStoreError extends Error {
  readonly code: XenStoreErrorCode;
  /** The operation that failed, e.g. "READ", or "CONNECT". */
  readonly op: string;
  /** The path it was about, if any. */
  readonly path: string | undefined;
  /** Extra explanation, if any (for EUNKNOWN: the unrecognised code). */
  readonly detail: string | undefined;

  constructor(code: XenStoreErrorCode, op: string, path?: string, detail?: string, options: XenStoreErrorOptions = {}) {
    super(`${op}${path === undefined ? '' : ` ${path}`}: ${code}${detail === undefined ? '' : ` (${detail})`}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = options.name ?? 'XenStoreError';
    this.code = code;
    this.op = op;
    this.path = path;
    this.detail = detail;
  }
}

/** A request given up because its AbortSignal fired: name 'AbortError', code ECANCELED, `cause` the signal's reason. */
export function abortError(op: string, path: string | undefined, reason: unknown): XenStoreError {
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new XenStoreError(timedOut ? 'ETIMEDOUT' : 'ECANCELED', op, path, timedOut ? 'the signal timed out' : 'aborted', {
    cause: reason,
    name: timedOut ? 'TimeoutError' : 'AbortError',
  });
}

/** A request given up because its timeoutMs passed: name 'TimeoutError', code ETIMEDOUT. */
export function timeoutError(op: string, path: string | undefined, timeoutMs: number): XenStoreError {
  return new XenStoreError('ETIMEDOUT', op, path, `no reply within ${timeoutMs} ms`, { name: 'TimeoutError' });
}
