// Immutable nodes: withValue/withPerms/withChildren return the same object when
// nothing changes, a new one with the given generation otherwise; subtreeSize and hasChildren.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { childSet, NO_CHILDREN } from '../../src/store/children.js';
import {
  emptyRoot,
  EMPTY_VALUE,
  hasChildren,
  makeNode,
  subtreeSize,
  withChildren,
  withPerms,
  withValue,
} from '../../src/store/node.js';
import { DEFAULT_PERMS, parsePerms } from '../../src/store/perms.js';
import { B } from '../support/fixtures.js';

const leaf = (name: string, gen = 1) => makeNode(name, B('v'), DEFAULT_PERMS, gen);

describe('node updates', () => {
  test('emptyRoot: no name, empty value, dom0 perms, generation 0', () => {
    const r = emptyRoot();
    assert.equal(r.name, '');
    assert.equal(r.value.length, 0);
    assert.deepEqual([...r.perms], [{ kind: 'n', domid: 0 }]);
    assert.equal(r.gen, 0);
    assert.ok(!hasChildren(r));
  });

  test('withValue keeps the node exactly when the bytes are equal, short or long (property)', () => {
    // Values up to 64 bytes are compared by a loop, longer ones by Buffer.equals: both sides of that line.
    const bytes = fc.uint8Array({ maxLength: 200 });
    fc.assert(
      fc.property(bytes, bytes, fc.boolean(), (a, b, same) => {
        const va = Buffer.from(a);
        const vb = same ? Buffer.from(a) : Buffer.from(b);
        const n = withValue(leaf('k', 1), va, 2);
        assert.equal(withValue(n, vb, 3) === n, va.equals(vb));
      }),
    );
  });

  test('withValue: equal bytes give the same node, different bytes a new generation', () => {
    const n = leaf('a', 3);
    assert.ok(withValue(n, B('v'), 9) === n);
    assert.ok(withValue(n, n.value, 9) === n);
    const m = withValue(n, B('w'), 9);
    assert.ok(m !== n);
    assert.equal(m.gen, 9);
    assert.equal(m.value.toString(), 'w');
    assert.equal(n.value.toString(), 'v');
    assert.equal(n.gen, 3);
    assert.ok(m.perms === n.perms && m.children === n.children && m.name === n.name);
    // Same length, different content.
    assert.ok(withValue(n, B('x'), 10) !== n);
    assert.ok(withValue(n, EMPTY_VALUE, 10) !== n);
  });

  test('withPerms: equal perms (even another array) give the same node', () => {
    const n = makeNode('a', EMPTY_VALUE, parsePerms(['r1', 'w2']), 4);
    assert.ok(withPerms(n, parsePerms(['r1', 'w2']), 8) === n);
    const m = withPerms(n, parsePerms(['r1']), 8);
    assert.ok(m !== n);
    assert.equal(m.gen, 8);
    assert.ok(m.value === n.value && m.children === n.children);
  });

  test('withChildren: same list gives the same node; generation only when given', () => {
    const n = leaf('p', 2);
    assert.ok(withChildren(n, n.children, 7) === n);
    const kids = childSet(NO_CHILDREN, leaf('c'));
    const keep = withChildren(n, kids);
    assert.equal(keep.gen, 2);
    const bump = withChildren(n, kids, 7);
    assert.equal(bump.gen, 7);
    assert.ok(hasChildren(bump));
    assert.ok(!hasChildren(n));
  });

  test('subtreeSize counts every node, deep trees included', () => {
    let n = leaf('bottom');
    for (let i = 0; i < 20000; i++) n = makeNode(`d${i}`, EMPTY_VALUE, DEFAULT_PERMS, 0, [n]);
    assert.equal(subtreeSize(n), 20001);
    const wide = makeNode('w', EMPTY_VALUE, DEFAULT_PERMS, 0, [leaf('a'), leaf('b'), leaf('c')]);
    assert.equal(subtreeSize(wide), 4);
    assert.equal(subtreeSize(leaf('x')), 1);
  });
});
