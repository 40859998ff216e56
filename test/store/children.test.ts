// Persistent child maps against a Map model (fast-check): get, count, sorted
// iteration, persistence of old versions, crossing SMALL_MAX both ways, identity on no-op sets;
// childDiff against a name-by-name comparison.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import {
  childCount,
  childDiff,
  childGet,
  childNodes,
  childRemove,
  childSet,
  NO_CHILDREN,
  SMALL_MAX,
  type Children,
} from '../../src/store/children.js';
import { EMPTY_VALUE, makeNode, type Node } from '../../src/store/node.js';
import { DEFAULT_PERMS } from '../../src/store/perms.js';

const UNIVERSE = Array.from({ length: 60 }, (_, i) => `n${String(i).padStart(2, '0')}`);

function node(name: string, gen = 0): Node {
  return makeNode(name, EMPTY_VALUE, DEFAULT_PERMS, gen);
}

function fromNames(names: readonly string[]): Children {
  let c = NO_CHILDREN;
  for (const n of names) c = childSet(c, node(n));
  return c;
}

/** c holds exactly the model: count, lookups (by identity), sorted iteration. */
function assertMatches(c: Children, model: ReadonlyMap<string, Node>): void {
  assert.equal(childCount(c), model.size);
  for (const name of UNIVERSE) assert.ok(childGet(c, name) === model.get(name), name);
  const listed = [...childNodes(c)];
  const expected = [...model.keys()].sort();
  assert.deepEqual(listed.map((n) => n.name), expected);
  for (const n of listed) assert.ok(model.get(n.name) === n);
}

type Step = { op: 'set'; name: string; fresh: boolean } | { op: 'remove'; name: string };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), name: fc.constantFrom(...UNIVERSE), fresh: fc.boolean() }),
  fc.record({ op: fc.constant('remove' as const), name: fc.constantFrom(...UNIVERSE) }),
);

/** Grow to `up` names, shrink to `down`, then random steps: crosses SMALL_MAX both ways. */
const scriptArb = fc
  .tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 }), fc.array(stepArb, { maxLength: 80 }), fc.nat())
  .map(([up, down, tail, seed]) => {
    const steps: Step[] = [];
    const order = UNIVERSE.map((n, i) => ({ n, k: (i * 7919 + seed) % 61 })).sort((a, b) => a.k - b.k).map((x) => x.n);
    for (const name of order.slice(0, up)) steps.push({ op: 'set', name, fresh: true });
    for (const name of order.slice(down, up)) steps.push({ op: 'remove', name });
    return [...steps, ...tail];
  });

describe('children against a Map model', () => {
  test('random set/remove sequences: get, count, order, persistence (property)', () => {
    fc.assert(
      fc.property(scriptArb, (steps) => {
        let c: Children = NO_CHILDREN;
        const model = new Map<string, Node>();
        const history: Array<[Children, Map<string, Node>]> = [[c, new Map(model)]];
        let gen = 1;
        for (const s of steps) {
          if (s.op === 'set') {
            const current = model.get(s.name);
            const child = !s.fresh && current !== undefined ? current : node(s.name, gen++);
            c = childSet(c, child);
            model.set(s.name, child);
          } else {
            c = childRemove(c, s.name);
            model.delete(s.name);
          }
          assertMatches(c, model);
          history.push([c, new Map(model)]);
        }
        // Every earlier version still reads as it did.
        for (const [old, snap] of history) assertMatches(old, snap);
      }),
      { numRuns: 150 },
    );
  });

  test('the representation switches at SMALL_MAX going up and at SMALL_MAX/2 going down', () => {
    const names = UNIVERSE.slice(0, SMALL_MAX + 8);
    let c: Children = NO_CHILDREN;
    const model = new Map<string, Node>();
    for (const [i, name] of names.entries()) {
      const n = node(name);
      c = childSet(c, n);
      model.set(name, n);
      assert.equal(Array.isArray(c), i + 1 <= SMALL_MAX, `size ${i + 1}`);
      assertMatches(c, model);
    }
    for (const name of names) {
      c = childRemove(c, name);
      model.delete(name);
      assert.equal(Array.isArray(c), model.size <= SMALL_MAX / 2, `size ${model.size}`);
      assertMatches(c, model);
    }
    assert.equal(childCount(c), 0);
  });

  test('replacing a child keeps the count and the others', () => {
    for (const size of [5, SMALL_MAX + 5]) {
      const c = fromNames(UNIVERSE.slice(0, size));
      const before = [...childNodes(c)];
      const neu = node(UNIVERSE[2]!, 99);
      const d = childSet(c, neu);
      assert.equal(childCount(d), size);
      assert.ok(childGet(d, UNIVERSE[2]!) === neu);
      assert.ok(childGet(c, UNIVERSE[2]!) === before[2]);
      assert.ok(childGet(d, UNIVERSE[3]!) === before[3]);
    }
  });
});

describe('children identity', () => {
  test('removing an absent name returns the same object (small and big)', () => {
    for (const size of [0, 3, SMALL_MAX + 3]) {
      const c = fromNames(UNIVERSE.slice(0, size));
      assert.ok(childRemove(c, 'absent') === c, `size ${size}`);
    }
  });

  test('setting the child that is already there returns the same object (small list)', () => {
    const c = fromNames(UNIVERSE.slice(0, 5));
    const same = childGet(c, UNIVERSE[1]!)!;
    assert.ok(childSet(c, same) === c);
  });

  test(
    'setting the child that is already there returns the same object (big list)',
    () => {
      const c = fromNames(UNIVERSE.slice(0, SMALL_MAX + 5));
      const same = childGet(c, UNIVERSE[1]!)!;
      assert.ok(childSet(c, same) === c);
    },
  );

  test('updating a small child list never mutates the old one', () => {
    const c = fromNames(UNIVERSE.slice(0, 3));
    const before = [...childNodes(c)].map((n) => n.name);
    childRemove(c, UNIVERSE[0]!);
    childSet(c, childGet(c, UNIVERSE[1]!)!);
    assert.deepEqual([...childNodes(c)].map((n) => n.name), before);
  });

  test('childDiff names exactly the children that differ by identity, in name order (lists, trees, and across the switch)', () => {
    const edit = fc.oneof(
      fc.record({ set: fc.constantFrom(...UNIVERSE), fresh: fc.boolean() }, { noNullPrototype: true }),
      fc.record({ remove: fc.constantFrom(...UNIVERSE) }, { noNullPrototype: true }),
    );
    fc.assert(
      fc.property(fc.subarray(UNIVERSE), fc.array(edit, { maxLength: 40 }), fc.boolean(), (base, edits, rebuild) => {
        const a = fromNames(base);
        // b is a's successor (sharing what did not change), or built afresh (sharing nothing).
        let b = rebuild ? fromNames(base) : a;
        for (const e of edits) {
          if ('remove' in e) b = childRemove(b, e.remove);
          else b = childSet(b, e.fresh ? node(e.set, 1) : (childGet(b, e.set) ?? node(e.set)));
        }
        const expected = UNIVERSE.filter((n) => childGet(a, n) !== childGet(b, n)).map((n) => [n, childGet(a, n), childGet(b, n)]);
        const got: Array<[string, Node | undefined, Node | undefined]> = [];
        childDiff(a, b, (name, x, y) => got.push([name, x, y]));
        assert.equal(got.length, expected.length, `${got.map((g) => g[0]).join(',')} vs ${expected.map((g) => g[0]).join(',')}`);
        for (const [i, [name, x, y]] of got.entries()) {
          assert.equal(name, expected[i]![0]);
          assert.ok(x === expected[i]![1] && y === expected[i]![2], name);
        }
      }),
      { numRuns: 300 },
    );
  });
});
