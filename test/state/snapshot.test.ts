// dumpState / restoreState / nodeRecords: a busy store (random trees with
// NUL-laden values, every permission kind, deep paths, wide directories)
// goes through the state stream and comes back identical; settings, domains,
// connections, watches and open transactions are carried; inconsistent
// record sequences are refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { Op } from '../../src/protocol/op.js';
import { defaultSettings, knownSettings, settingsByKind } from '../../src/server/config.js';
import { Domains } from '../../src/server/domains.js';
import { dumpState, nodeRecords, restoreState } from '../../src/state/snapshot.js';
import { decodeStream, encodeStream, StreamError, type Record as StreamRecord } from '../../src/state/stream.js';
import { checkTree } from '../../src/store/check.js';
import { diffTrees } from '../../src/store/diff.js';
import { subtreeSize } from '../../src/store/node.js';
import { Harness, payload } from '../helpers/inproc.js';
import { assertSameTree, buildStore, flatten, scriptArb } from '../helpers/persist.js';

const NO_CONNS: never[] = [];

function roundTrip(records: Iterable<StreamRecord>): ReturnType<typeof restoreState> {
  return restoreState(decodeStream(encodeStream(records)).records);
}

describe('snapshot: the tree', () => {
  test('a random busy store comes back identical, with the same per-owner counts', () => {
    fc.assert(
      fc.property(scriptArb(60), (script) => {
        const s = buildStore(script);
        const restored = roundTrip(dumpState({ root: s.root, settings: settingsByKind(defaultSettings()), domains: new Domains().all(), conns: NO_CONNS }));
        assertSameTree(restored.root, s.root);
        assert.deepEqual(restored.counts, new Map(s.usageTable()));
        assert.deepEqual(checkTree(restored.root).problems, []);
        // The identical tree has no differences at all, by value.
        assert.deepEqual(diffTrees(s.root, restored.root), []);
      }),
      { numRuns: 120 },
    );
  });

  test('nodeRecords lists every node once, parents first, as committed NODE_DATA with perms', () => {
    fc.assert(
      fc.property(scriptArb(40), (script) => {
        const s = buildStore(script);
        const recs = [...nodeRecords(s.root)];
        assert.equal(recs.length, subtreeSize(s.root));
        const seen = new Set<string>();
        for (const r of recs) {
          assert.equal(r.type, 'node');
          if (r.type !== 'node') continue;
          assert.equal(r.connId, 0);
          assert.ok(r.perms.length > 0);
          assert.ok(!seen.has(r.path), `${r.path} twice`);
          if (r.path !== '/') {
            const parent = r.path.slice(0, r.path.lastIndexOf('/')) || '/';
            assert.ok(seen.has(parent), `${r.path} before its parent`);
          }
          seen.add(r.path);
        }
        assert.deepEqual(
          recs.map((r) => (r.type === 'node' ? r.path : '')),
          flatten(s.root).map((n) => n.path),
        );
      }),
      { numRuns: 60 },
    );
  });

  test('the root keeps its own value and permissions; values with NULs and empty values survive', () => {
    const s = buildStore([
      { op: 'write', path: ['nul'], value: Buffer.from([0, 0, 0]) },
      { op: 'write', path: ['empty'], value: new Uint8Array(0) },
      { op: 'write', path: ['mixed'], value: Buffer.from('a\0b\0') },
      { op: 'perms', path: ['mixed'], perms: [{ kind: 'b', domid: 3 }, { kind: 'n', domid: 4 }, { kind: 'r', domid: 5 }, { kind: 'w', domid: 6 }] },
    ]);
    s.root = { ...s.root, value: Buffer.from('root\0value'), perms: [{ kind: 'r', domid: 0 }, { kind: 'w', domid: 9 }] };
    const restored = roundTrip(nodeRecords(s.root));
    assertSameTree(restored.root, s.root);
    assert.equal(restored.root.value.toString('latin1'), 'root\0value');
  });
});

describe('snapshot: everything else a daemon holds', () => {
  test('settings, per-domain quotas and features, connections, watches (with depth) and open transactions with their pending changes', () => {
    const h = new Harness();
    const d = h.daemon;
    const a = h.connect();
    const b = h.connect();
    a.write('/data/x', 'one');
    a.write('/data/gone', 'bye');
    a.ok(Op.WATCH, payload('/data', 'tok-a'));
    a.ok(Op.WATCH, payload('/data/x', 'tok-depth', '2'));
    b.ok(Op.WATCH, payload('@introduceDomain', 'special'));
    a.ok(Op.SET_QUOTA, payload('nodes', '4321'));
    d.domains.ensure(5).introduced = true;
    d.domains.ensure(5).features = 1;
    a.ok(Op.SET_QUOTA, payload('5', 'watches', '17'));
    const tx = b.startTransaction();
    b.write('/data/x', 'in tx', tx);
    b.write('/data/new/deep', 'v\0w', tx);
    b.ok(Op.RM, payload('/data/gone'), tx);
    a.events();

    const recs = decodeStream(d.dumpStream()).records;
    const s = restoreState(recs);
    assertSameTree(s.root, d.store.root);
    assert.equal(knownSettings(s.settings).nodes, 4321);
    assert.deepEqual(knownSettings(s.settings), { ...defaultSettings(), nodes: 4321 });
    const dom5 = s.domains.find((x) => x.domid === 5);
    assert.ok(dom5 !== undefined);
    assert.equal(dom5.features, 1);
    assert.deepEqual(dom5.quotas, [['watches', 17]]);
    assert.deepEqual(
      s.connections.map((c) => [c.connId, c.spec.kind]),
      [
        [a.conn.id, 'socket'],
        [b.conn.id, 'socket'],
      ],
    );
    assert.deepEqual(
      s.watches.map((w) => [w.connId, w.path, w.token, w.depth]),
      [
        [a.conn.id, '/data', 'tok-a', undefined],
        [a.conn.id, '/data/x', 'tok-depth', 2],
        [b.conn.id, '@introduceDomain', 'special', undefined],
      ],
    );
    assert.deepEqual(
      s.transactions.map((t) => [t.connId, t.txId]),
      [[b.conn.id, tx]],
    );
    // The transaction's own changes travel as pending NODE_DATA (perm-count 0 = deleted).
    const pending = recs.filter((r): r is Extract<StreamRecord, { type: 'node' }> => r.type === 'node' && r.connId !== 0);
    const t = b.conn.transactions.get(tx);
    assert.ok(t !== undefined);
    assert.deepEqual(
      pending.map((r) => [r.txId, r.path, r.perms.length === 0 ? 'deleted' : r.value.toString('latin1')]),
      diffTrees(t.base, t.root).map((c) => [tx, c.path, c.kind === 'delete' ? 'deleted' : c.value.toString('latin1')]),
    );
    assert.ok(pending.some((r) => r.path === '/data/gone' && r.perms.length === 0 && r.access === 0));
    // Not visible in the committed tree.
    assert.equal(
      flatten(s.root).some((n) => n.path === '/data/new'),
      false,
    );
  });

  test('quota names the receiver does not know are ignored', () => {
    const s = restoreState([
      { type: 'global-quota', perDomain: [['nodes', 12], ['no-such-quota', 5]], global: [['mystery', 1]] },
      ...nodeRecords(buildStore([]).root),
    ]);
    assert.deepEqual(knownSettings(s.settings), { nodes: 12 });
  });

  test('a state file from before the rename restores node-permissions as permissions', () => {
    const s = restoreState([{ type: 'global-quota', perDomain: [['node-permissions', 3]], global: [] }, ...nodeRecords(buildStore([]).root)]);
    assert.deepEqual(knownSettings(s.settings), { permissions: 3 });
  });
});

describe('snapshot: inconsistent record sequences are refused', () => {
  const root: StreamRecord = { type: 'node', connId: 0, txId: 0, path: '/', value: Buffer.alloc(0), access: 0, perms: [{ kind: 'n', domid: 0 }] };
  const node = (path: string): StreamRecord => ({ type: 'node', connId: 0, txId: 0, path, value: Buffer.from('v'), access: 0, perms: [{ kind: 'n', domid: 0 }] });
  const cases: ReadonlyArray<[string, StreamRecord[], RegExp]> = [
    ['no root', [], /no root node/],
    ['a node before the root', [node('/a'), root], /node \/a before the root/],
    ['a node before its parent', [root, node('/a/b')], /node \/a\/b before its parent/],
    ['the same node twice', [root, node('/a'), node('/a')], /node \/a twice/],
    ['an illegal node name', [root, node('/a b')], /inconsistent tree.*bad name/],
  ];
  for (const [name, recs, re] of cases) {
    test(name, () => {
      assert.throws(() => restoreState(recs), (e: unknown) => e instanceof StreamError && re.test(e.message));
    });
  }
});
