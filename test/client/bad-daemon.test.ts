/**
 * A daemon that answers garbage (src/client/client.ts, onFrame): a reply to
 * no request, a reply of the wrong type, an oversize frame. Each ends the
 * connection with EPROTO: every pending request and watch rejects, 'error'
 * then 'close' are emitted, nothing hangs. An error string the client does
 * not know maps to EUNKNOWN and leaves the connection up.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, Op, type XenStoreClient, type XenStoreError } from '../../src/client/index.js';
import { HEADER_SIZE } from '../../src/protocol/limits.js';
import { fakePair, xsCode as code, type FakeConnection, type FakeDaemon, type FakePair } from '../helpers/fake-daemon.js';

let pair: FakePair;
let fake: FakeDaemon;
let c: XenStoreClient;
let events: string[];

beforeEach(async () => {
  pair = await fakePair();
  ({ fake, client: c } = pair);
  events = [];
  c.on('error', (e) => events.push(`error ${e.code}`));
  c.on('close', (e) => events.push(`close ${e.code}`));
});

afterEach(() => pair.stop());

/** Two reads and a watch in flight; returns them and the connection the fake saw them on. */
async function pendingWork(): Promise<{ work: Array<Promise<unknown>>; conn: FakeConnection }> {
  const watchReady = c.watch('/w');
  const watchReq = await fake.next();
  watchReq.conn.reply(watchReq);
  const w = await watchReady;
  const work = [c.read('/a'), c.read('/b'), w.next()];
  await fake.next();
  await fake.next();
  return { work, conn: watchReq.conn };
}

async function assertAllFailWithEproto(work: Array<Promise<unknown>>): Promise<void> {
  for (const p of work) await assert.rejects(p, code('EPROTO'));
  await assert.rejects(c.read('/later'), code('EPROTO'));
  assert.equal(c.closed, true);
  assert.deepEqual(events, ['error EPROTO', 'close EPROTO']);
}

test('a reply with a req_id no request has ends the connection with EPROTO', async () => {
  const { work, conn } = await pendingWork();
  conn.send(Op.READ, 999_999, 0, 'who asked?\0');
  await assertAllFailWithEproto(work);
});

test('a reply of another type than the request ends the connection with EPROTO', async () => {
  const { work, conn } = await pendingWork();
  const req = c.read('/c');
  const r = await fake.next();
  conn.send(Op.DIRECTORY, r.reqId, 0, 'x\0');
  await assertAllFailWithEproto([...work, req]);
});

test('a frame announcing more than 4096 bytes ends the connection with EPROTO', async () => {
  const { work, conn } = await pendingWork();
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(Op.READ, 0);
  header.writeUInt32LE(1, 4);
  header.writeUInt32LE(5000, 12);
  conn.socket.write(header);
  await assertAllFailWithEproto(work);
});

test('the daemon closing the connection rejects everything with ECONNRESET and emits error, close', async () => {
  const { work, conn } = await pendingWork();
  conn.socket.destroy();
  for (const p of work) await assert.rejects(p, code('ECONNRESET'));
  assert.deepEqual(events, ['error ECONNRESET', 'close ECONNRESET']);
});

test('close() emits close (ECLOSED) and no error', async () => {
  c.close();
  await assert.rejects(c.read('/x'), code('ECLOSED'));
  assert.deepEqual(events, ['close ECLOSED']);
});

test("an error string the client does not know is EUNKNOWN, with the daemon's text; the connection stays", async () => {
  const p = c.read('/a');
  const r = await fake.next();
  r.conn.error(r, 'EWEIRD');
  await assert.rejects(p, (e: unknown) => code('EUNKNOWN')(e) && /EWEIRD/.test((e as XenStoreError).detail ?? ''));
  const q = c.read('/b');
  const r2 = await fake.next();
  r2.conn.reply(r2, 'fine');
  assert.equal((await q).toString(), 'fine\0');
  assert.deepEqual(events, []);
});

test('without an error listener a failing connection does not throw; requests still reject', async () => {
  const quiet = await connect({ path: fake.path });
  const p = quiet.read('/a');
  const r = await fake.next();
  r.conn.send(Op.READ, r.reqId + 1000, 0, 'x\0');
  await assert.rejects(p, code('EPROTO'));
  quiet.close();
});
