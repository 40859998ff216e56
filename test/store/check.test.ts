// checkTree recounts owners (the root excluded) and flags bad names, unsorted
// children and empty perms; compareCounts lists every per-domain mismatch.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { checkTree, compareCounts } from '../../src/store/check.js';
import { EMPTY_VALUE, makeNode } from '../../src/store/node.js';
import { DEFAULT_PERMS, parsePerms, type Perms } from '../../src/store/perms.js';
import { mkdir, setPerms } from '../../src/store/ops.js';
import { Store } from '../../src/store/store.js';
import { ctxOf, P } from '../support/fixtures.js';

test('recounts nodes per owner, not counting the root', () => {
  const s = new Store();
  const c = ctxOf(s);
  mkdir(c, P('/a/b'));
  mkdir(c, P('/c'));
  setPerms(c, P('/c'), parsePerms(['n4', 'r0']));
  const r = checkTree(s.root);
  assert.equal(r.nodes, 4);
  assert.deepEqual([...r.counts].sort(), [[0, 2], [4, 1]]);
  assert.deepEqual(r.problems, []);
});

const leaf = (name: string, perms: Perms = DEFAULT_PERMS) => makeNode(name, EMPTY_VALUE, perms, 0);
const NO_PERMS = [] as unknown as Perms;

test('flags bad names and unsorted children', () => {
  const bad = makeNode('', EMPTY_VALUE, DEFAULT_PERMS, 0, [leaf('b'), leaf('a'), leaf('x y')]);
  const r = checkTree(bad);
  assert.ok(r.problems.some((p) => p.includes('out of order at a')), r.problems.join('; '));
  assert.ok(r.problems.some((p) => p.includes('/x y: bad name')), r.problems.join('; '));
  assert.equal(r.problems.length, 2);
});

test('flags a root without permissions', () => {
  const r = checkTree(makeNode('', EMPTY_VALUE, NO_PERMS, 0));
  assert.deepEqual(r.problems, ['/: no permissions']);
});

test(
  'flags a non-root node without permissions',
  () => {
    const r = checkTree(makeNode('', EMPTY_VALUE, DEFAULT_PERMS, 0, [leaf('z', NO_PERMS)]));
    assert.deepEqual(r.problems, ['/z: no permissions']);
  },
);

test('compareCounts reports each domain whose counts differ, treating absent as 0', () => {
  assert.deepEqual(compareCounts(new Map([[1, 2]]), new Map([[1, 2]])), []);
  const diff = compareCounts(new Map([[1, 2], [2, 1]]), new Map([[1, 3], [3, 1]]));
  assert.equal(diff.length, 3);
  assert.ok(diff.includes('domain 1 owns 2 nodes but is charged for 3'));
  assert.ok(diff.includes('domain 2 owns 1 nodes but is charged for 0'));
  assert.ok(diff.includes('domain 3 owns 0 nodes but is charged for 1'));
});
