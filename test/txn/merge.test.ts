// commit(): read-only, swap, coalesce (graft at the low path), replay and EAGAIN,
// strict mode, the ancestor-permissions check, and disjoint transactions never conflicting (property).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { XsError } from '../../src/protocol/errno.js';
import { mkdir, read, rm, setPerms, write } from '../../src/store/ops.js';
import { parsePerms } from '../../src/store/perms.js';
import type { OpContext } from '../../src/store/state.js';
import { Store } from '../../src/store/store.js';
import { lookup } from '../../src/store/tree.js';
import { canCoalesce, commit, type Replayer } from '../../src/txn/merge.js';
import { Transaction, type TxnBounds } from '../../src/txn/transaction.js';
import { assertConsistent, B, ctxOf, guest, P, snapshot, xs } from '../support/fixtures.js';

const BOUNDS: TxnBounds = { maxNodes: undefined, maxLogEntries: 100, maxLogBytes: 100000 };

/** A replayer that must not be reached. */
const unreachable: Replayer = () => assert.fail('replay was not expected');

/** A replayer that refuses (answers differed), counting its calls. */
function refusing(): Replayer & { calls: number } {
  const f = Object.assign((): Transaction | undefined => {
    f.calls++;
    return undefined;
  }, { calls: 0 });
  return f;
}

/** /local/domain/{1,2} with a value each, /c = "5". */
function world(): Store {
  const s = new Store();
  const c = ctxOf(s);
  write(c, P('/local/domain/1/x'), B('a'));
  write(c, P('/local/domain/2/y'), B('b'));
  write(c, P('/c'), B('5'));
  s.takeChanges();
  return s;
}

const d0 = (state: Store | Transaction): OpContext => ctxOf(state);
const val = (s: Store, abs: string) => read(ctxOf(s), P(abs)).toString();

describe('read-only and swap', () => {
  test('a transaction that wrote nothing commits read-only, whatever happened meanwhile', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    assert.equal(read(d0(t), P('/c')).toString(), '5');
    write(d0(s), P('/c'), B('6'));
    const root = s.root;
    const out = commit(s, t, 'strict', unreachable);
    assert.deepEqual(out, { ok: true, how: 'read-only', changes: [] });
    assert.ok(s.root === root);
  });

  test('nothing committed since the start: the live root becomes the transaction root', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/new/node'), B('n'));
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok && out.how === 'swap');
    assert.ok(s.root === t.root);
    assert.deepEqual(out.changes.map((c) => c.path.abs), ['/new/node']);
    assert.equal(s.usage(0), 9);
    assertConsistent(s);
  });

  test('strict mode also swaps when nothing else committed', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    rm(d0(t), P('/c'));
    const out = commit(s, t, 'strict', unreachable);
    assert.ok(out.ok && out.how === 'swap');
    assertConsistent(s);
  });
});

describe('coalesce', () => {
  test('another commit in a disjoint subtree: graft at the low path', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/local/domain/1/x'), B('A'));
    write(d0(s), P('/local/domain/2/y'), B('B'));
    const other = lookup(s.root, P('/local/domain/2').comps);
    assert.deepEqual(t.low, ['local', 'domain', '1', 'x']);
    assert.ok(canCoalesce(s, t, t.low!));
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok);
    assert.equal(out.how, 'coalesce');
    assert.equal(val(s, '/local/domain/1/x'), 'A');
    assert.equal(val(s, '/local/domain/2/y'), 'B');
    assert.ok(lookup(s.root, P('/local/domain/2').comps) === other, 'the other subtree is untouched');
    assertConsistent(s);
  });

  test('creations and removals below the low path are grafted with their counts', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/local/domain/1/new/deep'), B('n'));
    rm(d0(t), P('/local/domain/1/x'));
    setPerms(d0(t), P('/local/domain/1/new'), parsePerms(['n7']));
    mkdir(d0(s), P('/elsewhere'));
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok && out.how === 'coalesce');
    assert.ok(lookup(s.root, P('/local/domain/1/x').comps) === undefined);
    assert.equal(val(s, '/local/domain/1/new/deep'), 'n');
    assert.ok(lookup(s.root, P('/elsewhere').comps) !== undefined);
    assert.equal(s.usage(7), 1);
    assertConsistent(s);
  });

  test('a created node grafts under a parent whose child list changed meanwhile', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/local/domain/1/mine'), B('t'));
    write(d0(s), P('/local/domain/1/theirs'), B('s'));
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok && out.how === 'coalesce');
    assert.equal(val(s, '/local/domain/1/mine'), 't');
    assert.equal(val(s, '/local/domain/1/theirs'), 's');
    assertConsistent(s);
  });

  test('reads under one first component, writes under another: each region is checked and grafted on its own', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    assert.equal(read(d0(t), P('/c')).toString(), '5');
    write(d0(t), P('/local/domain/1/x'), B('A'));
    assert.deepEqual(t.low, [], 'p itself is the root');
    assert.deepEqual(t.regions, [['c'], ['local', 'domain', '1', 'x']]);
    write(d0(s), P('/local/domain/2/y'), B('B'));
    const beforeC = lookup(s.root, ['c']);
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok && out.how === 'coalesce');
    assert.equal(val(s, '/local/domain/1/x'), 'A');
    assert.equal(val(s, '/local/domain/2/y'), 'B');
    assert.ok(lookup(s.root, ['c']) === beforeC, 'a region only read is left as it is');
    assertConsistent(s);
  });

  test('a change in any one region refuses the graft (the read of /c was stale)', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    assert.equal(read(d0(t), P('/c')).toString(), '5');
    write(d0(t), P('/local/domain/1/x'), B('A'));
    write(d0(s), P('/c'), B('6'));
    const replay = refusing();
    assert.deepEqual(commit(s, t, 'coalesce', replay), { ok: false });
    assert.equal(replay.calls, 1);
    assert.equal(val(s, '/local/domain/1/x'), 'a');
  });

  test('writes in two regions are both grafted', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/c'), B('T'));
    write(d0(t), P('/local/domain/1/new'), B('n'));
    write(d0(s), P('/local/domain/2/y'), B('B'));
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok && out.how === 'coalesce');
    assert.equal(val(s, '/c'), 'T');
    assert.equal(val(s, '/local/domain/1/new'), 'n');
    assert.equal(val(s, '/local/domain/2/y'), 'B');
    assert.deepEqual(out.changes.map((c) => c.path.abs), ['/c', '/local/domain/1/new']);
    assertConsistent(s);
  });

  test('strict mode refuses any intervening commit, even a disjoint one', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/local/domain/1/x'), B('A'));
    write(d0(s), P('/local/domain/2/y'), B('B'));
    const root = s.root;
    assert.deepEqual(commit(s, t, 'strict', unreachable), { ok: false });
    assert.ok(s.root === root);
    assert.equal(val(s, '/local/domain/1/x'), 'a');
  });
});

describe('conflicts', () => {
  test('the same node changed by another commit: replay is asked, EAGAIN when it refuses', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    const seen = read(d0(t), P('/c')).toString();
    write(d0(t), P('/c'), B(String(Number(seen) + 1)));
    write(d0(s), P('/c'), B('6'));
    const root = s.root;
    const counts = new Map(s.usageTable());
    const replay = refusing();
    assert.ok(!canCoalesce(s, t, t.low!));
    assert.deepEqual(commit(s, t, 'coalesce', replay), { ok: false });
    assert.equal(replay.calls, 1);
    assert.ok(s.root === root);
    assert.deepEqual(new Map(s.usageTable()), counts);
  });

  test('a non-replayable transaction fails without calling the replayer', () => {
    const s = world();
    const t = new Transaction(1, s, { ...BOUNDS, maxLogEntries: 0 });
    write(d0(t), P('/c'), B('9'));
    t.record({ type: 11, payload: B('/c\x009'), replyType: 11, reply: B('OK\0') });
    assert.ok(!t.replayable);
    write(d0(s), P('/c'), B('7'));
    assert.deepEqual(commit(s, t, 'coalesce', unreachable), { ok: false });
  });

  test('a low path at the root cannot be grafted: any other commit means replay', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    read(d0(t), P('/'));
    write(d0(t), P('/local/domain/1/x'), B('A'));
    assert.deepEqual(t.low, []);
    write(d0(s), P('/local/domain/2/y'), B('B'));
    const replay = refusing();
    assert.deepEqual(commit(s, t, 'coalesce', replay), { ok: false });
    assert.equal(replay.calls, 1);
  });

  test('an ancestor whose permissions changed refuses the graft', () => {
    const s = world();
    // The guest may create under its home, which dom0 then takes back.
    setPerms(d0(s), P('/local/domain/1'), parsePerms(['n1']));
    const t2 = new Transaction(2, s, BOUNDS);
    write(ctxOf(t2, guest(1)), P('/local/domain/1/new'), B('n'));
    assert.deepEqual(t2.low, ['local', 'domain', '1', 'new']);
    setPerms(d0(s), P('/local/domain/1'), parsePerms(['n0']));
    assert.ok(!canCoalesce(s, t2, t2.low!));
    const replay = refusing();
    assert.deepEqual(commit(s, t2, 'coalesce', replay), { ok: false });
    assert.equal(replay.calls, 1);
    assert.ok(lookup(s.root, P('/local/domain/1/new').comps) === undefined);
  });

  test('control for the perms check: an unrelated change beside the ancestor still grafts', () => {
    const s = world();
    setPerms(d0(s), P('/local/domain/1'), parsePerms(['n1']));
    const t = new Transaction(1, s, BOUNDS);
    write(ctxOf(t, guest(1)), P('/local/domain/1/new'), B('n'));
    write(d0(s), P('/local/domain/2/y'), B('changed'));
    const out = commit(s, t, 'coalesce', unreachable);
    assert.ok(out.ok && out.how === 'coalesce');
    assertConsistent(s);
  });

  test('an ancestor that vanished refuses the graft', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/local/domain/1/x'), B('A'));
    rm(d0(s), P('/local/domain'));
    assert.ok(!canCoalesce(s, t, t.low!));
    const replay = refusing();
    assert.deepEqual(commit(s, t, 'coalesce', replay), { ok: false });
    assert.equal(replay.calls, 1);
  });

  test('a replayed transaction is committed as returned', () => {
    const s = world();
    const t = new Transaction(1, s, BOUNDS);
    write(d0(t), P('/c'), B('9')); // a blind write
    write(d0(s), P('/c'), B('7'));
    let given: Transaction | undefined;
    let redo: Transaction | undefined;
    const replay: Replayer = (orig) => {
      given = orig;
      redo = new Transaction(orig.id, s, BOUNDS);
      write(d0(redo), P('/c'), B('9'));
      write(d0(redo), P('/replayed'), B('r'));
      return redo;
    };
    const out = commit(s, t, 'coalesce', replay);
    assert.ok(given === t);
    assert.ok(out.ok);
    assert.equal(out.how, 'replay');
    assert.ok(redo !== undefined && s.root === redo.root);
    assert.deepEqual(out.changes.map((c) => c.path.abs), ['/c', '/replayed']);
    assert.equal(val(s, '/c'), '9');
    assertConsistent(s);
  });

  test(
    'a write refused with EACCES counts for the conflict check (write skew)',
    () => {
      const s = world();
      setPerms(d0(s), P('/local/domain/1'), parsePerms(['n1']));
      const t = new Transaction(1, s, BOUNDS);
      const u = new Transaction(2, s, BOUNDS);
      // t: the guest is refused /c, then writes y in its home.
      const g = ctxOf(t, guest(1));
      assert.throws(() => write(g, P('/c'), B('x')), xs('EACCES'));
      write(g, P('/local/domain/1/y'), B('y'));
      // u (dom0): sees no y yet, and opens /c to the guest. It commits first.
      assert.throws(() => read(d0(u), P('/local/domain/1/y')), xs('ENOENT'));
      setPerms(d0(u), P('/c'), parsePerms(['w1']));
      assert.ok(commit(s, u, 'coalesce', unreachable).ok);
      // No serial order explains both: u saw t's write missing, t saw u's perms change missing.
      const replay = refusing();
      assert.deepEqual(commit(s, t, 'coalesce', replay), { ok: false });
    },
  );
});

describe('disjoint transactions (property)', () => {
  type W = { dom: 1 | 2; comps: string[]; value: string; remove: boolean };
  const wArb = (dom: 1 | 2): fc.Arbitrary<W> =>
    fc.record({
      dom: fc.constant(dom),
      comps: fc.array(fc.constantFrom('p', 'q', 'r'), { minLength: 1, maxLength: 3 }),
      value: fc.string({ maxLength: 4 }),
      remove: fc.boolean(),
    });

  function apply(state: Store | Transaction, w: W): void {
    const p = P(`/local/domain/${w.dom}/${w.comps.join('/')}`);
    try {
      if (w.remove) rm(ctxOf(state), p);
      else write(ctxOf(state), p, B(w.value));
    } catch (e) {
      if (!(e instanceof XsError)) throw e;
    }
  }

  test('transactions on two guests’ homes both commit; the result is the serial one', () => {
    fc.assert(
      fc.property(fc.array(wArb(1), { maxLength: 8 }), fc.array(wArb(2), { maxLength: 8 }), (one, two) => {
        const live = world();
        const serial = world();
        const t1 = new Transaction(1, live, BOUNDS);
        const t2 = new Transaction(2, live, BOUNDS);
        for (const w of one) apply(t1, w);
        for (const w of two) apply(t2, w);
        const o2 = commit(live, t2, 'coalesce', unreachable);
        const o1 = commit(live, t1, 'coalesce', unreachable);
        assert.ok(o1.ok && o2.ok);
        for (const w of [...two, ...one]) apply(serial, w);
        assert.deepEqual(snapshot(live.root), snapshot(serial.root));
        assert.deepEqual(new Map(live.usageTable()), new Map(serial.usageTable()));
        assertConsistent(live);
      }),
      { numRuns: 200 },
    );
  });
});
