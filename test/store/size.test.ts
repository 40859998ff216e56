/**
 * treeSize against a naive count: random trees and random changes; the
 * remembered sizes of shared subtrees never go stale, because a changed
 * node is a new object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { childNodes } from '../../src/store/children.js';
import { emptyRoot, type Node } from '../../src/store/node.js';
import { treeSize } from '../../src/store/size.js';
import { Store } from '../../src/store/store.js';
import * as ops from '../../src/store/ops.js';
import { B, ctxOf, P } from '../support/fixtures.js';

function naive(n: Node): { nodes: number; bytes: number } {
  let nodes = 1;
  let bytes = n.name.length + n.value.length;
  for (const c of childNodes(n.children)) {
    const s = naive(c);
    nodes += s.nodes;
    bytes += s.bytes;
  }
  return { nodes, bytes };
}

test('treeSize equals a naive walk after every change of a random sequence', () => {
  const seg = fc.constantFrom('a', 'b', 'c', 'dd', 'eee');
  const action = fc.record({ rm: fc.boolean(), path: fc.array(seg, { minLength: 1, maxLength: 4 }), value: fc.string({ maxLength: 20 }) });
  fc.assert(
    fc.property(fc.array(action, { maxLength: 40 }), (actions) => {
      const store = new Store(emptyRoot());
      for (const a of actions) {
        const p = P(`/${a.path.join('/')}`);
        try {
          if (a.rm) ops.rm(ctxOf(store), p);
          else ops.write(ctxOf(store), p, B(a.value));
        } catch {
          // ENOENT and the like: the tree is unchanged
        }
        assert.deepEqual(treeSize(store.root), naive(store.root));
      }
    }),
  );
});
