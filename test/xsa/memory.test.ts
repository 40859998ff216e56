/**
 * XSA regression suite: memory exhaustion (XSA-326; XSA-416 for replies a
 * guest never reads; XSA-349 was the receiving kernels' side of a watch event
 * flood, not the daemon's). Whatever a guest does, the
 * daemon's memory stays bounded: it stops reading a guest that does not read
 * its replies (the outstanding quota), drops a guest's connection once the
 * watch events it does not read pass the output bound (domain-output-bytes
 * for a guest's ring, connection-hard-bytes for a socket) and sets the ring's
 * error field to ERROR_PROTO, sends one event per watch for a big RM
 * (not one per removed node), and bounds what transactions hold with the
 * transactions, nodes, node-size and transaction-nodes quotas.
 *
 * Memory is checked on the daemon process itself: its RSS, sampled from
 * /proc/<pid>/status while the attack runs, stays under RSS_BOUND_KIB (512 MiB,
 * see support.ts), and CONTROL check answers OK afterwards.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { XenStoreClient } from '../../src/client/client.js';
import type { Transaction } from '../../src/client/transaction.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { ERROR_NONE, ERROR_PROTO } from '../../src/ring/layout.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import {
  assertHealthy,
  dom0,
  errCode,
  guestClient,
  makeGuest,
  outcome,
  peakRss,
  pv,
  quotaCount,
  RingGuest,
  RSS_BOUND_KIB,
  rssKiB,
  simDir,
  waitFor,
  useXsaSuite,
  z,
} from './support.js';

const suite = useXsaSuite({ bystander: 70 });
const { daemon, guest, ring } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

let round = 0;
/** dom0 and a well-behaved guest are served. */
async function othersServed(): Promise<void> {
  await suite.bystanderServed();
  const i = round++;
  await d0.write(`/tool/mem/${i}`, String(i));
}

test('XSA-326/XSA-416: replies a guest never reads: the outstanding quota stops reading it, memory stays bounded', async (t) => {
  const h = daemon();
  const r = await ring(71);
  // Replies of 2 KiB each: the node read back is as large as the node-size quota allows.
  assert.equal(outcome(await r.request(Op.WRITE, pv('data/big', Buffer.alloc(2048, 0x78)))), 'OK');
  r.autoRead = false;
  const frame = (id: number): Buffer => encodeFrame(Op.READ, id, 0, z('data/big'));
  const size = frame(0).length;
  const cons0 = r.req.cons;
  let written = 0;
  const { peak } = await peakRss(h.pid, async () => {
    let lastCons = -1;
    let stable = 0;
    // Keep the request ring full until the daemon stops taking from it.
    for (let i = 0; i < 400 && stable < 3; i++) {
      while (r.req.writable() >= size) {
        r.req.write(frame(r.reqId()));
        written++;
      }
      r.kick();
      await othersServed();
      const cons = r.req.cons;
      stable = cons === lastCons ? stable + 1 : 0;
      lastCons = cons;
    }
    assert.ok(stable >= 3, 'the daemon stopped reading the guest');
  });
  const taken = Math.floor(((r.req.cons - cons0) >>> 0) / size);
  t.diagnostic(`${written} READs written, ${taken} taken by the daemon; daemon RSS peak ${Math.round(peak / 1024)} MiB`);
  // The outstanding quota (20) plus what the 1 KiB response ring and one request ring of read-ahead hold.
  assert.ok(taken <= 20 + 1 + 1024 / size + 5, `${taken} requests taken from a guest that reads nothing`);
  assert.ok(peak < RSS_BOUND_KIB, `daemon RSS ${peak} KiB`);
  for (let i = 0; i < 5; i++) await othersServed();
  await assertHealthy(h, d0, 'mem-outstanding');
  // Once it reads, it is answered again.
  r.autoRead = true;
  r.drain();
  await waitFor(() => (r.drain(), r.frames.filter((f) => f.type === Op.READ).length >= written) || undefined, {
    what: `all ${written} replies`,
  });
  assert.equal(r.error, ERROR_NONE);
});

test('XSA-326: watch events to a guest that never reads: the daemon drops its connection past the output bound and sets its ring error (ERROR_PROTO)', async (t) => {
  const h = daemon();
  const r = await ring(72);
  const other = await ring(73); // a second watcher of its own node, reading everything
  // 128 watches (the quota) on one node, each with a ~2 KiB token: every write to the
  // node costs 128 events of ~2 KiB, about 256 KiB, for the daemon to hold.
  const token = (i: number): string => `${String(i).padStart(4, '0')}${'t'.repeat(2000)}`;
  const ids: number[] = [];
  for (let i = 0; i < 128; i++) ids.push(await r.send(Op.WATCH, z('data/hot', token(i))));
  for (const id of ids) assert.equal(outcome(await r.reply(id)), 'OK');
  assert.equal(outcome(await r.request(Op.WATCH, z('data/hot', 'one-too-many'))), 'ERROR ENOSPC', 'the watches quota');
  assert.equal(outcome(await other.request(Op.WATCH, z('data/x', 'mine'))), 'OK');
  r.autoRead = false;
  r.frames.length = 0;

  const before = rssKiB(h.pid);
  let writes = 0;
  const { peak } = await peakRss(h.pid, async () => {
    // dom0 (a backend, the toolstack) keeps updating the node the guest watches,
    // 32 writes in flight at a time, until the daemon gives up on the guest.
    for (let batch = 0; batch < 200 && r.error === ERROR_NONE; batch++) {
      await Promise.all(Array.from({ length: 32 }, () => d0.write('/local/domain/72/data/hot', String(writes++))));
      await othersServed();
    }
  });
  t.diagnostic(`${writes} dom0 writes, ~${Math.round((writes * 128 * 2020) / 2 ** 20)} MiB of events asked for; RSS ${Math.round(before / 1024)} -> peak ${Math.round(peak / 1024)} MiB`);
  await waitFor(() => r.error === ERROR_PROTO || undefined, { what: `the guest's ring error (is ${r.error})` });
  const why = h.log().split('\n').filter((l) => l.includes('dom72') && /dropped/.test(l));
  t.diagnostic(why.join('\n'));
  assert.ok(why.length > 0, 'the daemon logged that it dropped the connection');
  assert.ok(peak < RSS_BOUND_KIB, `daemon RSS peak ${peak} KiB`);
  // Dropping the connection freed its watches; the domain itself lives on.
  assert.equal(quotaCount(await d0.control('quota', '72'), 'watches'), 0);
  assert.equal(await d0.isDomainIntroduced(72), true);
  await othersServed();
  await assertHealthy(h, d0, 'mem-events');
  // The other guest still hears its own watch.
  await d0.write('/local/domain/73/data/x', 'ping');
  await waitFor(() => other.events().filter((e) => e.token === 'mine').length >= 2 || undefined, { what: 'the other guest\'s event' });
  // And the dropped guest may reset its ring and start again.
  r.autoRead = true;
  await r.reset();
  assert.equal(outcome(await r.request(Op.READ, z('name'))), 'guest-72');
});

test('XSA-326: a burst of writes to a node watched by a non-reading guest cannot outgrow the output bound within one turn', async (t) => {
  // A daemon of its own: what this does to the RSS must not colour the other tests' measurements.
  const h = await startDaemon();
  const own = await dom0(h);
  let r: RingGuest | undefined;
  try {
    await makeGuest(own, h, 76);
    r = await RingGuest.open(simDir(h), 76);
    await burst(t, h, own, r);
  } finally {
    r?.close();
    own.close();
    await h.stop();
  }
});

async function burst(t: TestContext, h: DaemonHandle, d0: XenStoreClient, r: RingGuest): Promise<void> {
  const token = (i: number): string => `${String(i).padStart(4, '0')}${'t'.repeat(4000)}`;
  const ids: number[] = [];
  for (let i = 0; i < 128; i++) ids.push(await r.send(Op.WATCH, z('data/hot', token(i))));
  for (const id of ids) assert.equal(outcome(await r.reply(id)), 'OK');
  r.autoRead = false;
  // 1000 WRITEs in one 43 KB buffer on one dom0 socket: the daemon reads and runs them in one turn.
  const writes = 1000;
  const burst = Buffer.concat(
    Array.from({ length: writes }, (_, i) => encodeFrame(Op.WRITE, i + 1, 0, Buffer.concat([z('/local/domain/76/data/hot'), Buffer.from(String(i % 10))]))),
  );
  const before = rssKiB(h.pid);
  const { peak } = await peakRss(h.pid, async () => {
    const s = netConnect(h.socket);
    s.on('error', () => undefined);
    let got = 0;
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= writes * 19) resolve(); // 1000 replies "OK\0" of 19 bytes each
      });
      s.once('connect', () => s.write(burst));
    });
    s.destroy();
  });
  t.diagnostic(`${burst.length} bytes of dom0 writes; daemon RSS ${Math.round(before / 1024)} -> peak ${Math.round(peak / 1024)} MiB`);
  await waitFor(() => r.error === ERROR_PROTO || undefined, { what: `the guest's ring error (is ${r.error})` });
  await assertHealthy(h, d0, 'mem-burst');
  assert.ok(peak < RSS_BOUND_KIB, `daemon RSS peak ${peak} KiB`);
}

test('XSA-326: a big RM sends one event per watch, not one per removed node', async (t) => {
  const g = await guest(74);
  // As many nodes as the quota allows, under one directory.
  const results = await Promise.allSettled(Array.from({ length: 990 }, (_, i) => g.write(`data/tree/d${i % 30}/n${i}`, 'x')));
  const made = results.filter((x) => x.status === 'fulfilled').length;
  assert.ok(made > 900, `${made} nodes made`);
  // 128 watches: on the directory, below it, and beside it.
  const streams = [];
  streams.push(await g.watch('data/tree'));
  streams.push(await g.watch('data'));
  for (let i = 0; i < 30; i++) streams.push(await g.watch(`data/tree/d${i}`));
  for (let i = 0; streams.length < 128; i++) streams.push(await g.watch(`data/tree/d${i % 30}/n${i}`));
  for (const s of streams) await s.next(); // the initial events
  let events = 0;
  const pumps = streams.map(async (s) => {
    for await (const ev of s) {
      void ev;
      events++;
    }
  });
  for (const p of pumps) p.catch(() => undefined);
  await g.rm('data/tree');
  await g.write('data/after', 'x'); // fires `data` once more: the end marker
  await waitFor(() => events >= 129 || undefined, { what: 'the events of the removal' });
  await othersServed();
  t.diagnostic(`${made} nodes removed by one RM, ${events - 1} events for 128 watches`);
  assert.equal(events, 128 + 1, 'one event per watch, plus the marker');
  for (const s of streams) await s.return();
  await assertHealthy(daemon(), d0, 'mem-rm');
});

test('XSA-326: many large nodes across many transactions: bounded by the transactions, nodes, node-size and transaction-nodes quotas', async (t) => {
  const h = daemon();
  const g = await guest(75);
  const value = 'v'.repeat(2048); // node-size
  assert.equal(await errCode(g.write('data/too-big', `${value}x`)), 'E2BIG');
  const txs: Transaction[] = [];
  const { peak } = await peakRss(h.pid, async () => {
    for (let i = 0; i < 10; i++) txs.push(await g.startTransaction());
    assert.equal(await errCode(g.startTransaction()), 'ENOSPC', 'the transactions quota (10)');
    for (const [i, tx] of txs.entries()) {
      // Each transaction writes large nodes until the nodes quota stops it.
      const res = await Promise.allSettled(Array.from({ length: 1100 }, (_, k) => tx.write(`data/t${i}/n${k}`, value)));
      const ok = res.filter((x) => x.status === 'fulfilled').length;
      assert.ok(ok < 1000, `transaction ${i}: ${ok} nodes accepted`);
      const codes = new Set(res.flatMap((x) => (x.status === 'rejected' ? [(x.reason as { code?: string }).code] : [])));
      assert.deepEqual([...codes], ['ENOSPC']);
    }
  });
  t.diagnostic(`10 transactions x ~990 nodes x 2 KiB held; daemon RSS peak ${Math.round(peak / 1024)} MiB`);
  assert.ok(peak < RSS_BOUND_KIB, `daemon RSS ${peak} KiB`);
  assert.equal(quotaCount(await d0.control('quota', '75'), 'transactions'), 10);
  for (const tx of txs) await tx.abort();
  assert.equal(quotaCount(await d0.control('quota', '75'), 'transactions'), 0);
  await othersServed();
  await assertHealthy(h, d0, 'mem-txns');
});

// The history keeps old roots; each holds what its successor replaced. A guest
// rewriting ~2 MiB per transaction would make 1000 revisions hold ~2 GB: the
// history's byte bound (history-bytes) drops the oldest instead.
test('XSA-326: committed revisions kept for history cannot be used to make the daemon retain unbounded memory', { timeout: 300_000 }, async (t) => {
  // A daemon of its own, so that its RSS says something about this attack alone.
  const h = await startDaemon();
  const own = await dom0(h);
  let g: XenStoreClient | undefined;
  try {
    await makeGuest(own, h, 77);
    g = await guestClient(h, 77);
    const gg = g;
    const value = Buffer.alloc(2048);
    const rounds = 70;
    const before = rssKiB(h.pid);
    const { peak } = await peakRss(h.pid, async () => {
      // Each transaction replaces the guest's whole data set (980 nodes of 2 KiB, within every quota).
      for (let r = 0; r < rounds; r++) {
        value.fill(97 + (r % 26));
        const tx = await gg.startTransaction();
        await tx.rm('data/set');
        await Promise.all(Array.from({ length: 980 }, (_, i) => tx.write(`data/set/n${i}`, value)));
        await tx.commit();
      }
    });
    t.diagnostic(`${rounds} commits of ~2 MiB each; daemon RSS ${Math.round(before / 1024)} -> peak ${Math.round(peak / 1024)} MiB`);
    assert.equal(quotaCount(await own.control('quota', '77'), 'nodes'), 7 + 981, 'the guest stayed within its quotas all along');
    await assertHealthy(h, own, 'mem-history');
    assert.ok(peak < RSS_BOUND_KIB, `daemon RSS peak ${peak} KiB`);
  } finally {
    g?.close();
    own.close();
    await h.stop();
  }
});
