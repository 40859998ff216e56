// Transaction as a TreeState: isolation from the live store, low-path tracking
// (common prefix of touched paths), per-domain delta accounting, transaction-nodes limit, log bounds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { XsError } from '../../src/protocol/errno.js';
import { checkTree, compareCounts } from '../../src/store/check.js';
import { exists, mkdir, read, rm, setPerms, write } from '../../src/store/ops.js';
import { parsePerms } from '../../src/store/perms.js';
import { Store } from '../../src/store/store.js';
import { commit } from '../../src/txn/merge.js';
import { Transaction, type TxnBounds } from '../../src/txn/transaction.js';
import {
  assertConsistent,
  B,
  ctxOf,
  guest,
  P,
  runStep,
  scriptArb,
  snapshot,
  startWorld,
  xs,
} from '../support/fixtures.js';

const BOUNDS: TxnBounds = { maxNodes: undefined, maxLogEntries: 100, maxLogBytes: 100000 };
const never = () => undefined;

function txnOn(store: Store, bounds: TxnBounds = BOUNDS): Transaction {
  return new Transaction(1, store, bounds);
}

/** txn.usage(d) equals a recount of the transaction's own tree, for every domain. */
function assertTxnCounts(t: Transaction): void {
  const recount = checkTree(t.root).counts;
  const running = new Map<number, number>();
  for (const d of new Set([...recount.keys(), ...t.delta.keys(), 0, 1, 2, 3])) {
    const u = t.usage(d);
    if (u !== 0) running.set(d, u);
  }
  assert.deepEqual(compareCounts(recount, running), []);
}

describe('isolation', () => {
  test('starts as a snapshot of the live root', () => {
    const s = new Store();
    write(ctxOf(s), P('/a'), B('1'));
    const t = txnOn(s);
    assert.ok(t.base === s.root && t.root === s.root);
    assert.equal(t.low, undefined);
    assert.ok(!t.wrote);
  });

  test('its writes are invisible to the store, the store’s later writes invisible to it', () => {
    const s = new Store();
    write(ctxOf(s), P('/a'), B('1'));
    const t = txnOn(s);
    write(ctxOf(t), P('/a'), B('txn'));
    write(ctxOf(s), P('/b'), B('live'));
    assert.equal(read(ctxOf(s), P('/a')).toString(), '1');
    assert.equal(read(ctxOf(t), P('/a')).toString(), 'txn');
    assert.ok(!exists(ctxOf(t), P('/b')));
    assert.ok(t.wrote);
    assert.deepEqual(t.changes.map((c) => c.path.abs), ['/a']);
    assert.deepEqual(s.takeChanges().map((c) => c.path.abs), ['/a', '/b']);
  });

  test('changes are kept one per path, the latest, in first-change order', () => {
    const s = new Store();
    const t = txnOn(s);
    write(ctxOf(t), P('/a'), B('1'));
    write(ctxOf(t), P('/b'), B('2'));
    setPerms(ctxOf(t), P('/a'), parsePerms(['r0']));
    assert.deepEqual(t.changes.map((c) => [c.path.abs, c.perms[0].kind]), [['/a', 'r'], ['/b', 'n']]);
  });

  test('a node removed then re-created still counts as removed (for watches below it)', () => {
    const s = new Store();
    write(ctxOf(s), P('/a/deep'), B(''));
    const t = txnOn(s);
    rm(ctxOf(t), P('/a'));
    write(ctxOf(t), P('/a'), B('again'));
    assert.deepEqual(t.changes.map((c) => [c.path.abs, c.removed]), [['/a', true]]);
    // Created then removed: removed.
    write(ctxOf(t), P('/n'), B(''));
    rm(ctxOf(t), P('/n'));
    assert.deepEqual(t.changes.map((c) => [c.path.abs, c.removed]), [['/a', true], ['/n', true]]);
  });

  test('generations come from the store counter', () => {
    const s = new Store();
    const t = txnOn(s);
    const g = t.nextGen();
    assert.equal(s.generation, g);
    assert.ok(s.nextGen() > g);
  });
});

describe('low path', () => {
  test('touch keeps the common prefix of the touched paths', () => {
    const t = txnOn(new Store());
    t.touch(['a', 'b', 'c'], 3);
    assert.deepEqual(t.low, ['a', 'b', 'c']);
    t.touch(['a', 'b', 'd'], 3);
    assert.deepEqual(t.low, ['a', 'b']);
    t.touch(['a', 'b', 'x', 'y'], 4);
    assert.deepEqual(t.low, ['a', 'b']);
    t.touch(['a', 'b', 'x'], 1);
    assert.deepEqual(t.low, ['a']);
    t.touch(['z'], 1);
    assert.deepEqual(t.low, []);
    t.touch(['a'], 1);
    assert.deepEqual(t.low, []);
  });

  test('only the first `depth` components count', () => {
    const t = txnOn(new Store());
    t.touch(['a', 'b', 'c'], 2);
    assert.deepEqual(t.low, ['a', 'b']);
    t.touch(['a', 'b', 'c', 'd'], 3);
    assert.deepEqual(t.low, ['a', 'b']);
  });

  test('regions: per first component, the common prefix of the paths touched under it', () => {
    const t = txnOn(new Store());
    assert.deepEqual(t.regions, []);
    t.touch(['vm', 'x', 'name'], 3);
    t.touch(['local', 'domain', '7', 'device', 'a'], 5);
    t.touch(['vm', 'x', 'uuid'], 3);
    t.touch(['local', 'domain', '7', 'device', 'b', 'c'], 6);
    assert.deepEqual(t.regions, [['vm', 'x'], ['local', 'domain', '7', 'device']]);
    assert.deepEqual(t.low, []);
    t.touch(['local', 'domain', '8'], 3);
    assert.deepEqual(t.regions, [['vm', 'x'], ['local', 'domain']]);
    t.touch(['anything'], 0);
    assert.equal(t.regions, undefined, 'the root touched: one region, the whole tree');
    assert.deepEqual(t.low, []);
  });

  test('regions partition the touched paths by first component (property)', () => {
    const compArb = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(fc.array(compArb, { minLength: 1, maxLength: 8 }), (paths) => {
        const t = txnOn(new Store());
        for (const p of paths) t.touch(p, p.length);
        const common = (ps: string[][]): string[] =>
          ps.reduce((acc, p) => {
            let i = 0;
            while (i < acc.length && i < p.length && acc[i] === p[i]) i++;
            return acc.slice(0, i);
          });
        const byFirst = new Map<string, string[][]>();
        for (const p of paths) byFirst.set(p[0]!, [...(byFirst.get(p[0]!) ?? []), p]);
        const expected = [...byFirst.values()].map(common);
        assert.deepEqual(t.regions, expected);
        assert.deepEqual(t.low, common(paths));
      }),
    );
  });

  test('low is the common prefix of all touched paths (property)', () => {
    const compArb = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 4 });
    fc.assert(
      fc.property(fc.array(compArb, { minLength: 1, maxLength: 8 }), (paths) => {
        const t = txnOn(new Store());
        for (const p of paths) t.touch(p, p.length);
        let expected = paths[0]!;
        for (const p of paths) {
          let i = 0;
          while (i < expected.length && i < p.length && expected[i] === p[i]) i++;
          expected = expected.slice(0, i);
        }
        assert.deepEqual(t.low, expected);
      }),
    );
  });

  test('operations touch what they read or change', () => {
    const s = new Store();
    write(ctxOf(s), P('/a/x'), B(''));
    const t = txnOn(s);
    read(ctxOf(t), P('/a/x'));
    assert.deepEqual(t.low, ['a', 'x']);
    // Creating /a/b/c when /a exists touches the topmost created node, /a/b.
    const t2 = txnOn(s);
    write(ctxOf(t2), P('/a/b/c'), B('v'));
    assert.deepEqual(t2.low, ['a', 'b']);
    rm(ctxOf(t2), P('/a/x'));
    assert.deepEqual(t2.low, ['a']);
    // A failed read still touches: its answer depended on that path.
    const t3 = txnOn(s);
    assert.throws(() => read(ctxOf(t3), P('/q/r')), xs('ENOENT'));
    assert.deepEqual(t3.low, ['q', 'r']);
    // Reading the root pins low to the root.
    read(ctxOf(t3), P('/'));
    assert.deepEqual(t3.low, []);
  });

  test(
    'a write refused with EACCES touches the node whose permissions decided it',
    () => {
      const s = new Store();
      write(ctxOf(s), P('/x'), B(''));
      const t = txnOn(s);
      assert.throws(() => write(ctxOf(t, guest(5)), P('/x'), B('no')), xs('EACCES'));
      assert.deepEqual(t.low, ['x']);
    },
  );
});

describe('transaction-nodes limit', () => {
  test('touching more distinct paths than maxNodes is ENOSPC; revisits are free', () => {
    const s = new Store();
    const t = txnOn(s, { ...BOUNDS, maxNodes: 2 });
    write(ctxOf(t), P('/a'), B('1'));
    write(ctxOf(t), P('/b'), B('2'));
    write(ctxOf(t), P('/a'), B('3'));
    read(ctxOf(t), P('/b'));
    const root = t.root;
    assert.throws(() => write(ctxOf(t), P('/c'), B('4')), xs('ENOSPC'));
    assert.ok(t.root === root);
    assert.throws(() => t.touch(['d'], 1), xs('ENOSPC'));
  });

  test('unbounded when maxNodes is undefined', () => {
    const t = txnOn(new Store());
    for (let i = 0; i < 200; i++) t.touch([`n${i}`], 1);
    assert.deepEqual(t.low, []);
  });
});

describe('delta accounting', () => {
  test('creations, removals and owner changes count against the live counts', () => {
    const s = new Store();
    write(ctxOf(s), P('/old/x'), B(''));
    const t = txnOn(s);
    write(ctxOf(t), P('/new/a/b'), B(''));
    assert.deepEqual([...t.delta], [[0, 3]]);
    assert.equal(t.usage(0), 5);
    assert.equal(s.usage(0), 2);
    rm(ctxOf(t), P('/old'));
    assert.deepEqual([...t.delta], [[0, 1]]);
    setPerms(ctxOf(t), P('/new/a'), parsePerms(['n4']));
    assert.equal(t.usage(4), 1);
    assert.equal(t.usage(0), 2);
    assert.equal(s.usage(4), 0);
    assertTxnCounts(t);
  });

  test('quotas inside a transaction see live counts plus the delta', () => {
    const s = new Store();
    mkdir(ctxOf(s), P('/local/domain/5'));
    setPerms(ctxOf(s), P('/local/domain/5'), parsePerms(['n5']));
    const t = txnOn(s);
    const limits = { nodes: 3, nodeSize: 100, nodePerms: 5, pathMax: 100 };
    const g = ctxOf(t, guest(5), limits);
    mkdir(g, P('/local/domain/5/a'));
    mkdir(g, P('/local/domain/5/b'));
    assert.throws(() => mkdir(g, P('/local/domain/5/c')), xs('ENOSPC'));
    assert.equal(t.usage(5), 3);
  });

  test('a script run in a transaction and committed equals the same script run directly (property)', () => {
    fc.assert(
      fc.property(scriptArb(40), (script) => {
        const direct = startWorld();
        const live = startWorld();
        const t = txnOn(live);
        const errs = (state: Store | Transaction, after?: () => void): string[] =>
          script.map(([who, op]) => {
            const root = state.root;
            try {
              runStep(state, who, op);
              return 'ok';
            } catch (e) {
              assert.ok(e instanceof XsError);
              assert.ok(state.root === root, 'a failed op changed the tree');
              return e.errno;
            } finally {
              after?.();
            }
          });
        const directAnswers = errs(direct);
        const txnAnswers = errs(t, () => assertTxnCounts(t));
        assert.deepEqual(txnAnswers, directAnswers);
        assert.deepEqual(snapshot(t.root), snapshot(direct.root));
        const out = commit(live, t, 'coalesce', never);
        assert.ok(out.ok);
        assert.deepEqual(snapshot(live.root), snapshot(direct.root));
        assert.deepEqual(new Map(live.usageTable()), new Map(direct.usageTable()));
        assertConsistent(live);
      }),
      { numRuns: 200 },
    );
  });
});

describe('replay log', () => {
  const entry = (n: number) => ({ type: 2, payload: Buffer.alloc(n), replyType: 2, reply: Buffer.alloc(0) });

  test('keeps up to maxLogEntries entries, then gives up replay and drops the log', () => {
    const t = txnOn(new Store(), { ...BOUNDS, maxLogEntries: 3 });
    for (let i = 0; i < 3; i++) t.record(entry(1));
    assert.ok(t.replayable);
    assert.equal(t.log.length, 3);
    t.record(entry(1));
    assert.ok(!t.replayable);
    assert.equal(t.log.length, 0);
    t.record(entry(1));
    assert.equal(t.log.length, 0);
  });

  test('keeps up to maxLogBytes (payload plus reply), not one byte more', () => {
    const t = txnOn(new Store(), { ...BOUNDS, maxLogBytes: 10 });
    t.record({ type: 11, payload: Buffer.alloc(4), replyType: 11, reply: Buffer.alloc(3) });
    t.record(entry(3));
    assert.ok(t.replayable);
    assert.equal(t.log.length, 2);
    t.record(entry(1));
    assert.ok(!t.replayable);
    assert.equal(t.log.length, 0);
  });

  test('the log keeps entries in order', () => {
    const t = txnOn(new Store());
    t.record(entry(1));
    t.record(entry(2));
    assert.deepEqual(t.log.map((e) => e.payload.length), [1, 2]);
  });
});
