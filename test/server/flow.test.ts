/**
 * server/flow.ts alone, on real Connections with in-memory sinks and a host
 * that records what it is asked to do: the per-turn guest budget (deferral,
 * the order of service, output before the next turn), dom0 never deferred, the soft output bound and
 * the outstanding quota, conflict-credit waits, frames too long, and the
 * live-update freeze.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { defaultSettings, type Settings } from '../../src/server/config.js';
import { Connection } from '../../src/server/connection.js';
import { FlowControl, type FlowHost } from '../../src/server/flow.js';
import { MemorySink, payload } from '../helpers/inproc.js';

class Host implements FlowHost {
  readonly settings: Settings = { ...defaultSettings(), 'turn-guest-requests': 2 };
  frozen = false;
  waitMs = 0;
  outstandingQuota = 20;
  /** Bytes each processed request queues as its reply. */
  replyBytes = 10;
  readonly processed: string[] = [];
  readonly dropped: string[] = [];
  flushes = 0;
  /** How many requests had been processed at each flush. */
  readonly flushedAfter: number[] = [];
  outstanding(): number {
    return this.outstandingQuota;
  }
  creditWaitMs(): number {
    return this.waitMs;
  }
  process(conn: Connection, frame: Frame): void {
    this.processed.push(`${conn.id}:${frame.reqId}`);
    conn.reply(frame.type, frame.reqId, 0, Buffer.alloc(this.replyBytes));
  }
  disconnect(conn: Connection, reason?: string): void {
    conn.closed = true;
    this.dropped.push(`${conn.id}: ${reason ?? ''}`);
  }
  /** Run once by the next flush (e.g. a request that arrives while output is written). */
  duringFlush: (() => void) | undefined;
  flush(): void {
    this.flushes++;
    this.flushedAfter.push(this.processed.length);
    const f = this.duringFlush;
    this.duringFlush = undefined;
    f?.();
  }
}

const frames = (n: number, from = 1): Buffer => Buffer.concat(Array.from({ length: n }, (_, i) => encodeFrame(Op.READ, from + i, 0, payload('/a'))));
const conn = (id: number, domid: number): Connection => new Connection(id, domid, domid === 0, new MemorySink(`c${id}`));

test('one turn serves at most turn-guest-requests guest requests; the rest wait for the next turn, in order', () => {
  const h = new Host();
  const f = new FlowControl(h);
  const g1 = conn(1, 5);
  const g2 = conn(2, 6);
  f.receive(g1, frames(3));
  f.receive(g2, frames(2));
  assert.deepEqual(h.processed, ['1:1', '1:2'], 'the budget of 2 is spent on g1');
  assert.equal(g1.throttled, true);
  assert.equal((g1.sink as MemorySink).paused, true);
  assert.equal(g2.throttled, true, 'g2 deferred too');
  f.newTurn();
  assert.deepEqual(h.processed, ['1:1', '1:2', '1:3', '2:1'], 'deferred connections first, oldest first');
  f.newTurn();
  assert.deepEqual(h.processed.slice(4), ['2:2']);
  assert.equal(g2.throttled, false);
});

test("a turn's output leaves before the deferred guests are served; what they get then leaves with the next turn", async () => {
  const h = new Host();
  const f = new FlowControl(h);
  const g = conn(1, 5);
  f.receive(g, frames(5));
  const d0 = conn(2, 0);
  f.receive(d0, frames(1));
  assert.deepEqual(h.processed, ['1:1', '1:2', '2:1']);
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  await nextTurn();
  assert.deepEqual(h.flushedAfter, [3], "dom0's answer left with the guest's first two, before the guest was served again");
  assert.deepEqual(h.processed.slice(3), ['1:3', '1:4'], 'then the new turn served the deferred guest its budget');
  await nextTurn();
  assert.deepEqual(h.flushedAfter, [3, 5]);
  assert.deepEqual(h.processed.slice(5), ['1:5']);
  await nextTurn();
  assert.deepEqual(h.flushedAfter, [3, 5, 6]);
  assert.equal(g.throttled, false);
});

test("a transport's batch, once served, sends what it produced at once; the turn ends there unless guests were served or wait", async () => {
  const h = new Host();
  const f = new FlowControl(h);
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const d0 = conn(1, 0);

  // dom0 alone: its answer leaves at the batch's end, and nothing is left for an immediate.
  f.batchStarted();
  f.batchServed();
  assert.equal(h.flushes, 0, 'nothing produced, nothing sent');
  f.batchStarted();
  f.receive(d0, frames(1));
  assert.equal(h.flushes, 0, 'nothing leaves while the batch is handed over');
  f.batchServed();
  assert.deepEqual(h.flushedAfter, [1]);
  await nextTurn();
  assert.equal(h.flushes, 1, 'the turn ended with the batch');

  // A guest served in the batch and deferred: the batch's output leaves at once, the turn ends at its immediate.
  const g = conn(2, 5);
  f.batchStarted();
  f.receive(d0, frames(1, 10));
  f.receive(g, frames(3));
  f.batchServed();
  assert.deepEqual(h.flushedAfter, [1, 4], "dom0's answer and the guest's budget left at once");
  assert.deepEqual(h.processed.slice(4), [], 'the deferred guest waits for the turn to end');
  await nextTurn();
  assert.deepEqual(h.flushedAfter, [1, 4, 4], 'the turn ended at its immediate');
  assert.deepEqual(h.processed.slice(4), ['2:3'], 'where the deferred guest got the next budget');
  await nextTurn();
  assert.deepEqual(h.flushedAfter, [1, 4, 4, 5], "the guest's answer left at the end of that turn");
  await nextTurn();
  assert.equal(h.flushes, 4, 'nothing was left scheduled');

  // Output scheduled before the batch (a guest's ring, say): the batch sends it too, the immediate still ends the turn.
  f.receive(conn(3, 0), frames(1));
  f.batchStarted();
  f.receive(d0, frames(1, 20));
  f.batchServed();
  assert.deepEqual(h.flushedAfter, [1, 4, 4, 5, 7]);
  await nextTurn();
  assert.equal(h.flushes, 6, 'the immediate set before the batch ended the turn');
  await nextTurn();
  assert.equal(h.flushes, 6);

  // Output produced while the batch's output is written is not lost: it gets a turn of its own.
  f.batchStarted();
  f.receive(d0, frames(1, 30));
  h.duringFlush = () => f.receive(d0, frames(1, 40));
  f.batchServed();
  assert.deepEqual(h.flushedAfter.slice(6), [8]);
  await nextTurn();
  assert.deepEqual(h.flushedAfter.slice(6), [8, 9], 'the request served during the flush was answered at the next immediate');
});

test('a new turn resumes the deferred guests only as far as its budget goes: the others stay paused, first in line', () => {
  const h = new Host();
  const f = new FlowControl(h);
  const gs = [1, 2, 3, 4, 5].map((i) => conn(i, 10 + i));
  for (const g of gs) f.receive(g, frames(1));
  assert.deepEqual(h.processed, ['1:1', '2:1']);
  f.newTurn();
  assert.deepEqual(h.processed.slice(2), ['3:1', '4:1'], 'the two deferred first, in order');
  assert.equal(gs[4]!.throttled, true, 'the fifth is not resumed only to be deferred again');
  assert.equal((gs[4]!.sink as MemorySink).paused, true);
  f.receive(conn(6, 16), frames(1)); // a newcomer in the same turn: the budget is spent
  f.newTurn();
  assert.deepEqual(h.processed.slice(4), ['5:1', '6:1'], 'the one left waiting goes before the newcomer');
  assert.ok(gs.every((g) => !g.throttled));
});

test('dom0 is never deferred, however busy the guests are', () => {
  const h = new Host();
  const f = new FlowControl(h);
  f.receive(conn(1, 5), frames(5));
  const d0 = conn(2, 0);
  f.receive(d0, frames(4));
  assert.deepEqual(h.processed.filter((p) => p.startsWith('2:')), ['2:1', '2:2', '2:3', '2:4']);
  assert.equal(d0.throttled, false);
});

test('a connection whose output passes the soft bound stops being read until it drains below half', () => {
  const h = new Host();
  h.settings['connection-soft-bytes'] = 50;
  h.settings['turn-guest-requests'] = 0; // no budget: only the output bound acts
  h.replyBytes = 20; // 36-byte frames: the second passes 50
  const f = new FlowControl(h);
  const c = conn(1, 0);
  f.receive(c, frames(4));
  assert.deepEqual(h.processed, ['1:1', '1:2'], 'the second reply puts it past 50 bytes');
  assert.equal(c.throttled, true);
  f.writable(c);
  assert.equal(h.processed.length, 2, "still 72 bytes queued: not read");
  c.out.take();
  f.writable(c);
  assert.deepEqual(h.processed, ['1:1', '1:2', '1:3', '1:4']);
});

test('a guest at its outstanding quota is not read; dom0 has none', () => {
  const h = new Host();
  h.outstandingQuota = 2;
  h.settings['turn-guest-requests'] = 0;
  const f = new FlowControl(h);
  const g = conn(1, 5);
  f.receive(g, frames(5));
  assert.equal(h.processed.length, 2);
  const d0 = conn(2, 0);
  f.receive(d0, frames(5));
  assert.equal(h.processed.filter((p) => p.startsWith('2:')).length, 5);
});

test('a guest out of conflict credit waits; frames too long drop the connection; frozen, nothing is processed', async () => {
  const h = new Host();
  h.waitMs = 20;
  const f = new FlowControl(h);
  const g = conn(1, 5);
  f.receive(g, frames(1));
  assert.equal(h.processed.length, 0);
  assert.equal(g.throttled, true);
  h.waitMs = 0;
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(h.processed, ['1:1'], 'served once credit is back');

  const bad = conn(2, 5);
  const head = Buffer.alloc(16);
  head.writeUInt32LE(Op.READ, 0);
  head.writeUInt32LE(100_000, 12); // a payload length past the protocol's limit
  f.receive(bad, head);
  assert.equal(bad.closed, true);
  assert.match(h.dropped[0]!, /^2: /);

  h.frozen = true;
  const d0 = conn(3, 0);
  f.receive(d0, frames(2));
  assert.equal(h.processed.filter((p) => p.startsWith('3:')).length, 0, 'frozen: bytes stay in the decoder');
  h.frozen = false;
  f.resumeAll([d0]);
  assert.equal(h.processed.filter((p) => p.startsWith('3:')).length, 2);
});
