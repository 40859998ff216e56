// The memory estimate old revisions are bounded by: replacedBytes(before,
// after), computed by walking only what changed, equals the cost of every node
// object reachable from `before` and not from `after` (values shared with a
// node of `after` not counted), computed the slow way over random stores;
// also when told the path below which a step's changes lie (its change list's
// common prefix), as the daemon does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { childNodes } from '../../src/store/children.js';
import { changeScope, NODE_OVERHEAD, nodeBytes, replacedBytes, subtreeBytes } from '../../src/store/cost.js';
import type { Node } from '../../src/store/node.js';
import { DEFAULT_PERMS } from '../../src/store/perms.js';
import type { Change } from '../../src/store/state.js';
import { buildStore, runStoreStep, scriptArb } from '../helpers/persist.js';

function reachable(root: Node): Node[] {
  const out: Node[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    out.push(n);
    stack.push(...childNodes(n.children));
  }
  return out;
}

function slowReplacedBytes(before: Node, after: Node): number {
  const live = reachable(after);
  const nodes = new Set(live);
  const values = new Set(live.map((n) => n.value));
  let total = 0;
  for (const n of reachable(before)) {
    if (nodes.has(n)) continue;
    total += NODE_OVERHEAD + n.name.length + (values.has(n.value) ? 0 : n.value.length);
  }
  return total;
}

describe('cost', () => {
  test('replacedBytes(before, after) equals the slow reachability count, for every step of random scripts', () => {
    fc.assert(
      fc.property(scriptArb(30), (script) => {
        const store = buildStore([]);
        for (const step of script) {
          const before = store.root;
          const changes = runStoreStep(store, step);
          const slow = slowReplacedBytes(before, store.root);
          assert.equal(replacedBytes(before, store.root), slow, step.op);
          assert.equal(replacedBytes(before, store.root, changeScope(changes)), slow, `${step.op}, within /${changeScope(changes).join('/')}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('a removed subtree costs all of it; an unchanged root costs nothing', () => {
    const store = buildStore([{ op: 'wide', path: ['w'], count: 40, value: Buffer.alloc(100) }]);
    const before = store.root;
    assert.equal(replacedBytes(before, before), 0);
    runStoreStep(store, { op: 'rm', path: ['w'] });
    const removed = reachable(before).filter((n) => !new Set(reachable(store.root)).has(n));
    assert.equal(replacedBytes(before, store.root), removed.reduce((t, n) => t + nodeBytes(n), 0) - before.value.length);
    assert.ok(subtreeBytes(before) >= 40 * (NODE_OVERHEAD + 100));
  });

  test('changeScope is the longest common prefix of the changed paths (the root for none)', () => {
    const at = (...comps: string[]): Change => ({ path: { abs: `/${comps.join('/')}`, comps }, perms: DEFAULT_PERMS, removed: false });
    assert.deepEqual(changeScope([]), []);
    assert.deepEqual(changeScope([at('a', 'b', 'c')]), ['a', 'b', 'c']);
    assert.deepEqual(changeScope([at('a', 'b', 'c'), at('a', 'b'), at('a', 'b', 'd', 'e')]), ['a', 'b']);
    assert.deepEqual(changeScope([at('a', 'b'), at('x')]), []);
  });
});
