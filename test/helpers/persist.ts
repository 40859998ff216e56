/**
 * Helpers for the persistence tests (state stream, snapshots, durability,
 * history, live update):
 *
 *  - flatten()/treeText(): a tree as comparable data (paths, values, perms;
 *    generations left out), for "identical tree" assertions.
 *  - scriptArb / buildStore(): random busy stores for the property tests:
 *    values with NUL bytes, every permission kind, deep paths, wide
 *    directories (past the small-array bound of the child lists), removals.
 *  - tempDir(): private temp directories, removed by cleanup().
 *  - pid helpers: readPidFile(), isAlive(), killAndWait() (one pid at a time,
 *    never by name).
 *  - tmpfs: mountTmpfs()/unmount() for the disk-full test (needs root).
 *  - offsetOf(): the byte offset a StreamError message names.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';

import { XsError } from '../../src/protocol/errno.js';
import { childNodes } from '../../src/store/children.js';
import type { Node } from '../../src/store/node.js';
import { mkdir, rm, setPerms, write } from '../../src/store/ops.js';
import { resolvePath } from '../../src/store/path.js';
import { formatPerms, type Perm, type PermKind, type Perms } from '../../src/store/perms.js';
import { Store } from '../../src/store/store.js';
import type { Change, OpContext } from '../../src/store/state.js';
import { waitFor } from './daemon.js';

// ---- trees as data ------------------------------------------------------------

export interface FlatNode {
  readonly path: string;
  readonly value: string; // hex
  readonly perms: string; // "n0,r5"
}

const join2 = (base: string, name: string): string => (base === '/' ? `/${name}` : `${base}/${name}`);

/** Every node, parents first, children in name order: the tree as comparable data. */
export function flatten(root: Node, at = '/'): FlatNode[] {
  const out: FlatNode[] = [];
  const stack: Array<[Node, string]> = [[root, at]];
  while (stack.length > 0) {
    const [n, p] = stack.pop()!;
    out.push({ path: p, value: n.value.toString('hex'), perms: formatPerms(n.perms).join(',') });
    const kids = [...childNodes(n.children)];
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i]!, join2(p, kids[i]!.name)]);
  }
  return out;
}

/** Asserts two trees hold the same nodes, values and permissions (generations may differ). */
export function assertSameTree(actual: Node, expected: Node, msg?: string): void {
  assert.deepEqual(flatten(actual), flatten(expected), msg);
}

// ---- random busy stores -----------------------------------------------------------

const DOM0_CTX = (s: Store): OpContext => ({ state: s, caller: { domid: 0, privileged: true, target: undefined }, limits: undefined, home: '/local/domain/0' });

export type StoreStep =
  | { readonly op: 'write'; readonly path: readonly string[]; readonly value: Uint8Array }
  | { readonly op: 'mkdir'; readonly path: readonly string[] }
  | { readonly op: 'perms'; readonly path: readonly string[]; readonly perms: readonly Perm[] }
  | { readonly op: 'rm'; readonly path: readonly string[] }
  | { readonly op: 'wide'; readonly path: readonly string[]; readonly count: number; readonly value: Uint8Array }
  | { readonly op: 'deep'; readonly path: readonly string[]; readonly depth: number; readonly value: Uint8Array };

/** Node names: a few, so that random steps hit the same nodes again; every legal character class. */
const nameArb = fc.constantFrom('a', 'b', 'c', 'dev-1', 'x_y', '@t', 'Z9', 'local', 'domain');
const pathArb = fc.array(nameArb, { minLength: 1, maxLength: 5 });

/** Values: empty, binary with NULs, NUL-heavy, text. */
export const valueArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.uint8Array({ maxLength: 48 }),
  fc.array(fc.constantFrom(0, 0, 0x41, 0xff, 0x0a), { maxLength: 24 }).map((a) => Uint8Array.from(a)),
  fc.string({ maxLength: 20 }).map((s) => Buffer.from(s, 'utf8')),
);

export const permKindArb: fc.Arbitrary<PermKind> = fc.constantFrom('n', 'r', 'w', 'b');
export const permArb: fc.Arbitrary<Perm> = fc.record({ kind: permKindArb, domid: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 0x7fef })) }, { noNullPrototype: true });
export const permsArb: fc.Arbitrary<Perm[]> = fc.array(permArb, { minLength: 1, maxLength: 5 });

export const stepArb: fc.Arbitrary<StoreStep> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('write' as const), path: pathArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mkdir' as const), path: pathArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('perms' as const), path: pathArb, perms: permsArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rm' as const), path: pathArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('wide' as const), path: pathArb, count: fc.integer({ min: 20, max: 45 }), value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deep' as const), path: pathArb, depth: fc.integer({ min: 10, max: 60 }), value: valueArb }) },
);

export const scriptArb = (maxLength = 40): fc.Arbitrary<StoreStep[]> => fc.array(stepArb, { minLength: 1, maxLength });

const abs = (comps: readonly string[]): string => `/${comps.join('/')}`;

/** Runs one step as dom0; refusals (e.g. perms of a missing node) are part of the game. Returns the changes it recorded. */
export function runStoreStep(s: Store, step: StoreStep): Change[] {
  const ctx = DOM0_CTX(s);
  const P = (comps: readonly string[]) => resolvePath(abs(comps), 0);
  try {
    switch (step.op) {
      case 'write':
        write(ctx, P(step.path), Buffer.from(step.value));
        break;
      case 'mkdir':
        mkdir(ctx, P(step.path));
        break;
      case 'perms':
        setPerms(ctx, P(step.path), step.perms as unknown as Perms);
        break;
      case 'rm':
        rm(ctx, P(step.path));
        break;
      case 'wide':
        for (let i = 0; i < step.count; i++) write(ctx, P([...step.path, `w${String(i).padStart(3, '0')}`]), Buffer.from(step.value));
        break;
      case 'deep': {
        const comps = [...step.path];
        for (let i = 0; i < step.depth; i++) comps.push(`d${i % 7}`);
        write(ctx, P(comps), Buffer.from(step.value));
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof XsError)) throw e;
  }
  return [...s.takeChanges()];
}

/** A fresh store (with the daemon's usual /local and /tool/xenstored) after `steps`. */
export function buildStore(steps: readonly StoreStep[], base?: Store): Store {
  const s = base ?? new Store();
  if (base === undefined) {
    runStoreStep(s, { op: 'mkdir', path: ['local'] });
    runStoreStep(s, { op: 'mkdir', path: ['tool', 'xenstored'] });
  }
  for (const st of steps) runStoreStep(s, st);
  return s;
}

// ---- temp dirs, processes -------------------------------------------------------------

const dirs: string[] = [];

/** A private temp directory, removed by cleanupTempDirs(). */
export function tempDir(prefix = 'tsxs-persist-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** True while `pid` runs (an exited process nobody has reaped yet counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !isZombie(pid);
}

/** The pid a --pid-file holds, or undefined if it is missing or unreadable. */
export function readPidFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const t = readFileSync(file, 'utf8').trim();
  return /^[0-9]+$/.test(t) ? Number(t) : undefined;
}

/** Sends `signal` to one pid and waits until it is gone (SIGKILL after the grace period). */
export async function killAndWait(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  try {
    await waitFor(() => !isAlive(pid), { timeoutMs: graceMs, what: `pid ${pid} to exit`, intervalMs: 20 });
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    await waitFor(() => !isAlive(pid), { what: `pid ${pid} to exit after SIGKILL`, intervalMs: 20 });
  }
}

/** A child of ours that exited but was not reaped yet counts as gone. */
function isZombie(pid: number): boolean {
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

// ---- tmpfs (disk full) --------------------------------------------------------------

/** Mounts a tmpfs of `size` on `dir`; the reason it cannot, or undefined on success. */
export function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs needs Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'mounting a tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    return undefined;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return `mount -t tmpfs failed here: ${err.stderr?.toString().trim() || err.message}`;
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
  }
}

// ---- stream errors ----------------------------------------------------------------

/** The byte offset a "state stream, byte N: ..." message names, or undefined. */
export function offsetOf(message: string): number | undefined {
  const m = /byte ([0-9]+)/.exec(message);
  return m === null ? undefined : Number(m[1]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
