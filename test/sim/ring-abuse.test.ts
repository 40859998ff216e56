/**
 * Bad input from a guest, written straight into its shared page by the test
 * (RawRing): impossible indices, oversized headers, half messages, floods,
 * and the reconnect handshake. Each time the daemon must confine the damage
 * to that guest's ring, while dom0 and another (well-behaved, in-process)
 * guest keep being served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect, XenStoreClient } from '../../src/client/client.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { CONNECTED, CONNECTION, ERROR_NONE, ERROR_PROTO, ERROR_RINGIDX, RECONNECT, REQ_CONS, REQ_PROD, RSP_CONS } from '../../src/ring/layout.js';
import { GuestChannel, readDescriptor } from '../../src/sim/guest.js';
import { evtchnPath } from '../../src/sim/layout.js';
import { createGuest } from '../../src/sim/toolstack.js';
import { startDaemon, useDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';
import { dom0, errCode, payloadText, RawRing, simDirOf, z } from '../helpers/guests.js';
import { connectGuest } from '../../src/sim/connect-guest.js';

/** Per test: generous, for a loaded machine; only a hang should ever reach it. */
const TIMEOUT = 120_000;
const daemon = useDaemon();
let d0: XenStoreClient;
let sim: string;
/** A well-behaved guest, in process. */
let good: XenStoreClient;
const rings: RawRing[] = [];
const clients: XenStoreClient[] = [];

before(async () => {
  const h = await daemon.ready();
  d0 = await dom0(h);
  sim = simDirOf(h);
  await createGuest(d0, { domid: 200, dir: sim });
  good = await connectGuest(200, { simDir: sim });
});

after(() => {
  for (const r of rings) r.close();
  for (const c of clients) c.close();
  good?.close();
  d0?.close();
});

async function rawGuest(domid: number): Promise<RawRing> {
  await createGuest(d0, { domid, dir: sim });
  const r = await RawRing.open(sim, domid);
  rings.push(r);
  return r;
}

let rounds = 0;
/** dom0 and the good guest are served (and the daemon has taken its turns in between). */
async function othersWork(): Promise<void> {
  const n = rounds++;
  await d0.write(`/tool/abuse/${n}`, String(n));
  assert.equal(await errCode(good.read(`/tool/abuse/${n}`)), 'EACCES');
  await good.write(`data/r${n}`, String(n));
  assert.equal(await good.readString(`data/r${n}`), String(n));
  assert.equal(await d0.readString(`/local/domain/200/data/r${n}`), String(n));
  assert.equal(daemon().running(), true, 'the daemon is running');
}

/** A valid READ of the guest's own name gets its answer. */
async function assertServed(r: RawRing): Promise<void> {
  const f = await r.request(Op.READ, z('name'));
  assert.equal(f.type, Op.READ, payloadText(f));
  assert.equal(payloadText(f), `guest-${r.domid}`);
}

/** The guest-initiated reset, done by hand: CONNECTION = RECONNECT, kick, wait for CONNECTED. */
async function reconnect(r: RawRing): Promise<void> {
  r.set(CONNECTION, RECONNECT);
  r.kick();
  await waitFor(() => r.connection === CONNECTED || undefined, { what: `domain ${r.domid}'s reconnect to complete` });
  r.frames.length = 0;
}

/** Several turns of the daemon in which `r` kicked and others were served; nothing may come back on `r`. */
async function assertIgnored(r: RawRing, what: string): Promise<void> {
  const before = r.indices();
  const frames = r.frames.length;
  for (let i = 0; i < 3; i++) {
    r.kick();
    await othersWork();
  }
  r.drain();
  assert.deepEqual(r.indices(), before, `${what}: the daemon left the ring alone`);
  assert.equal(r.frames.length, frames, `${what}: no replies`);
}

test('garbage request indices: error field RINGIDX, the ring is ignored, everyone else is served', { timeout: TIMEOUT }, async () => {
  const r = await rawGuest(101);
  await assertServed(r);
  const variants: Array<[string, (cons: number, prod: number) => [number, number]]> = [
    ['req_prod far beyond req_cons', (cons) => [cons, cons + 5000]],
    ['req_prod behind req_cons', (cons) => [cons, cons - 1]],
    ['req_prod half the index space away', (cons) => [cons, cons + 0x8000_0000]],
    ['req_cons moved past req_prod by the guest', (_cons, prod) => [prod + 2000, prod]],
  ];
  for (const [what, make] of variants) {
    const [cons, prod] = r.indices();
    const [c2, p2] = make(cons, prod);
    r.set(REQ_CONS, c2);
    r.set(REQ_PROD, p2);
    r.kick();
    await waitFor(() => r.error === ERROR_RINGIDX || undefined, { what: `error field RINGIDX after ${what} (error is ${r.error})` });
    await othersWork();
    assert.equal(await d0.isDomainIntroduced(101), true, 'a ring error does not end the domain');

    // A sane request now, without a reset: still ignored.
    r.set(REQ_CONS, 0);
    r.set(REQ_PROD, 0);
    r.put(encodeFrame(Op.READ, r.reqId(), 0, z('name')));
    await assertIgnored(r, what);

    // The reset brings it back.
    await reconnect(r);
    assert.deepEqual(r.indices(), [0, 0, 0, 0]);
    assert.equal(r.error, ERROR_NONE);
    await assertServed(r);
  }
  assert.equal(await d0.control('check'), 'OK');
});

test('a header announcing len > 4096: error field PROTO, the ring is ignored, everyone else is served', { timeout: TIMEOUT }, async () => {
  const r = await rawGuest(102);
  await assertServed(r);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(Op.WRITE, 0);
  header.writeUInt32LE(r.reqId(), 4);
  header.writeUInt32LE(0, 8);
  header.writeUInt32LE(4097, 12);
  r.put(header);
  r.put(Buffer.alloc(200, 0x41));
  r.kick();
  await waitFor(() => r.error === ERROR_PROTO || undefined, { what: `error field PROTO (error is ${r.error})` });
  await othersWork();
  r.put(encodeFrame(Op.READ, r.reqId(), 0, z('name')));
  await assertIgnored(r, 'after PROTO');
  await reconnect(r);
  assert.equal(r.error, ERROR_NONE);
  await assertServed(r);

  // The largest legal message, four times the ring, is streamed through it.
  const value = 'v'.repeat(2000);
  const w = await r.request(Op.WRITE, Buffer.concat([z('data/big'), Buffer.from(value, 'latin1')]));
  assert.equal(w.type, Op.WRITE, payloadText(w));
  assert.equal(await d0.readString('/local/domain/102/data/big'), value);
  const big = Buffer.concat([z('data/huge'), Buffer.alloc(4096 - 10, 0x42)]);
  assert.equal(big.length, 4096);
  const e = await r.request(Op.WRITE, big);
  assert.equal(e.type, Op.ERROR, 'the node-size quota refuses it, the protocol does not');
  assert.equal(r.error, ERROR_NONE);
  await assertServed(r);
  assert.equal(await d0.control('check'), 'OK');
});

test('half a message then nothing: nothing breaks, and the completion is answered', { timeout: TIMEOUT }, async () => {
  const r = await rawGuest(103);
  await assertServed(r);
  const base = r.indices()[0];
  const framesBefore = r.frames.length;
  const reqId = r.reqId();
  const frame = encodeFrame(Op.WRITE, reqId, 0, Buffer.concat([z('data/half'), Buffer.from('complete', 'latin1')]));
  const cuts = [7, 16, 20, frame.length];
  let off = 0;
  for (const cut of cuts) {
    assert.equal(r.put(frame.subarray(off, cut)), cut - off);
    off = cut;
    r.kick();
    if (off < frame.length) {
      // The daemon takes what is there and waits for more; nobody else waits.
      await waitFor(() => r.indices()[0] === base + off || undefined, { what: `the daemon to consume the first ${off} bytes` });
      await othersWork();
      r.drain();
      assert.equal(r.frames.length, framesBefore, 'no reply to a partial message');
      assert.equal(r.error, ERROR_NONE);
      assert.equal(await d0.exists('/local/domain/103/data/half'), false);
    }
  }
  const reply = await r.reply(reqId);
  assert.equal(reply.type, Op.WRITE, payloadText(reply));
  assert.equal(await d0.readString('/local/domain/103/data/half'), 'complete');
  // A message whose header straddles the end of the ring: a filler request first, to put it there.
  const at = r.indices()[0] % 1024;
  let fill = (1024 - 5 - at + 1024) % 1024;
  if (fill < 25) fill += 1024;
  const filler = await r.request(Op.WRITE, Buffer.concat([z('data/pad'), Buffer.alloc(fill - 25, 0x70)]));
  assert.equal(filler.type, Op.WRITE, payloadText(filler));
  assert.equal(r.indices()[1] % 1024, 1019);
  await assertServed(r);
  assert.equal(await d0.control('check'), 'OK');
});

test('a guest flooding requests without reading replies is throttled; others are served', { timeout: TIMEOUT }, async (t) => {
  const r = await rawGuest(104);
  await assertServed(r);
  r.autoRead = false;
  const frameFor = (id: number): Buffer => encodeFrame(Op.READ, id, 0, z('name'));
  const size = frameFor(0).length;
  const sent: number[] = [];
  let lastCons = -1;
  let stableRounds = 0;
  const rspFull = (): boolean => {
    const [, , rc, rp] = r.indices();
    return ((rp - rc) >>> 0) > 1024 - 64;
  };
  // Keep the request ring full until the daemon stops taking from it (with its response ring full).
  for (let round = 0; round < 400 && !(stableRounds >= 3 && rspFull()); round++) {
    while (r.req.writable() >= size) {
      const id = r.reqId();
      assert.equal(r.put(frameFor(id)), size);
      sent.push(id);
    }
    r.kick();
    await othersWork();
    const cons = r.indices()[0];
    stableRounds = cons === lastCons ? stableRounds + 1 : 0;
    lastCons = cons;
  }
  const consumed = Math.floor(lastCons / size);
  t.diagnostic(`flood: ${sent.length} requests written, ${consumed} taken by the daemon before it stopped reading`);
  assert.ok(stableRounds >= 3 && rspFull(), `the daemon kept consuming: ${consumed} requests taken`);
  // Bounded: what fits in the response ring, the outstanding quota (20) and one ring's worth of read-ahead.
  assert.ok(consumed <= 200, `${consumed} requests taken from a guest that reads no replies`);
  assert.ok(sent.length - consumed >= 1000 / size - 1, 'the request ring stays full');
  // While it is throttled, everyone else is served, many times over.
  for (let i = 0; i < 10; i++) await othersWork();
  assert.match(await d0.control('memreport'), /^connections: /m);

  // Once it reads its replies, every request is answered, in order.
  r.autoRead = true;
  r.drain();
  await waitFor(
    () => {
      r.kick();
      r.drain();
      return r.frames.filter((f) => f.type === Op.READ).length >= sent.length + 1 || undefined;
    },
    { what: `all ${sent.length} flood replies (have ${r.frames.length})` },
  );
  const ids = r.frames.filter((f) => f.type === Op.READ).map((f) => f.reqId).slice(1);
  assert.deepEqual(ids, sent);
  assert.ok(r.frames.every((f) => f.type !== Op.READ || payloadText(f) === 'guest-104'));
  assert.equal(r.error, ERROR_NONE);
  await assertServed(r);
  assert.equal(await d0.control('check'), 'OK');
});

/**
 * A corrupt response ring (rsp_cons moved past rsp_prod) must cost the guest
 * its ring (error field RINGIDX), never the daemon. Each case runs on a daemon
 * of its own, so that a crash cannot take the other tests with it.
 */

async function withOwnDaemon(fn: (h: DaemonHandle, d: XenStoreClient, dir: string, r: RawRing) => Promise<void>): Promise<void> {
  const h = await startDaemon();
  const d = await dom0(h);
  let r: RawRing | undefined;
  try {
    const dir = simDirOf(h);
    await createGuest(d, { domid: 5, dir });
    r = await RawRing.open(dir, 5);
    await fn(h, d, dir, r);
  } finally {
    r?.close();
    d.close();
    await h.stop();
  }
}

/** The daemon still runs and answers dom0, and the guest's ring is flagged RINGIDX. */
async function assertConfined(h: DaemonHandle, d: XenStoreClient, r: RawRing): Promise<void> {
  await waitFor(() => r.error === ERROR_RINGIDX || !h.running() || undefined, { what: `error field RINGIDX (error is ${r.error})` });
  assert.equal(h.running(), true, `the daemon died:\n${h.log()}`);
  assert.equal(r.error, ERROR_RINGIDX);
  await d.write('/tool/after', 'x');
  assert.equal(await d.readString('/tool/after'), 'x');
  assert.equal(await d.control('check'), 'OK');
  await reconnect(r);
  await assertServed(r);
}

test('garbage response indices, then a request: the guest is flagged, the daemon lives', { timeout: TIMEOUT }, async () => {
  await withOwnDaemon(async (h, d, _dir, r) => {
    r.autoRead = false;
    r.set(RSP_CONS, 3000); // "3000 bytes consumed" of a response ring that produced none
    r.put(encodeFrame(Op.READ, r.reqId(), 0, z('name')));
    r.kick();
    await assertConfined(h, d, r);
  });
});

test('garbage response indices, then a watch event caused by dom0: dom0 is answered, the daemon lives', { timeout: TIMEOUT }, async () => {
  await withOwnDaemon(async (h, d, _dir, r) => {
    const w = await r.request(Op.WATCH, z('data', 'tok'));
    assert.equal(w.type, Op.WATCH, payloadText(w));
    await waitFor(() => r.frames.some((f) => f.type === Op.WATCH_EVENT) || undefined, { what: 'the initial watch event' });
    r.autoRead = false;
    r.set(RSP_CONS, r.indices()[3] + 3000);
    await d.write('/local/domain/5/data/x', 'boom');
    await assertConfined(h, d, r);
  });
});

test('the reconnect handshake zeroes the ring and drops the guest\'s watches and transactions', { timeout: TIMEOUT }, async () => {
  const r = await rawGuest(106);
  const w = await r.request(Op.WATCH, z('data', 'tok'));
  assert.equal(w.type, Op.WATCH, payloadText(w));
  const t = await r.request(Op.TRANSACTION_START, z(''));
  assert.equal(t.type, Op.TRANSACTION_START, payloadText(t));
  const txId = Number(payloadText(t));
  const tw = await r.request(Op.WRITE, Buffer.concat([z('data/intx'), Buffer.from('x')]), txId);
  assert.equal(tw.type, Op.WRITE, payloadText(tw));
  assert.match(await d0.control('quota', '106'), /^watches +: +1$/m);
  assert.match(await d0.control('quota', '106'), /^transactions +: +1$/m);
  // Leave junk behind: half a request and an unread reply.
  r.put(encodeFrame(Op.READ, r.reqId(), 0, z('name')).subarray(0, 9));
  r.kick();
  await waitFor(() => r.indices()[0] === r.indices()[1] || undefined, { what: 'the daemon to take the half request' });

  r.set(CONNECTION, RECONNECT);
  r.kick();
  await waitFor(() => r.connection === CONNECTED || undefined, { what: 'connection = CONNECTED' });
  assert.deepEqual(r.indices(), [0, 0, 0, 0]);
  assert.equal(r.error, ERROR_NONE);
  r.frames.length = 0;
  assert.match(await d0.control('quota', '106'), /^watches +: +0$/m);
  assert.match(await d0.control('quota', '106'), /^transactions +: +0$/m);
  assert.equal(await d0.exists('/local/domain/106/data/intx'), false);

  // The old transaction is unknown; the old watch no longer fires; the new connection works.
  const old = await r.request(Op.WRITE, Buffer.concat([z('data/late'), Buffer.from('x')]), txId);
  assert.equal(old.type, Op.ERROR);
  assert.equal(payloadText(old), 'ENOENT');
  await d0.write('/local/domain/106/data/ping', 'x');
  await assertServed(r);
  assert.equal(r.frames.filter((f) => f.type === Op.WATCH_EVENT).length, 0, 'no event for the dropped watch');
  // The same watch may be set again.
  const again = await r.request(Op.WATCH, z('data', 'tok'));
  assert.equal(again.type, Op.WATCH, payloadText(again));
  assert.equal(await d0.control('check'), 'OK');
});

test('GuestChannel.reset(): the normal path of the reconnect handshake', { timeout: TIMEOUT }, async () => {
  await createGuest(d0, { domid: 107, dir: sim });
  const channel = await GuestChannel.open(107, sim);
  const c = new XenStoreClient(channel);
  clients.push(c);
  const stream = await c.watch('data');
  assert.equal((await stream.next()).value?.path, 'data');
  const tx = await c.startTransaction();
  await tx.write('data/intx', 'x');
  assert.match(await d0.control('quota', '107'), /^watches +: +1$/m);

  await channel.reset();
  assert.equal(channel.error, ERROR_NONE);
  assert.match(await d0.control('quota', '107'), /^watches +: +0$/m);
  assert.match(await d0.control('quota', '107'), /^transactions +: +0$/m);
  assert.equal(await errCode(tx.write('data/intx2', 'y')), 'ENOENT');
  assert.equal(await c.readString('name'), 'guest-107');

  let oldFired = false;
  void stream.next().then(() => {
    oldFired = true;
  }, () => undefined);
  const sentinel = await c.watch('data/sentinel');
  assert.equal((await sentinel.next()).value?.path, 'data/sentinel');
  await d0.write('/local/domain/107/data/ping', 'x');
  await d0.write('/local/domain/107/data/sentinel', 'x');
  assert.equal((await sentinel.next()).value?.path, 'data/sentinel');
  assert.equal(oldFired, false, 'the watch set before the reset does not fire');
  assert.equal(await d0.exists('/local/domain/107/data/intx'), false);
  assert.equal(await d0.control('check'), 'OK');
});

test('the event channel: a wrong port or an unknown domain is refused; the guest still binds', { timeout: TIMEOUT }, async () => {
  await createGuest(d0, { domid: 108, dir: sim });
  const { port } = readDescriptor(sim, 108);
  const attempt = (line: string): Promise<string> =>
    new Promise((resolve) => {
      const s = netConnect(evtchnPath(sim));
      let got = '';
      s.on('error', () => resolve(got));
      s.on('data', (b: Buffer) => {
        got += b.toString('latin1');
      });
      s.on('close', () => resolve(got));
      s.once('connect', () => s.write(line));
      setTimeout(() => s.destroy(), 5_000).unref();
    });
  assert.equal(await attempt(`bind 108 ${port + 1}\n`), 'ENOENT\n');
  assert.equal(await attempt(`bind 999 ${port}\n`), 'ENOENT\n');
  assert.equal(await attempt('garbage\n'), '');
  assert.equal(await attempt('x'.repeat(100)), '');
  await othersWork();
  const r = await RawRing.open(sim, 108);
  rings.push(r);
  await assertServed(r);
});
