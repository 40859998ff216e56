/**
 * The real daemon gives the memory of a bulk delete back (server/reclaim.ts):
 * 200,000 nodes written, removed by one RM, and once the daemon is idle its
 * memreport counts one gc-hint and its V8 heap is down by far more than the
 * garbage's lower bound. No timing assertion: the wait for the hint is
 * bounded generously, and the margins are wide (the live tree alone is
 * ~50 MiB of heap; what is left after the collection is the empty daemon's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from '../../src/client/client.js';
import { runPopulate } from '../../bench/src/drivers/populate.js';
import { startDaemon, waitFor } from '../helpers/daemon.js';

const NODES = 200_000;
const MIB = 1024 * 1024;

function field(report: string, name: string): number {
  const m = new RegExp(`^${name}: (\\d+)$`, 'm').exec(report);
  assert.ok(m !== null, `memreport has no ${name}: ${report}`);
  return Number(m[1]);
}

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Math.round(Number(m[1]) / 1024);
}

test('after one RM of 200,000 nodes the idle daemon runs one full GC and its heap drops', { timeout: 180_000 }, async (t) => {
  const h = await startDaemon();
  const c = await connect({ path: h.socket });
  try {
    assert.equal(field(await c.control('memreport'), 'gc-hints'), 0);
    const done = await runPopulate({ kind: 'populate', socket: h.socket, from: 0, to: NODES, conns: 2, depth: 64 }, () => Promise.resolve({ t0: 0, t1: Number.POSITIVE_INFINITY }));
    assert.equal(done.counters.written, NODES);
    const full = await c.control('memreport');
    assert.equal(field(full, 'gc-hints'), 0, 'writing frees nothing: no hint');
    const rssFull = rssMiB(h.pid);
    await c.rm('/s');
    // Polled less often than IDLE_MS: each memreport is a request, and the hint waits for idleness.
    const hints = await waitFor(async () => {
      const n = field(await c.control('memreport'), 'gc-hints');
      return n > 0 ? n : false;
    }, { timeoutMs: 60_000, intervalMs: 1000, what: 'the gc hint' });
    assert.equal(hints, 1);
    const after = await c.control('memreport');
    const [heapFull, heapAfter] = [field(full, 'heap-used'), field(after, 'heap-used')];
    t.diagnostic(`heap ${Math.round(heapFull / MIB)} -> ${Math.round(heapAfter / MIB)} MiB, RSS ${rssFull} -> ${rssMiB(h.pid)} MiB`);
    assert.equal(field(after, 'nodes'), field(full, 'nodes') - NODES - 1001);
    assert.ok(heapFull - heapAfter > 25 * MIB && heapAfter < heapFull / 2, `heap-used ${heapFull} before the RM, ${heapAfter} after the hint`);
    // Idle again, with requests in between: still one hint (once per drop).
    for (let i = 0; i < 100; i++) await c.write(`/t/${i}`, 'x');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(field(await c.control('memreport'), 'gc-hints'), 1);
  } finally {
    c.close();
    await h.stop();
  }
});
