/**
 * The client's permission model: what GET_PERMS returns and SET_PERMS takes.
 * The first entry names the owner and the access every other domain has.
 */
import { XenStoreError } from './errors.js';

export type Access = 'none' | 'read' | 'write' | 'both';

export interface Permission {
  readonly domid: number;
  readonly access: Access;
}

const LETTER: Record<Access, string> = { none: 'n', read: 'r', write: 'w', both: 'b' };
const ACCESS: Record<string, Access> = { n: 'none', r: 'read', w: 'write', b: 'both' };

/** Parses Xen's string form, e.g. "r5" -> { domid: 5, access: 'read' }. */
export function parsePermission(s: string): Permission {
  const access = ACCESS[s.charAt(0)];
  const digits = s.slice(1);
  if (access === undefined || !/^[0-9]{1,5}$/.test(digits) || Number(digits) > 0xffff) {
    throw new XenStoreError('EINVAL', 'PERMS', undefined, `bad permission ${JSON.stringify(s)}: expected n, r, w or b followed by a domid`);
  }
  return { domid: Number(digits), access };
}

export function formatPermission(p: Permission): string {
  return `${LETTER[p.access]}${p.domid}`;
}
