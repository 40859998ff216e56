/**
 * Checks made before anything is sent, so that bad input fails with a clear
 * EINVAL at the call site. The rules are the protocol's (docs/misc/xenstore.txt):
 * paths may be absolute or relative (resolved by the daemon under the
 * connection's /local/domain/<domid>), and only watches and permissions
 * accept the special '@' names (@introduceDomain, @releaseDomain).
 */
import { ABS_PATH_MAX, REL_PATH_MAX } from '../protocol/limits.js';
import { XenStoreError } from './errors.js';

/** Domain ids run from 0 to DOMID_FIRST_RESERVED - 1 (0x7fef); above are DOMID_SELF and friends. */
export const DOMID_MAX = 0x7fef;

const PATH = /^\/?[A-Za-z0-9_@-]+(\/[A-Za-z0-9_@-]+)*$/;

function pathProblem(path: string): string | undefined {
  if (typeof path !== 'string') return 'not a string';
  if (path === '/') return undefined;
  if (path === '') return 'empty path';
  if (path.startsWith('@')) return 'a special @ name has no value or children (it can be watched, and has permissions)';
  const max = path.startsWith('/') ? ABS_PATH_MAX : REL_PATH_MAX;
  if (path.length > max) return `longer than ${max} characters`;
  if (!PATH.test(path)) return 'only A-Z a-z 0-9 - _ @ in components separated by single /, no trailing /';
  return undefined;
}

/** A node path (absolute or relative). Throws EINVAL. */
export function checkPath(op: string, path: string): void {
  const problem = pathProblem(path);
  if (problem !== undefined) throw new XenStoreError('EINVAL', op, path, `bad path: ${problem}`);
}

/** A path to watch or to get or set permissions of: a node path, or a special name such as @introduceDomain. Throws EINVAL. */
export function checkPathOrSpecial(op: string, path: string): void {
  if (typeof path === 'string' && path.startsWith('@') && path.length <= REL_PATH_MAX && !path.includes('\0')) return;
  checkPath(op, path);
}

/** A domain id: an integer from 0 to DOMID_MAX. Throws EINVAL. */
export function checkDomid(op: string, domid: number): void {
  if (!Number.isInteger(domid) || domid < 0 || domid > DOMID_MAX) {
    throw new XenStoreError('EINVAL', op, undefined, `bad domid ${String(domid)}: expected an integer from 0 to ${DOMID_MAX}`);
  }
}

/** A non-negative integer argument (a depth, a quota, a feature mask, a port). Throws EINVAL. */
export function checkCount(op: string, what: string, n: number | bigint, max = Number.MAX_SAFE_INTEGER): void {
  const ok = typeof n === 'bigint' ? n >= 0n : Number.isInteger(n) && n >= 0 && n <= max;
  if (!ok) throw new XenStoreError('EINVAL', op, undefined, `bad ${what} ${String(n)}: expected a non-negative integer`);
}
