/**
 * Path syntax (docs/misc/xenstore.txt): ASCII alphanumerics and -/_@, absolute
 * paths start with '/', no '//', no trailing '/', length limits; relative paths
 * resolve under the caller's /local/domain/<domid>. Paths starting with '@'
 * name special watch points, not nodes.
 */
import { XsError } from '../protocol/errno.js';
import { ABS_PATH_MAX, REL_PATH_MAX } from '../protocol/limits.js';

/** A canonical absolute node path. `comps` is empty for the root. */
export interface NodePath {
  readonly abs: string;
  readonly comps: readonly string[];
}

const SPECIAL = /^@[^\0]*$/;

export const ROOT: NodePath = { abs: '/', comps: [] };

export function domainHome(domid: number): string {
  return `/local/domain/${domid}`;
}

/** True if `raw` names a special watch point (e.g. "@releaseDomain"). */
export function isSpecial(raw: string): boolean {
  return raw.charCodeAt(0) === 64 /* @ */;
}

/** Validates a special name: any bytes but NUL, bounded like a relative path. */
export function checkSpecial(raw: string): string {
  if (!SPECIAL.test(raw) || raw.length > REL_PATH_MAX) throw new XsError('EINVAL', `bad special path ${JSON.stringify(raw)}`);
  return raw;
}

/** Characters allowed in a path component (the '/' separator apart). */
const COMPONENT_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_@') COMPONENT_CHAR[c.charCodeAt(0)] = 1;

/**
 * Resolves a client-supplied node path for a caller in domain `domid`.
 * Throws EINVAL for anything the protocol forbids (including special '@' paths).
 * One pass over the characters validates and splits (every request resolves
 * a path: this was a regex test, two searches and a split).
 */
export function resolvePath(raw: string, domid: number): NodePath {
  if (raw.length === 0) throw new XsError('EINVAL', 'empty path');
  if (isSpecial(raw)) throw new XsError('EINVAL', `${raw.slice(0, 64)} is not a node`);
  let abs: string;
  if (raw.charCodeAt(0) === 47 /* / */) {
    if (raw.length === 1) return ROOT;
    abs = raw;
  } else {
    if (raw.length > REL_PATH_MAX) throw new XsError('EINVAL', 'relative path too long');
    abs = `${domainHome(domid)}/${raw}`;
  }
  if (abs.length > ABS_PATH_MAX) throw new XsError('EINVAL', 'path too long');
  const comps: string[] = [];
  let start = 1;
  for (let i = 1; i < abs.length; i++) {
    const c = abs.charCodeAt(i);
    if (c === 47) {
      if (i === start) throw new XsError('EINVAL', `bad path ${JSON.stringify(raw.slice(0, 64))}: empty component`);
      comps.push(abs.slice(start, i));
      start = i + 1;
    } else if (c > 127 || COMPONENT_CHAR[c] === 0) {
      throw new XsError('EINVAL', `bad path ${JSON.stringify(raw.slice(0, 64))}: character ${c} not allowed`);
    }
  }
  if (start === abs.length) throw new XsError('EINVAL', `bad path ${JSON.stringify(raw.slice(0, 64))}: trailing /`);
  comps.push(abs.slice(start));
  return { abs, comps };
}

export function pathOf(comps: readonly string[]): NodePath {
  return comps.length === 0 ? ROOT : { abs: `/${comps.join('/')}`, comps };
}

/** Length of the longest common prefix of two component lists. */
export function commonPrefixLength(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** How a path is shown to a watcher who registered it relative to its home. */
export function relativeTo(abs: string, home: string): string {
  return abs.length > home.length && abs.startsWith(home) && abs.charCodeAt(home.length) === 47
    ? abs.slice(home.length + 1)
    : abs;
}
