/**
 * Unfairness (XSA-206 class): busy guests must not starve the control domain.
 * One event-loop turn serves at most `turn-guest-requests` requests of
 * unprivileged connections; a guest with more pending is paused until the
 * next turn (its requests stay queued, in order), while dom0's requests are
 * served as they arrive. In-process and by turn counting: no clocks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { Harness, payload } from '../helpers/inproc.js';

const BUDGET = 10;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a guest flooding requests is served BUDGET per turn, in order, none lost; dom0 is answered in the first turn', async () => {
  const h = new Harness({ settings: { 'turn-guest-requests': BUDGET } });
  const d0 = h.connect(0, true);
  d0.write('/shared', 'v');
  d0.ok(Op.SET_PERMS, payload('/shared', 'r0')); // everyone may read it
  const g = h.connect(5, false);
  const n = 35;
  // 35 READs in one chunk, as a busy ring delivers them.
  const chunk = Buffer.concat(Array.from({ length: n }, (_, i) => encodeFrame(Op.READ, i + 1, 0, payload('/shared'))));
  h.daemon.receive(g.conn, chunk);
  assert.equal(g.sink.paused, true, 'the guest is paused once the turn budget is spent');
  // dom0 asks after the guest's flood, in the same turn.
  h.daemon.receive(d0.conn, encodeFrame(Op.READ, 99, 0, payload('/shared')));
  const answered: number[] = [];
  let dom0Turn: number | undefined;
  // The daemon's own event-loop turns (its flush and resumptions are setImmediate callbacks).
  for (let turn = 1; turn <= 100 && answered.length < n; turn++) {
    await nextTurn();
    const mine = g.frames();
    // A turn serves at most one budget, plus what the previous one took before its flush.
    assert.ok(mine.length <= 2 * BUDGET, `turn ${turn}: ${mine.length} replies`);
    for (const f of mine) {
      assert.equal(f.type, Op.READ);
      answered.push(f.reqId);
    }
    if (dom0Turn === undefined && d0.frames().some((f) => f.reqId === 99 && f.type === Op.READ)) dom0Turn = turn;
    if (turn === 1) assert.ok(answered.length < n, 'the guest is not served all at once');
  }
  assert.equal(dom0Turn, 1, "dom0's request did not wait behind the guest's");
  assert.deepEqual(answered, Array.from({ length: n }, (_, i) => i + 1), 'every guest request answered once, in order');
  assert.equal(g.sink.paused, false, 'the guest is read again once its backlog is served');
  assert.deepEqual(h.daemon.check(), []);
});

test('dom0 connections have no turn budget', () => {
  const h = new Harness({ settings: { 'turn-guest-requests': BUDGET } });
  const d0 = h.connect(0, true);
  const chunk = Buffer.concat(Array.from({ length: 5 * BUDGET }, (_, i) => encodeFrame(Op.WRITE, i + 1, 0, payload('/k', `${i}`))));
  h.daemon.receive(d0.conn, chunk);
  assert.equal(d0.sink.paused, false);
  h.daemon.flush();
  assert.equal(d0.frames().length, 5 * BUDGET, 'all answered in one turn');
});

test('during a live-update handover a deferred guest stays paused: its requests wait in the decoder (handed to the next daemon), and are served if the update is abandoned', async () => {
  const h = new Harness({ settings: { 'turn-guest-requests': BUDGET } });
  const d0 = h.connect(0, true);
  d0.write('/shared', 'v');
  d0.ok(Op.SET_PERMS, payload('/shared', 'r0'));
  const g = h.connect(5, false);
  const n = 35;
  h.daemon.receive(g.conn, Buffer.concat(Array.from({ length: n }, (_, i) => encodeFrame(Op.READ, i + 1, 0, payload('/shared')))));
  h.daemon.frozen = true; // what LiveUpdater.handover does first
  for (let turn = 0; turn < 5; turn++) {
    h.daemon.flush();
    await nextTurn();
  }
  const before = g.frames().map((f) => f.reqId);
  assert.deepEqual(before, Array.from({ length: BUDGET }, (_, i) => i + 1), 'only what was served before the freeze');
  assert.equal(g.conn.decoder.unread().length, (n - BUDGET) * encodeFrame(Op.READ, 0, 0, payload('/shared')).length, 'the rest is still unread');
  // The update is abandoned.
  h.daemon.frozen = false;
  h.daemon.resumeAll();
  const answered = [...before];
  for (let turn = 0; turn < 100 && answered.length < n; turn++) {
    await nextTurn();
    answered.push(...g.frames().map((f) => f.reqId));
  }
  assert.deepEqual(answered, Array.from({ length: n }, (_, i) => i + 1));
});

test('a turn budget of 0 means no limit (not a daemon that never serves guests)', () => {
  const h = new Harness({ settings: { 'turn-guest-requests': 0 } });
  const g = h.connect(5, false);
  h.daemon.receive(g.conn, Buffer.concat(Array.from({ length: 15 }, (_, i) => encodeFrame(Op.GET_DOMAIN_PATH, i + 1, 0, payload('5')))));
  assert.equal(g.sink.paused, false);
  h.daemon.flush();
  assert.equal(g.frames().length, 15);
});
