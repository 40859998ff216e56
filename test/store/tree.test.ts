// lookup/modify/putChild: identity preservation (no-op updates return the same root),
// path copying shares untouched subtrees, generations bump only on the node whose child list changed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { childNodes } from '../../src/store/children.js';
import { emptyRoot, EMPTY_VALUE, makeNode, withValue, type Node } from '../../src/store/node.js';
import { DEFAULT_PERMS } from '../../src/store/perms.js';
import { lookup, modify, putChild } from '../../src/store/tree.js';
import { B } from '../support/fixtures.js';

function mk(name: string, gen = 0): Node {
  return makeNode(name, EMPTY_VALUE, DEFAULT_PERMS, gen);
}

/** Root with /a/x, /a/y, /b/z (gen 0 everywhere). */
function sample(): Node {
  let r = emptyRoot();
  r = putChild(r, ['a'], 1, mk('a'), 0);
  r = putChild(r, ['a', 'x'], 2, mk('x'), 0);
  r = putChild(r, ['a', 'y'], 2, mk('y'), 0);
  r = putChild(r, ['b'], 1, mk('b'), 0);
  r = putChild(r, ['b', 'z'], 2, mk('z'), 0);
  return r;
}

const at = (r: Node, path: string): Node => {
  const n = lookup(r, path === '/' ? [] : path.slice(1).split('/'));
  assert.ok(n !== undefined, path);
  return n;
};

describe('lookup', () => {
  test('finds nodes and prefixes, undefined for missing', () => {
    const r = sample();
    assert.equal(at(r, '/a/x').name, 'x');
    assert.ok(lookup(r, []) === r);
    assert.equal(lookup(r, ['a', 'x', 'deeper']), undefined);
    assert.equal(lookup(r, ['nope', 'x']), undefined);
    assert.ok(lookup(r, ['a', 'x'], 1) === at(r, '/a'));
  });
});

describe('identity preservation', () => {
  test('modify with an identity function returns the same root', () => {
    const r = sample();
    assert.ok(modify(r, ['a', 'x'], 2, (n) => n) === r);
    assert.ok(modify(r, [], 0, (n) => n) === r);
  });

  test('a no-op value update returns the same root', () => {
    const r = sample();
    assert.ok(modify(r, ['b', 'z'], 2, (n) => withValue(n, EMPTY_VALUE, 5)) === r);
  });

  test('putChild of the very child already there returns the same root', () => {
    const r = sample();
    assert.ok(putChild(r, ['a', 'x'], 2, at(r, '/a/x'), 9) === r);
  });

  test('removing an absent child returns the same root', () => {
    const r = sample();
    assert.ok(putChild(r, ['a', 'nope'], 2, undefined, 9) === r);
  });

  test('modify of a missing node throws', () => {
    assert.throws(() => modify(sample(), ['nope', 'x'], 2, (n) => n), /no node/);
  });
});

describe('path copying', () => {
  test('an update rebuilds the spine and shares everything else', () => {
    const r = sample();
    const r2 = modify(r, ['a', 'x'], 2, (n) => withValue(n, B('new'), 7));
    assert.ok(r2 !== r);
    assert.ok(at(r2, '/a') !== at(r, '/a'));
    assert.ok(at(r2, '/a/x') !== at(r, '/a/x'));
    // Untouched: the sibling at the same level and the other subtree.
    assert.ok(at(r2, '/a/y') === at(r, '/a/y'));
    assert.ok(at(r2, '/b') === at(r, '/b'));
    assert.ok(at(r2, '/b/z') === at(r, '/b/z'));
    // The old tree is unchanged.
    assert.equal(at(r, '/a/x').value.length, 0);
    assert.equal(at(r2, '/a/x').value.toString(), 'new');
  });

  test('off-spine nodes are shared after any single update (property)', () => {
    const names = ['p', 'q', 'r'];
    const pathArb = fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(fc.array(pathArb, { minLength: 1, maxLength: 12 }), pathArb, (build, target) => {
        let r = emptyRoot();
        for (const path of [...build, target]) {
          for (let d = 1; d <= path.length; d++) {
            if (lookup(r, path, d) === undefined) r = putChild(r, path, d, mk(path[d - 1]!), 0);
          }
        }
        const r2 = modify(r, target, target.length, (n) => withValue(n, B('changed'), 1));
        // Walk both trees: every node not on the spine to `target` is the same object.
        const walk = (a: Node, b: Node, depth: number, onSpine: boolean): void => {
          if (!onSpine) {
            assert.ok(a === b);
            return;
          }
          assert.ok(a !== b);
          const kids = [...childNodes(a.children)];
          assert.deepEqual([...childNodes(b.children)].map((k) => k.name), kids.map((k) => k.name));
          for (const k of kids) {
            const k2 = lookup(b, [k.name])!;
            walk(k, k2, depth + 1, depth < target.length && k.name === target[depth]);
          }
        };
        walk(r, r2, 0, true);
      }),
    );
  });
});

describe('generations', () => {
  test('adding or removing a name bumps the parent only', () => {
    const r = sample();
    const r2 = putChild(r, ['a', 'w'], 2, mk('w', 5), 5);
    assert.equal(at(r2, '/a').gen, 5);
    assert.equal(at(r2, '/').gen, 0);
    assert.equal(at(r2, '/a/x').gen, 0);
    const r3 = putChild(r2, ['a', 'x'], 2, undefined, 6);
    assert.equal(at(r3, '/a').gen, 6);
    assert.equal(at(r3, '/').gen, 0);
    assert.equal(at(r3, '/a/y').gen, 0);
  });

  test('replacing a child in place keeps the parent generation', () => {
    const r = sample();
    const r2 = putChild(r, ['a', 'x'], 2, withValue(at(r, '/a/x'), B('v'), 8), 8);
    assert.equal(at(r2, '/a/x').gen, 8);
    assert.equal(at(r2, '/a').gen, 0);
    assert.equal(at(r2, '/').gen, 0);
  });

  test('a value change deep down leaves ancestor generations alone', () => {
    const r = sample();
    const r2 = modify(r, ['b', 'z'], 2, (n) => withValue(n, B('q'), 4));
    assert.equal(at(r2, '/b/z').gen, 4);
    assert.equal(at(r2, '/b').gen, 0);
    assert.equal(at(r2, '/').gen, 0);
  });
});
