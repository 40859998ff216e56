// diffTrees / applyChanges: for random pairs of trees (sharing structure, as
// successive roots of one store do, or built independently), applying the
// diff of a to b onto a gives b; the diff of identical trees is empty; every
// change listed is a real one, parents come first, a removed subtree once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { changeScope } from '../../src/store/cost.js';
import { applyChanges, diffTrees, diffTreesWithin, type NodeChange } from '../../src/store/diff.js';
import type { Node } from '../../src/store/node.js';
import { permsEqual } from '../../src/store/perms.js';
import { restoreState, nodeRecords } from '../../src/state/snapshot.js';
import { lookup } from '../../src/store/tree.js';
import { assertSameTree, buildStore, flatten, runStoreStep, scriptArb } from '../helpers/persist.js';

const comps = (p: string): string[] => (p === '/' ? [] : p.slice(1).split('/'));
const parentOf = (p: string): string => p.slice(0, p.lastIndexOf('/')) || '/';

function gen(): () => number {
  let g = 1_000_000;
  return () => ++g;
}

/** The properties every diff must have. */
function checkDiff(a: Node, b: Node): NodeChange[] {
  const changes = diffTrees(a, b);
  assertSameTree(applyChanges(a, changes, gen()), b, 'apply(diff(a, b), a) = b');
  const setSoFar = new Set<string>();
  const deleted = new Set<string>();
  for (const c of changes) {
    const before = lookup(a, comps(c.path));
    const after = lookup(b, comps(c.path));
    if (c.kind === 'delete') {
      assert.ok(before !== undefined && after === undefined, `delete ${c.path}: present before, absent after`);
      assert.ok(lookup(b, comps(parentOf(c.path))) !== undefined, `delete ${c.path} is listed once, at the top of the removed subtree`);
      assert.ok(!deleted.has(c.path));
      deleted.add(c.path);
    } else {
      assert.ok(after !== undefined, `set ${c.path}: present after`);
      assert.ok(c.value.equals(after.value) && permsEqual(c.perms, after.perms), `set ${c.path} carries the new value and perms`);
      if (before !== undefined) {
        assert.ok(!before.value.equals(after.value) || !permsEqual(before.perms, after.perms), `set ${c.path}: something changed`);
      }
      if (c.path !== '/') {
        const parent = parentOf(c.path);
        assert.ok(setSoFar.has(parent) || lookup(a, comps(parent)) !== undefined, `set ${c.path}: parent first`);
      }
      assert.ok(!setSoFar.has(c.path), `set ${c.path} once`);
      setSoFar.add(c.path);
    }
  }
  return changes;
}

describe('diffTrees + applyChanges', () => {
  test('successive roots of one store (shared structure): apply(diff(a, b), a) = b', () => {
    fc.assert(
      fc.property(scriptArb(40), scriptArb(25), (s1, s2) => {
        const store = buildStore(s1);
        const a = store.root;
        buildStore(s2, store);
        checkDiff(a, store.root);
        checkDiff(store.root, a); // and back
      }),
      { numRuns: 150 },
    );
  });

  test('independently built trees: apply(diff(a, b), a) = b', () => {
    fc.assert(
      fc.property(scriptArb(40), scriptArb(40), (s1, s2) => {
        checkDiff(buildStore(s1).root, buildStore(s2).root);
      }),
      { numRuns: 150 },
    );
  });

  test('the diff of identical roots is empty, by identity and by value', () => {
    fc.assert(
      fc.property(scriptArb(40), (s) => {
        const root = buildStore(s).root;
        assert.deepEqual(diffTrees(root, root), []);
        const copy = restoreState([...nodeRecords(root)]).root; // same content, no shared objects
        assert.notEqual(copy, root);
        assert.deepEqual(diffTrees(root, copy), []);
        assert.deepEqual(diffTrees(copy, root), []);
      }),
      { numRuns: 80 },
    );
  });

  test('a known change list, in the documented order', () => {
    const store = buildStore([
      { op: 'write', path: ['x'], value: Buffer.from('1') },
      { op: 'write', path: ['y', 'z'], value: Buffer.from('2') },
    ]);
    const a = store.root;
    buildStore(
      [
        { op: 'perms', path: ['x'], perms: [{ kind: 'r', domid: 0 }] },
        { op: 'rm', path: ['y'] },
        { op: 'write', path: ['w', 'q'], value: Buffer.from('3\0') },
      ],
      store,
    );
    const summary = diffTrees(a, store.root).map((c) => (c.kind === 'delete' ? `- ${c.path}` : `+ ${c.path} ${c.value.toString('hex')}`));
    assert.deepEqual(summary, ['- /y', '+ /w ', '+ /w/q 3300', '+ /x 31']);
  });

  test('a root-only change (value and perms of /)', () => {
    const store = buildStore([{ op: 'write', path: ['k'], value: Buffer.from('v') }]);
    const a = store.root;
    const b: Node = { ...a, value: Buffer.from('rootval'), perms: [{ kind: 'b', domid: 0 }] };
    const changes = checkDiff(a, b);
    assert.deepEqual(
      changes.map((c) => c.path),
      ['/'],
    );
  });

  test('applyChanges refuses a set whose parent is missing', () => {
    const a = buildStore([]).root;
    assert.throws(() => applyChanges(a, [{ kind: 'set', path: '/no/parent', value: Buffer.alloc(0), perms: [{ kind: 'n', domid: 0 }] }], gen()), /before its parent/);
  });

  test('identical subtrees are skipped by identity: a change deep in a big tree lists only that node', () => {
    const store = buildStore([
      { op: 'wide', path: ['big'], count: 45, value: Buffer.from('w') },
      { op: 'deep', path: ['chain'], depth: 50, value: Buffer.from('leaf') },
    ]);
    const a = store.root;
    const leaf = flatten(a).filter((n) => n.path.startsWith('/chain')).pop();
    assert.ok(leaf !== undefined);
    buildStore([{ op: 'write', path: comps(leaf.path), value: Buffer.from('new leaf') }], store);
    assert.deepEqual(
      diffTrees(a, store.root).map((c) => c.path),
      [leaf.path],
    );
  });

  test('diffTreesWithin(a, b, the scope of the changes) lists exactly what diffTrees(a, b) does, for every step', () => {
    fc.assert(
      fc.property(scriptArb(30), (script) => {
        const store = buildStore([]);
        for (const step of script) {
          const before = store.root;
          const within = changeScope(runStoreStep(store, step));
          assert.deepEqual(diffTreesWithin(before, store.root, within), diffTrees(before, store.root), `${step.op} within /${within.join('/')}`);
        }
      }),
      { numRuns: 150 },
    );
  });
});
