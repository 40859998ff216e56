// The live Store: per-owner counts from account() and applyDelta() (zero entries
// disappear), the generation counter, and the queue of changes drained by takeChanges().
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { EMPTY_VALUE, makeNode } from '../../src/store/node.js';
import { parsePerms } from '../../src/store/perms.js';
import { ROOT } from '../../src/store/path.js';
import { Store } from '../../src/store/store.js';

const owned = (domid: number) => makeNode('n', EMPTY_VALUE, parsePerms([`n${domid}`]), 0);

test('a new store has an empty root and no counts', () => {
  const s = new Store();
  assert.equal(s.root.name, '');
  assert.equal(s.usage(0), 0);
  assert.equal(s.usageTable().size, 0);
  assert.equal(s.generation, 0);
});

test('account: create, replace with another owner, remove', () => {
  const s = new Store();
  s.account(undefined, owned(3));
  s.account(undefined, owned(3));
  assert.equal(s.usage(3), 2);
  s.account(owned(3), owned(4));
  assert.equal(s.usage(3), 1);
  assert.equal(s.usage(4), 1);
  s.account(owned(4), owned(4));
  assert.equal(s.usage(4), 1);
  s.account(owned(4), undefined);
  assert.equal(s.usage(4), 0);
  assert.ok(!s.usageTable().has(4), 'a zero count leaves the table');
  assert.deepEqual([...s.usageTable()], [[3, 1]]);
});

test('applyDelta adds signed per-domain deltas', () => {
  const s = new Store();
  s.account(undefined, owned(1));
  s.applyDelta(new Map([[1, -1], [2, 5]]));
  assert.equal(s.usage(1), 0);
  assert.equal(s.usage(2), 5);
  assert.deepEqual([...s.usageTable()], [[2, 5]]);
});

test('nodes is the sum of the per-owner counts, through account, applyDelta and reset', () => {
  const s = new Store();
  s.account(undefined, owned(1));
  s.account(undefined, owned(2));
  s.account(owned(1), owned(2));
  assert.equal(s.nodes, 2);
  s.applyDelta(new Map([[2, -1], [7, 10]]));
  assert.equal(s.nodes, 11);
  s.reset(s.root, new Map([[0, 4], [3, 0]]));
  assert.equal(s.nodes, 4);
  assert.deepEqual([...s.usageTable()], [[0, 4]]);
});

test('nextGen is strictly increasing and generation reports the last one', () => {
  const s = new Store();
  const a = s.nextGen();
  const b = s.nextGen();
  assert.ok(b > a);
  assert.equal(s.generation, b);
});

test('takeChanges drains the queue oldest first', () => {
  const s = new Store();
  assert.deepEqual(s.takeChanges(), []);
  const perms = parsePerms(['n0']);
  s.changed({ path: ROOT, perms, removed: false });
  s.changed({ path: { abs: '/a', comps: ['a'] }, perms, removed: true });
  const got = s.takeChanges();
  assert.deepEqual(got.map((c) => [c.path.abs, c.removed]), [['/', false], ['/a', true]]);
  assert.deepEqual(s.takeChanges(), []);
});

test('touch is a no-op on the live store', () => {
  const s = new Store();
  const root = s.root;
  s.touch();
  assert.ok(s.root === root);
});
