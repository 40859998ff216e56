// Ring unit tests: wrap-around at every offset, messages split at every byte,
// impossible indices, and a producer and a consumer in two threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Ring, RingIndexError } from '../../src/ring/ring.js';
import { PAGE_SIZE, REQ_CONS, REQ_PROD } from '../../src/ring/layout.js';
import { RING_SIZE } from '../../src/protocol/limits.js';

const page = (): SharedArrayBuffer => new SharedArrayBuffer(PAGE_SIZE);
const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

test('a message survives wrap-around at every starting offset', () => {
  for (let start = 0; start < RING_SIZE; start++) {
    const p = page();
    const w = new Int32Array(p);
    Atomics.store(w, REQ_PROD, start);
    Atomics.store(w, REQ_CONS, start);
    const ring = Ring.requests(p);
    const msg = pattern(300, start);
    assert.equal(ring.write(msg), 300);
    assert.equal(ring.readable(), 300);
    assert.deepEqual(ring.read(), msg);
    assert.equal(ring.readable(), 0);
  }
});

test('a message written and read in pieces split at every byte reassembles', () => {
  const msg = pattern(RING_SIZE, 7);
  for (let cut = 1; cut < RING_SIZE; cut += 7) {
    const ring = Ring.responses(page());
    assert.equal(ring.write(msg, 0, cut), cut);
    const first = ring.read(cut);
    assert.equal(ring.write(msg, cut), RING_SIZE - cut);
    const rest = ring.read();
    assert.deepEqual(Buffer.concat([first, rest]), msg);
  }
});

test('writes stop when the ring is full and resume as it drains', () => {
  const ring = Ring.requests(page());
  const msg = pattern(1500, 3);
  assert.equal(ring.write(msg), RING_SIZE);
  assert.equal(ring.write(msg, RING_SIZE), 0);
  assert.equal(ring.writable(), 0);
  const a = ring.read(600);
  assert.equal(ring.write(msg, RING_SIZE), 1500 - RING_SIZE);
  const b = ring.read();
  assert.deepEqual(Buffer.concat([a, b]), msg);
});

test('indices survive 32-bit wrap', () => {
  const p = page();
  const w = new Int32Array(p);
  Atomics.store(w, REQ_PROD, -10); // 0xfffffff6
  Atomics.store(w, REQ_CONS, -10);
  const ring = Ring.requests(p);
  const msg = pattern(100, 1);
  assert.equal(ring.write(msg), 100);
  assert.equal(ring.prod, 90);
  assert.deepEqual(ring.read(), msg);
  assert.equal(ring.cons, 90);
});

test('a producer index more than a ring ahead is rejected', () => {
  const p = page();
  Atomics.store(new Int32Array(p), REQ_PROD, RING_SIZE + 1);
  const ring = Ring.requests(p);
  assert.throws(() => ring.readable(), RingIndexError);
  assert.throws(() => ring.read(), RingIndexError);
  assert.throws(() => ring.write(Buffer.from('x')), RingIndexError);
});

test('a producer and a consumer in two threads move 1 MiB intact', async () => {
  const p = page();
  const total = 1 << 20;
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { page, total, ringUrl } = workerData;
    import(ringUrl).then(({ Ring }) => {
      const ring = Ring.requests(page);
      const chunk = Buffer.alloc(700);
      let sent = 0;
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        for (let i = 0; i < n; i++) chunk[i] = (sent + i) & 0xff;
        let off = 0;
        while (off < n) off += ring.write(chunk, off, n - off);
        sent += n;
      }
      parentPort.postMessage('done');
    });
  `;
  const ringUrl = new URL('../../src/ring/ring.js', import.meta.url).href;
  const worker = new Worker(src, { eval: true, workerData: { page: p, total, ringUrl } });
  const ring = Ring.requests(p);
  let got = 0;
  let bad = -1;
  const deadline = Date.now() + 120_000;
  while (got < total && Date.now() < deadline) {
    const b = ring.read();
    for (let i = 0; i < b.length; i++) if (b[i] !== ((got + i) & 0xff) && bad < 0) bad = got + i;
    got += b.length;
    if (b.length === 0) await new Promise((r) => setImmediate(r));
  }
  await worker.terminate();
  assert.equal(got, total);
  assert.equal(bad, -1, `first corrupt byte at ${bad}`);
});
