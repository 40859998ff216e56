/**
 * Many concurrent transactions on the real Daemon core (in process).
 *
 *  - Disjoint: 50 connections each start a transaction, write ~20 keys under
 *    their own /local/domain/<k>/..., (optionally) read a few shared keys, and
 *    all commit in an interleaved order. None may see EAGAIN, and the store
 *    must end up holding every write. Watchers hear each write once, at commit.
 *  - Contended: transactions that read-modify-write one counter: exactly one
 *    of a round commits, the others get EAGAIN; retrying until success counts
 *    exactly.
 *
 * Interleavings are random but seeded (FC_SEED), so failures reproduce.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { Op } from '../../src/protocol/op.js';
import { Harness, decodeStrings, errorName, payload, type Client } from '../helpers/inproc.js';

const SEED = Number(process.env['FC_SEED'] ?? 0x5eed_0002);
const DOMAINS = 50;
const KEYS = 20;
const SHARED = ['/vm/shared/name', '/vm/shared/uuid', '/local/domain/0/name'];

interface Plan {
  /** Order in which the transactions' requests are issued, one request at a time (a permutation of conn indices per round). */
  readonly rounds: readonly (readonly number[])[];
  /** Order of the commits. */
  readonly commits: readonly number[];
}

const perm = (n: number): fc.Arbitrary<number[]> =>
  fc.shuffledSubarray(
    Array.from({ length: n }, (_, i) => i),
    { minLength: n, maxLength: n },
  );

const planArb = (n: number, rounds: number): fc.Arbitrary<Plan> =>
  fc.record({ rounds: fc.array(perm(n), { minLength: rounds, maxLength: rounds }), commits: perm(n) });

function keyOf(dom: number, j: number): string {
  return `/local/domain/${dom + 1}/device/vif/${j % 4}/k${j}`;
}

function valueOf(dom: number, j: number): string {
  return `d${dom + 1}-v${j}`;
}

/** A dom0 daemon with /local/domain/1..n and the shared keys, and one client per guest plus a watcher. */
function setup(n: number): { h: Harness; clients: Client[]; watcher: Client } {
  const h = new Harness();
  const admin = h.connect();
  for (const p of SHARED) admin.write(p, `shared:${p}`);
  for (let d = 1; d <= n; d++) admin.write(`/local/domain/${d}`, '');
  const watcher = h.connect();
  watcher.ok(Op.WATCH, payload('/local/domain', 'w'));
  assert.deepEqual(watcher.events(), [{ path: '/local/domain', token: 'w' }]);
  const clients = Array.from({ length: n }, () => h.connect());
  return { h, clients, watcher };
}

/**
 * Runs the disjoint scenario for one plan. Request j of transaction k is a
 * write of key j; with `sharedReads`, a few rounds read a shared key instead
 * of (in addition to) writing.
 */
function runDisjoint(plan: Plan, sharedReads: boolean): { how: Record<string, number> } {
  const n = plan.commits.length;
  const { h, clients, watcher } = setup(n);
  const txIds = clients.map((c) => c.startTransaction());
  const cl = (k: number): Client => clients[k]!;
  plan.rounds.forEach((order, j) => {
    for (const k of order) {
      const c = cl(k);
      const tx = txIds[k]!;
      if (sharedReads && j % 7 === 3) {
        const p = SHARED[(j + k) % SHARED.length]!;
        assert.equal(c.read(p, tx).toString('latin1'), `shared:${p}`);
      }
      if (j < KEYS) c.write(keyOf(k, j), valueOf(k, j), tx);
      else assert.deepEqual(c.directory(`/local/domain/${k + 1}/device/vif`, tx), ['0', '1', '2', '3']);
    }
  });
  // Nothing is visible, and nobody hears anything, before the commits.
  assert.deepEqual(watcher.events(), []);
  assert.equal(cl(0).call(Op.READ, payload(keyOf(1, 0))).reply.type, Op.ERROR);
  for (const k of plan.commits) {
    const res = cl(k).endTransaction(txIds[k]!, true);
    assert.equal(res, 'OK', `commit of domain ${k + 1}'s transaction (commit order ${plan.commits.join(',')})`);
    // Its writes, and only those, are announced now.
    const evs = watcher.events().map((e) => e.path).sort();
    const want = Array.from({ length: KEYS }, (_, j) => keyOf(k, j)).sort();
    assert.deepEqual(evs, want);
  }
  const reader = h.connect();
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < KEYS; j++) assert.equal(reader.read(keyOf(k, j)).toString('latin1'), valueOf(k, j));
    assert.deepEqual(reader.directory(`/local/domain/${k + 1}/device/vif`), ['0', '1', '2', '3']);
  }
  assert.deepEqual(h.daemon.check(), []);
  assert.equal(h.daemon.stats.conflicts, 0);
  return { how: { ...h.daemon.stats.commits } };
}

test('50 disjoint transactions, interleaved, all commit (blind writes: graft)', () => {
  const seen: Record<string, number> = {};
  fc.assert(
    fc.property(planArb(DOMAINS, KEYS + 1), (plan) => {
      const { how } = runDisjoint(plan, false);
      for (const [k, v] of Object.entries(how)) seen[k] = (seen[k] ?? 0) + v;
    }),
    { seed: SEED, numRuns: 10, includeErrorInReport: true },
  );
  // Whatever the order, the first commit swaps and the others graft (docs/design.md, "Disjoint guests").
  assert.equal(seen['replay'], 0, JSON.stringify(seen));
});

test('50 disjoint transactions that also read shared keys, interleaved, all commit', () => {
  fc.assert(
    fc.property(planArb(DOMAINS, KEYS + 1), (plan) => {
      runDisjoint(plan, true);
    }),
    { seed: SEED + 1, numRuns: 10, includeErrorInReport: true },
  );
});

test('read-modify-write of one counter: all but one transaction of a round get EAGAIN', () => {
  const N = 20;
  fc.assert(
    fc.property(perm(N), perm(N), fc.boolean(), (readOrder, commitOrder, extraKey) => {
      const h = new Harness();
      const admin = h.connect();
      admin.write('/counter', '0');
      const clients = Array.from({ length: N }, () => h.connect());
      const tx = clients.map((c) => c.startTransaction());
      for (const k of readOrder) {
        const c = clients[k]!;
        const v = Number(c.read('/counter', tx[k]!).toString('latin1'));
        assert.equal(v, 0);
        c.write('/counter', String(v + 1), tx[k]!);
        // A private key too, so a graft or replay cannot dodge the conflict by accident.
        if (extraKey) c.write(`/local/domain/${k + 1}/seen`, '1', tx[k]!);
      }
      const results = commitOrder.map((k) => clients[k]!.endTransaction(tx[k]!, true));
      assert.equal(results[0], 'OK', 'the first commit succeeds');
      assert.deepEqual(results.slice(1), Array(N - 1).fill('EAGAIN'), `results in commit order: ${results.join(' ')}`);
      assert.equal(admin.read('/counter').toString('latin1'), '1');
      // The losers changed nothing.
      const winner = commitOrder[0]!;
      for (let k = 0; k < N; k++) {
        const got = errorName(admin.call(Op.READ, payload(`/local/domain/${k + 1}/seen`)).reply) ?? 'OK';
        assert.equal(got, extraKey && k === winner ? 'OK' : 'ENOENT', `domain ${k + 1}'s private key`);
      }
      assert.deepEqual(h.daemon.check(), []);
    }),
    { seed: SEED + 2, numRuns: 20, includeErrorInReport: true },
  );
});

test('read-modify-write counter with retries counts exactly', () => {
  const N = 12;
  fc.assert(
    fc.property(fc.array(fc.nat(N - 1), { minLength: 50, maxLength: 400 }), (schedule) => {
      const h = new Harness();
      const admin = h.connect();
      admin.write('/counter', '0');
      const clients = Array.from({ length: N }, () => h.connect());
      // Each client: start, read, write +1, commit; on EAGAIN start over. The schedule says who moves next.
      type St = { phase: 'start' | 'read' | 'write' | 'commit' | 'done'; tx: number; v: number; attempts: number };
      const st: St[] = clients.map(() => ({ phase: 'start', tx: 0, v: 0, attempts: 0 }));
      let eagain = 0;
      const stepOf = (k: number): void => {
        const s = st[k]!;
        const c = clients[k]!;
        switch (s.phase) {
          case 'start':
            s.tx = Number(decodeStrings(c.ok(Op.TRANSACTION_START, payload('')))[0]);
            s.attempts++;
            s.phase = 'read';
            return;
          case 'read':
            s.v = Number(c.read('/counter', s.tx).toString('latin1'));
            s.phase = 'write';
            return;
          case 'write':
            c.write('/counter', String(s.v + 1), s.tx);
            s.phase = 'commit';
            return;
          case 'commit': {
            const r = c.endTransaction(s.tx, true);
            if (r === 'OK') s.phase = 'done';
            else {
              assert.equal(r, 'EAGAIN');
              eagain++;
              s.phase = 'start';
            }
            return;
          }
          case 'done':
            return;
        }
      };
      for (const k of schedule) stepOf(k);
      // Then everyone runs to completion, round-robin.
      for (let guard = 0; st.some((s) => s.phase !== 'done'); guard++) {
        assert.ok(guard < 100_000, 'no progress');
        for (let k = 0; k < N; k++) stepOf(k);
      }
      assert.equal(admin.read('/counter').toString('latin1'), String(N));
      assert.equal(h.daemon.stats.conflicts, eagain);
      assert.deepEqual(h.daemon.check(), []);
    }),
    { seed: SEED + 3, numRuns: 50, includeErrorInReport: true },
  );
});
