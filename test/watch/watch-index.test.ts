// WatchIndex: add/remove with trie pruning, matching on the path and its ancestors,
// depth limits, removals reaching watches below with below=true, special watches; checked against a model.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { domainHome, isSpecial, resolvePath } from '../../src/store/path.js';
import { WatchIndex, type Watch } from '../../src/watch/watch-index.js';
import { DOM0, guest, P } from '../support/fixtures.js';

const owner0 = { caller: DOM0, home: domainHome(0) };

function watch(path: string, token = 't', depth?: number): Watch {
  const special = isSpecial(path);
  return {
    owner: owner0,
    path,
    token,
    comps: special ? undefined : resolvePath(path, 0).comps,
    depth,
    relative: !special && !path.startsWith('/'),
  };
}

/** Tokens visited for a change, as "token" or "token(below)", sorted. */
function fired(idx: WatchIndex, abs: string, removed: boolean): string[] {
  const out: string[] = [];
  idx.match(P(abs).comps, removed, (w, below) => out.push(below ? `${w.token}(below)` : w.token));
  return out.sort();
}

/** The trie's top level, read through a cast (private field) to observe pruning. */
function trieKids(idx: WatchIndex): number {
  return (idx as unknown as { root: { kids: Map<string, unknown> } }).root.kids.size;
}

describe('add and remove', () => {
  test('size counts node and special watches; removing twice is harmless', () => {
    const idx = new WatchIndex();
    const a = watch('/a/b');
    const s = watch('@releaseDomain');
    idx.add(a);
    idx.add(s);
    assert.equal(idx.size, 2);
    idx.remove(a);
    idx.remove(a);
    assert.equal(idx.size, 1);
    idx.remove(s);
    idx.remove(s);
    assert.equal(idx.size, 0);
    assert.deepEqual(fired(idx, '/a/b', false), []);
    assert.deepEqual(idx.matchSpecial('@releaseDomain'), []);
  });

  test('removing a watch never added (same path, other object) changes nothing', () => {
    const idx = new WatchIndex();
    idx.add(watch('/a', 'one'));
    idx.remove(watch('/a', 'one'));
    idx.remove(watch('/zz', 'one'));
    idx.remove(watch('@nothing', 'one'));
    assert.equal(idx.size, 1);
    assert.deepEqual(fired(idx, '/a', false), ['one']);
  });

  test('the same path may be watched twice; each removal takes one', () => {
    const idx = new WatchIndex();
    const w1 = watch('/a', 'x');
    const w2 = watch('/a', 'y');
    idx.add(w1);
    idx.add(w2);
    assert.deepEqual(fired(idx, '/a', false), ['x', 'y']);
    idx.remove(w1);
    assert.deepEqual(fired(idx, '/a', false), ['y']);
  });

  test('removal prunes trie nodes that hold nothing any more, and only those', () => {
    const idx = new WatchIndex();
    const deep = watch('/a/b/c/d');
    const mid = watch('/a/b');
    const other = watch('/z');
    idx.add(deep);
    idx.add(mid);
    idx.add(other);
    assert.equal(trieKids(idx), 2);
    idx.remove(deep);
    assert.equal(trieKids(idx), 2, '/a/b still holds a watch');
    assert.deepEqual(fired(idx, '/a/b/c/d', false), ['t']);
    idx.remove(mid);
    assert.equal(trieKids(idx), 1, '/a pruned');
    idx.remove(other);
    assert.equal(trieKids(idx), 0);
  });
});

describe('match', () => {
  function sample(): WatchIndex {
    const idx = new WatchIndex();
    for (const [path, token] of [
      ['/', 'root'],
      ['/a', 'a'],
      ['/a/b', 'ab'],
      ['/a/b/c', 'abc'],
      ['/a/bb', 'abb'],
      ['/x', 'x'],
    ] as const) {
      idx.add(watch(path, token));
    }
    return idx;
  }

  test('a change fires watches on the path and on every ancestor', () => {
    const idx = sample();
    assert.deepEqual(fired(idx, '/a/b', false), ['a', 'ab', 'root']);
    assert.deepEqual(fired(idx, '/a/b/c/d/e', false), ['a', 'ab', 'abc', 'root']);
    assert.deepEqual(fired(idx, '/', false), ['root']);
    assert.deepEqual(fired(idx, '/q', false), ['root']);
  });

  test('watches below a changed node do not fire unless it was removed', () => {
    const idx = sample();
    assert.deepEqual(fired(idx, '/a', false), ['a', 'root']);
    assert.deepEqual(fired(idx, '/a', true), ['a', 'ab(below)', 'abb(below)', 'abc(below)', 'root']);
  });

  test('a removal far from any watch fires only ancestors', () => {
    const idx = sample();
    assert.deepEqual(fired(idx, '/a/b/c/d', true), ['a', 'ab', 'abc', 'root']);
    assert.deepEqual(fired(idx, '/nope/deeper', true), ['root']);
  });

  test('depth limits how far below the watched path changes fire', () => {
    const idx = new WatchIndex();
    idx.add(watch('/a', 'd0', 0));
    idx.add(watch('/a', 'd1', 1));
    idx.add(watch('/a', 'd2', 2));
    idx.add(watch('/a', 'inf'));
    assert.deepEqual(fired(idx, '/a', false), ['d0', 'd1', 'd2', 'inf']);
    assert.deepEqual(fired(idx, '/a/b', false), ['d1', 'd2', 'inf']);
    assert.deepEqual(fired(idx, '/a/b/c', false), ['d2', 'inf']);
    assert.deepEqual(fired(idx, '/a/b/c/d', true), ['inf']);
  });

  test('a watch below a removed node fires whatever its depth', () => {
    const idx = new WatchIndex();
    idx.add(watch('/a/b/c', 'deep0', 0));
    assert.deepEqual(fired(idx, '/a', true), ['deep0(below)']);
  });

  test('relative watches are matched on their resolved path', () => {
    const idx = new WatchIndex();
    const w: Watch = {
      owner: { caller: guest(3), home: domainHome(3) },
      path: 'device',
      token: 'rel',
      comps: resolvePath('device', 3).comps,
      depth: undefined,
      relative: true,
    };
    idx.add(w);
    assert.deepEqual(fired(idx, '/local/domain/3/device/vif', false), ['rel']);
    assert.deepEqual(fired(idx, '/local/domain/0/device', false), []);
    assert.deepEqual(fired(idx, '/local/domain/3', true), ['rel(below)']);
  });
});

describe('special watches', () => {
  test('are found by exact name and never by node changes', () => {
    const idx = new WatchIndex();
    const rel = watch('@releaseDomain', 'r');
    const intro = watch('@introduceDomain', 'i');
    idx.add(rel);
    idx.add(intro);
    idx.add(watch('/', 'root'));
    assert.deepEqual(idx.matchSpecial('@releaseDomain').map((w) => w.token), ['r']);
    assert.deepEqual(idx.matchSpecial('@introduceDomain').map((w) => w.token), ['i']);
    assert.deepEqual(idx.matchSpecial('@other'), []);
    assert.deepEqual(fired(idx, '/', true), ['root']);
  });
});

describe('against a model (property)', () => {
  type Cmd =
    | { op: 'add'; path: string[]; depth: number | undefined }
    | { op: 'remove'; pick: number }
    | { op: 'match'; path: string[]; removed: boolean };

  const compsArb = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 4 });
  const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
    fc.record({ op: fc.constant('add' as const), path: compsArb, depth: fc.option(fc.nat({ max: 3 }), { nil: undefined }) }),
    fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('match' as const), path: compsArb, removed: fc.boolean() }),
  );

  const isPrefix = (p: readonly string[], of: readonly string[]) => p.length <= of.length && p.every((c, i) => of[i] === c);

  test('match visits exactly the watches the rules select', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 60 }), (cmds) => {
        const idx = new WatchIndex();
        const live: Watch[] = [];
        let n = 0;
        for (const c of cmds) {
          if (c.op === 'add') {
            const w = watch(`/${c.path.join('/')}`, `w${n++}`, c.depth);
            idx.add(w);
            live.push(w);
          } else if (c.op === 'remove') {
            if (live.length === 0) continue;
            const [w] = live.splice(c.pick % live.length, 1);
            idx.remove(w!);
          } else {
            const got: string[] = [];
            idx.match(c.path, c.removed, (w, below) => got.push(`${w.token}:${below}`));
            const want: string[] = [];
            for (const w of live) {
              const wc = w.comps!;
              if (isPrefix(wc, c.path)) {
                if (w.depth === undefined || c.path.length - wc.length <= w.depth) want.push(`${w.token}:false`);
              } else if (c.removed && isPrefix(c.path, wc)) {
                want.push(`${w.token}:true`);
              }
            }
            assert.deepEqual(got.sort(), want.sort());
          }
          assert.equal(idx.size, live.length);
        }
        for (const w of live) idx.remove(w);
        assert.equal(idx.size, 0);
        assert.equal(trieKids(idx), 0, 'everything pruned');
      }),
      { numRuns: 300 },
    );
  });
});
