/**
 * Permissions: the first entry names the owner and what every other domain may
 * do; later entries grant a specific domain n/r/w/b. Access rules follow Xen:
 * privileged callers and owners get everything, a domain's own entry wins,
 * otherwise the default; a SET_TARGET'ed domain also acts as its target.
 */
import { XsError } from '../protocol/errno.js';
import { encodeStrings, parseUint } from '../protocol/payload.js';

export type PermKind = 'n' | 'r' | 'w' | 'b';

export interface Perm {
  readonly kind: PermKind;
  readonly domid: number;
}

/** Never empty: [0] is the owner entry. */
export type Perms = readonly [Perm, ...Perm[]];

/** Who is asking: the identity every permission and quota check uses. */
export interface Caller {
  readonly domid: number;
  /** dom0 over the socket (and any domain Xen treats as privileged). */
  readonly privileged: boolean;
  /** Domain this caller may act for (SET_TARGET), if any. */
  readonly target: number | undefined;
}

export const DOMID_MAX = 0x7fef; // DOMID_FIRST_RESERVED - 1

export const DEFAULT_PERMS: Perms = Object.freeze([Object.freeze({ kind: 'n', domid: 0 })]) as unknown as Perms;

const KINDS = new Set(['n', 'r', 'w', 'b']);

export function parsePerm(s: string): Perm {
  const kind = s.charAt(0);
  if (!KINDS.has(kind)) throw new XsError('EINVAL', `bad permission ${JSON.stringify(s)}`);
  return { kind: kind as PermKind, domid: parseUint(s.slice(1), 0xffff) };
}

export function parsePerms(items: readonly string[]): Perms {
  if (items.length === 0) throw new XsError('EINVAL', 'no permissions given');
  const [first, ...rest] = items.map(parsePerm);
  return [first!, ...rest];
}

export function formatPerms(p: readonly Perm[]): string[] {
  return p.map((e) => `${e.kind}${e.domid}`);
}

const encoded = new WeakMap<Perms, Buffer>();

/** GET_PERMS payload, cached per (immutable, shared) perms object. */
export function encodePerms(p: Perms): Buffer {
  let b = encoded.get(p);
  if (b === undefined) {
    b = encodeStrings(formatPerms(p));
    encoded.set(p, b);
  }
  return b;
}

export function ownerOf(p: Perms): number {
  return p[0].domid;
}

export function permsEqual(a: Perms, b: Perms): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.kind !== b[i]!.kind || a[i]!.domid !== b[i]!.domid) return false;
  }
  return true;
}

function access(p: Perms, c: Caller): PermKind {
  if (c.privileged) return 'b';
  const owner = p[0].domid;
  if (owner === c.domid || (c.target !== undefined && owner === c.target)) return 'b';
  for (let i = 1; i < p.length; i++) {
    const e = p[i]!;
    if (e.domid === c.domid || (c.target !== undefined && e.domid === c.target)) return e.kind;
  }
  return p[0].kind;
}

export function canRead(p: Perms, c: Caller): boolean {
  const k = access(p, c);
  return k === 'r' || k === 'b';
}

export function canWrite(p: Perms, c: Caller): boolean {
  const k = access(p, c);
  return k === 'w' || k === 'b';
}

/** Owner rights (SET_PERMS): privileged, the owner, or the owner's targeting domain. */
export function isOwner(p: Perms, c: Caller): boolean {
  return c.privileged || p[0].domid === c.domid || (c.target !== undefined && p[0].domid === c.target);
}

/** Perms of a node created by `c` under a parent with `parent` perms: inherit, creator owns. */
export function inheritPerms(parent: Perms, c: Caller): Perms {
  if (c.privileged || parent[0].domid === c.domid) return parent;
  return [{ kind: parent[0].kind, domid: c.domid }, ...parent.slice(1)];
}

/** Perms with every entry naming `domid` removed; the owner entry passes to dom0. */
export function withoutDomain(p: Perms, domid: number): Perms {
  if (!p.some((e) => e.domid === domid)) return p;
  const head: Perm = p[0].domid === domid ? { kind: p[0].kind, domid: 0 } : p[0];
  return [head, ...p.slice(1).filter((e) => e.domid !== domid)];
}
