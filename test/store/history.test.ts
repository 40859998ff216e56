// History: touching(path) lists exactly the retained revisions that changed
// that subtree (newest first), firstChangeAfter finds the first such revision
// after a given one, and retention is bounded in revisions and in the bytes
// old revisions hold (oldest revisions dropped), through rollbacks too.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { checkTree } from '../../src/store/check.js';
import { replacedBytes } from '../../src/store/cost.js';
import { History, type Revision } from '../../src/store/history.js';
import type { Node } from '../../src/store/node.js';
import { lookup } from '../../src/store/tree.js';
import { buildStore, flatten, runStoreStep, scriptArb } from '../helpers/persist.js';

const PROBES: ReadonlyArray<readonly string[]> = [[], ['a'], ['b'], ['a', 'b'], ['a', 'c'], ['b', 'dev-1'], ['x_y'], ['a', 'b', 'c'], ['nope'], ['local']];

/** The subtree at `comps` as data (undefined when absent): the reference for "changed". */
function subtree(root: Node, comps: readonly string[]): string | undefined {
  const n = lookup(root, comps);
  return n === undefined ? undefined : JSON.stringify(flatten(n));
}

/** Builds a history of every root a random script produces (only real changes are recorded, as the daemon does). */
function historyOf(script: Parameters<typeof buildStore>[0], limit: number): { h: History; roots: Node[] } {
  const store = buildStore([]);
  const h = new History(limit, store.root, 0);
  const roots = [store.root];
  let t = 1;
  for (const step of script) {
    const before = store.root;
    runStoreStep(store, step);
    if (store.root === before) continue;
    h.record({ time: t++, domid: 0, conn: 1, txId: 0, op: step.op }, store.root);
    roots.push(store.root);
  }
  return { h, roots };
}

/** Reference: retained revisions whose subtree at comps differs (by value) from the previous retained one, newest first. */
function refTouching(revs: readonly Revision[], comps: readonly string[]): number[] {
  const out: number[] = [];
  for (let i = revs.length - 1; i > 0; i--) {
    if (subtree(revs[i]!.root, comps) !== subtree(revs[i - 1]!.root, comps)) out.push(revs[i]!.rev);
  }
  return out;
}

describe('History', () => {
  test('touching(path) lists exactly the revisions that changed that subtree', () => {
    fc.assert(
      fc.property(scriptArb(40), (script) => {
        const { h } = historyOf(script, 1000);
        for (const probe of PROBES) {
          assert.deepEqual(
            h.touching(probe).map((r) => r.rev),
            refTouching(h.all(), probe),
            `/${probe.join('/')}`,
          );
        }
        // The root changes in every recorded revision.
        assert.deepEqual(
          h.touching([]).map((r) => r.rev),
          h.all().slice(1).map((r) => r.rev).reverse(),
        );
      }),
      { numRuns: 120 },
    );
  });

  test('firstChangeAfter(since, path) is the oldest revision after `since` that changed the subtree', () => {
    fc.assert(
      fc.property(scriptArb(40), fc.nat(), (script, pick) => {
        const { h } = historyOf(script, 1000);
        const since = h.oldest + (pick % (h.head - h.oldest + 1));
        for (const probe of PROBES) {
          const expected = refTouching(h.all(), probe).filter((r) => r > since).pop();
          assert.equal(h.firstChangeAfter(since, probe)?.rev, expected, `/${probe.join('/')} after r${since}`);
        }
      }),
      { numRuns: 120 },
    );
  });

  test('revisions keep the roots they were given and their commit information', () => {
    const { h, roots } = historyOf(
      [
        { op: 'write', path: ['a'], value: Buffer.from('1') },
        { op: 'write', path: ['a'], value: Buffer.from('1') }, // no change: not recorded
        { op: 'write', path: ['b'], value: Buffer.from('2') },
      ],
      10,
    );
    assert.equal(h.head, 2);
    assert.equal(h.oldest, 0);
    assert.equal(roots.length, 3);
    for (let i = 0; i < roots.length; i++) assert.equal(h.get(i)?.root, roots[i]);
    assert.equal(h.get(0)?.op, 'start');
    assert.equal(h.get(1)?.op, 'write');
    assert.equal(h.get(1)?.time, 1);
    assert.equal(h.get(3), undefined);
    assert.deepEqual(
      h.touching(['a']).map((r) => r.rev),
      [1],
    );
    assert.deepEqual(
      h.touching(['b']).map((r) => r.rev),
      [2],
    );
    assert.equal(h.firstChangeAfter(0, ['b'])?.rev, 2);
    assert.equal(h.firstChangeAfter(2, ['b']), undefined);
  });

  test('retention is bounded: only the newest `limit` revisions are kept', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 40 }), (limit, commits) => {
        const store = buildStore([]);
        const h = new History(limit, store.root, 0);
        for (let i = 0; i < commits; i++) {
          runStoreStep(store, { op: 'write', path: ['k', `n${i % 5}`], value: Buffer.from(String(i)) });
          h.record({ time: i, domid: 0, conn: 1, txId: 0, op: `w${i}` }, store.root);
        }
        const keep = Math.max(1, limit);
        assert.equal(h.head, commits);
        assert.equal(h.all().length, Math.min(commits + 1, keep));
        assert.equal(h.oldest, Math.max(0, commits + 1 - keep));
        assert.deepEqual(
          h.all().map((r) => r.rev),
          Array.from({ length: h.all().length }, (_, i) => h.oldest + i),
        );
        assert.equal(h.get(h.oldest - 1), undefined, 'dropped revisions are gone');
        assert.equal(h.get(h.head + 1), undefined);
        assert.equal(h.get(h.head)?.root, store.root);
        // touching only ever names retained revisions (with a retained predecessor).
        for (const r of h.touching(['k'])) assert.ok(r.rev > h.oldest && r.rev <= h.head);
        // firstChangeAfter a dropped revision looks only at retained pairs.
        const first = h.firstChangeAfter(-5, ['k']);
        if (first !== undefined) assert.ok(first.rev > h.oldest);
      }),
      { numRuns: 150 },
    );
  });

  test('the bytes old revisions hold stay under the byte limit, and equal what the retained revisions replaced', () => {
    fc.assert(
      fc.property(scriptArb(40), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 20_000 }), fc.array(fc.nat(), { maxLength: 3 }), (script, limit, byteLimit, undo) => {
        const store = buildStore([]);
        const h = new History(limit, store.root, 0, byteLimit);
        const check = (): void => {
          const revs = h.all();
          assert.equal(revs[revs.length - 1]!.root, store.root, 'the newest revision is always the live root');
          let held = 0;
          for (let i = 1; i < revs.length; i++) held += replacedBytes(revs[i - 1]!.root, revs[i]!.root);
          assert.equal(h.heldBytes, held);
          assert.ok(held <= byteLimit, `${held} bytes held, limit ${byteLimit}`);
          assert.ok(revs.length <= limit);
          assert.deepEqual(revs.map((r) => r.rev), Array.from({ length: revs.length }, (_, i) => h.oldest + i));
        };
        let t = 1;
        for (const [i, step] of script.entries()) {
          const before = store.root;
          runStoreStep(store, step);
          if (store.root !== before) h.record({ time: t++, domid: 0, conn: 1, txId: 0, op: step.op }, store.root);
          check();
          // Now and then a turn is undone (durable mode, disk full): back to a recent revision, retained or not.
          const u = undo[i % Math.max(1, undo.length)];
          if (u !== undefined && i % 7 === 6) {
            const rev = Math.max(0, h.head - (u % 4));
            const root = h.get(rev)?.root ?? store.root;
            if (h.get(rev) !== undefined || rev === h.head) {
              h.rollback(rev, root, t++);
              store.reset(root, checkTree(root).counts);
              assert.equal(h.head, rev);
              check();
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  test('a rollback to a revision already dropped starts the history again from its root', () => {
    const store = buildStore([]);
    const h = new History(2, store.root, 0);
    const roots: Node[] = [store.root];
    for (let i = 0; i < 5; i++) {
      runStoreStep(store, { op: 'write', path: ['k'], value: Buffer.from(String(i)) });
      h.record({ time: i, domid: 0, conn: 1, txId: 0, op: `w${i}` }, store.root);
      roots.push(store.root);
    }
    assert.equal(h.oldest, 4);
    h.rollback(1, roots[1]!, 99);
    assert.equal(h.head, 1);
    assert.equal(h.oldest, 1);
    assert.equal(h.get(1)?.root, roots[1]);
    assert.equal(h.heldBytes, 0);
  });
});
