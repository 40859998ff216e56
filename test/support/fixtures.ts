// Shared helpers for the unit tests: callers, op contexts, path shorthands, XsError
// matchers, tree snapshots, and random operation scripts for the property tests.
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { XsError, type Errno } from '../../src/protocol/errno.js';
import { childNodes } from '../../src/store/children.js';
import { checkTree, compareCounts } from '../../src/store/check.js';
import type { Node } from '../../src/store/node.js';
import { domainHome, resolvePath, type NodePath } from '../../src/store/path.js';
import { directory, mkdir, read, rm, setPerms, write } from '../../src/store/ops.js';
import { formatPerms, parsePerms, type Caller } from '../../src/store/perms.js';
import type { Limits, OpContext, TreeState } from '../../src/store/state.js';
import { Store } from '../../src/store/store.js';

export const DOM0: Caller = { domid: 0, privileged: true, target: undefined };

export function guest(domid: number, target?: number): Caller {
  return { domid, privileged: false, target };
}

export function ctxOf(state: TreeState, caller: Caller = DOM0, limits?: Limits): OpContext {
  return { state, caller, limits, home: domainHome(caller.domid) };
}

/** An absolute path as a NodePath (resolved for dom0). */
export function P(abs: string): NodePath {
  return resolvePath(abs, 0);
}

export function B(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** assert.throws matcher for an XsError with the given errno. */
export function xs(errno: Errno): { name: string; errno: Errno } {
  return { name: 'XsError', errno };
}

/** Every node of a tree as "path -> value|perms", generations left out. */
export function snapshot(root: Node): Map<string, string> {
  const out = new Map<string, string>();
  const stack: Array<[Node, string]> = [[root, '']];
  while (stack.length > 0) {
    const [n, path] = stack.pop()!;
    out.set(path || '/', `${n.value.toString('latin1')}|${formatPerms(n.perms).join(',')}`);
    for (const c of childNodes(n.children)) stack.push([c, `${path}/${c.name}`]);
  }
  return out;
}

/** The store's running per-owner counts equal a recount, and the tree is well formed. */
export function assertConsistent(store: Store): void {
  const report = checkTree(store.root);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(compareCounts(report.counts, store.usageTable()), []);
}

/* Random operation scripts, shared by the store, purge and transaction properties. */

export type OpStep =
  | { kind: 'write'; path: string; value: string }
  | { kind: 'mkdir' | 'rm' | 'read' | 'directory'; path: string }
  | { kind: 'setPerms'; path: string; perms: string[] };

/** dom0, two guests, and a guest acting for domain 1 (SET_TARGET). */
export const CALLERS: readonly Caller[] = [DOM0, guest(1), guest(2), guest(3, 1)];

/** Quotas for unprivileged callers in random scripts: small enough to be hit. */
export const STEP_LIMITS: Limits = { nodes: 8, nodeSize: 5, nodePerms: 2, pathMax: 30 };

/** Paths below /, /local/domain/1 and /local/domain/2 (never the root itself). */
export const stepPathArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('', '/local/domain/1', '/local/domain/2'),
    fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }),
  )
  .map(([prefix, comps]) => `${prefix}/${comps.join('/')}`);

const stepPermArb = fc.tuple(fc.constantFrom('n', 'r', 'w', 'b'), fc.nat({ max: 3 })).map(([k, d]) => `${k}${d}`);

export const opStepArb: fc.Arbitrary<OpStep> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), path: stepPathArb, value: fc.string({ maxLength: 7 }) }),
  fc.record({
    kind: fc.constantFrom('mkdir' as const, 'rm' as const, 'read' as const, 'directory' as const),
    path: stepPathArb,
  }),
  fc.record({
    kind: fc.constant('setPerms' as const),
    path: stepPathArb,
    perms: fc.array(stepPermArb, { minLength: 1, maxLength: 3 }),
  }),
);

export const scriptArb = (maxLength: number): fc.Arbitrary<Array<[Caller, OpStep]>> =>
  fc.array(fc.tuple(fc.constantFrom(...CALLERS), opStepArb), { maxLength });

/** Runs one step; unprivileged callers get STEP_LIMITS. Throws what the op throws. */
export function runStep(state: TreeState, who: Caller, op: OpStep): void {
  const ctx = ctxOf(state, who, who.privileged ? undefined : STEP_LIMITS);
  const p = P(op.path);
  switch (op.kind) {
    case 'write':
      return write(ctx, p, B(op.value));
    case 'mkdir':
      return mkdir(ctx, p);
    case 'rm':
      return rm(ctx, p);
    case 'read':
      read(ctx, p);
      return;
    case 'directory':
      directory(ctx, p);
      return;
    case 'setPerms':
      return setPerms(ctx, p, parsePerms(op.perms));
  }
}

/** Runs a script, ignoring XsErrors (anything else is rethrown). */
export function runScript(state: TreeState, script: ReadonlyArray<readonly [Caller, OpStep]>): void {
  for (const [who, op] of script) {
    try {
      runStep(state, who, op);
    } catch (e) {
      if (!(e instanceof XsError)) throw e;
    }
  }
}

/** A store with /local/domain/1 and /local/domain/2 owned by their domains. */
export function startWorld(): Store {
  const s = new Store();
  for (const d of [1, 2]) {
    mkdir(ctxOf(s), P(`/local/domain/${d}`));
    setPerms(ctxOf(s), P(`/local/domain/${d}`), parsePerms([`n${d}`]));
  }
  s.takeChanges();
  return s;
}
