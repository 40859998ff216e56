/**
 * The client's one error class. `code` is the protocol's errno name (ENOENT,
 * EACCES, EAGAIN, ...) for errors the daemon answered, or the system's code
 * (ECONNREFUSED, ECONNRESET, ...) for connection failures.
 */
import type { Errno } from '../protocol/errno.js';

export type XenStoreErrorCode = Errno | 'ECONNREFUSED' | 'ECONNRESET' | 'ECLOSED' | 'ETIMEDOUT' | 'EOVERFLOW' | 'EPROTO' | string;

export class XenStoreError extends Error {
  readonly code: XenStoreErrorCode;
  /** The operation that failed, e.g. "READ". */
  readonly op: string;
  /** The path it was about, if any. */
  readonly path: string | undefined;
  /** Extra explanation, if any. */
  readonly detail: string | undefined;

  constructor(code: XenStoreErrorCode, op: string, path?: string, detail?: string) {
    super(`${op}${path === undefined ? '' : ` ${path}`}: ${code}${detail === undefined ? '' : ` (${detail})`}`);
    this.name = 'XenStoreError';
    this.code = code;
    this.op = op;
    this.path = path;
    this.detail = detail;
  }
}
