/**
 * Requests given up on (src/client/requests.ts), against a fake daemon the
 * test answers by hand: timeoutMs and AbortSignal reject with TimeoutError /
 * AbortError, the late reply is discarded without disturbing the connection,
 * and a late transaction or watch is undone.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Op, type XenStoreClient } from '../../src/client/index.js';
import { RequestTable } from '../../src/client/requests.js';
import { fakePair, xsCode, type FakeDaemon, type FakePair } from '../helpers/fake-daemon.js';

let pair: FakePair;
let fake: FakeDaemon;
let c: XenStoreClient;

beforeEach(async () => {
  pair = await fakePair();
  ({ fake, client: c } = pair);
});

afterEach(() => pair.stop());

const named = (name: string, code: string): ((e: unknown) => boolean) => xsCode(code, name);

test('timeoutMs rejects with a TimeoutError; the late reply is discarded and the connection goes on', async () => {
  // The timer may fire before the fake sees the request: observe the rejection first.
  const rejected = assert.rejects(c.read('/a', { timeoutMs: 1 }), named('TimeoutError', 'ETIMEDOUT'));
  const req = await fake.next();
  await rejected;
  assert.equal(c.inFlight, 1, 'the abandoned request still holds its req_id');
  req.conn.reply(req, 'late');
  const q = c.read('/b');
  const req2 = await fake.next();
  assert.notEqual(req2.reqId, req.reqId);
  req2.conn.send(Op.READ, req2.reqId, 0, 'b-value');
  assert.equal((await q).toString(), 'b-value');
  assert.equal(c.inFlight, 0);
  assert.equal(c.closed, false);
});

test('an AbortSignal rejects with an AbortError whose cause is the reason', async () => {
  const ac = new AbortController();
  const p = c.read('/a', { signal: ac.signal });
  const req = await fake.next();
  const reason = new Error('not needed any more');
  ac.abort(reason);
  await assert.rejects(p, (e: unknown) => named('AbortError', 'ECANCELED')(e) && (e as Error).cause === reason);
  req.conn.error(req, 'ENOENT'); // a late error reply is discarded too
  const q = c.read('/b');
  const req2 = await fake.next();
  req2.conn.send(Op.READ, req2.reqId, 0, 'b');
  assert.equal((await q).toString(), 'b');
});

test('AbortSignal.timeout() gives a TimeoutError', async () => {
  const rejected = assert.rejects(c.read('/a', { signal: AbortSignal.timeout(1) }), named('TimeoutError', 'ETIMEDOUT'));
  await fake.next();
  await rejected;
});

test('an already aborted signal rejects without sending anything', async () => {
  await assert.rejects(c.read('/never', { signal: AbortSignal.abort() }), named('AbortError', 'ECANCELED'));
  await assert.rejects(c.transaction(async () => undefined, { signal: AbortSignal.abort() }), named('AbortError', 'ECANCELED'));
  const q = c.read('/sent');
  const req = await fake.next();
  assert.deepEqual(req.args, ['/sent'], 'the first request the daemon sees is the one after');
  req.conn.reply(req, 'x');
  await q;
});

test('a TRANSACTION_START answered after its caller gave up is ended (F) at once', async () => {
  const ac = new AbortController();
  const p = c.startTransaction({ signal: ac.signal });
  const start = await fake.next();
  assert.equal(start.type, Op.TRANSACTION_START);
  ac.abort();
  await assert.rejects(p, named('AbortError', 'ECANCELED'));
  start.conn.reply(start, '42');
  const end = await fake.next();
  assert.equal(end.type, Op.TRANSACTION_END);
  assert.equal(end.txId, 42);
  assert.deepEqual(end.args, ['F']);
});

test('a WATCH answered after its caller gave up is unwatched at once', async () => {
  const rejected = assert.rejects(c.watch('/w', { token: 'tok', timeoutMs: 1 }), named('TimeoutError', 'ETIMEDOUT'));
  const watch = await fake.next();
  assert.equal(watch.type, Op.WATCH);
  await rejected;
  watch.conn.reply(watch);
  const unwatch = await fake.next();
  assert.equal(unwatch.type, Op.UNWATCH);
  assert.deepEqual(unwatch.args, ['/w', 'tok']);
});

test("a watch's AbortSignal ends its iteration with an AbortError and sends UNWATCH", async () => {
  const ac = new AbortController();
  const p = c.watch('/w', { token: 't', signal: ac.signal });
  const watch = await fake.next();
  watch.conn.reply(watch);
  const w = await p;
  watch.conn.send(Op.WATCH_EVENT, 0, 0, '/w\0t\0');
  assert.equal((await w.next()).value?.path, '/w');
  const waiting = w.next();
  ac.abort();
  await assert.rejects(waiting, named('AbortError', 'ECANCELED'));
  const unwatch = await fake.next();
  assert.equal(unwatch.type, Op.UNWATCH);
  unwatch.conn.reply(unwatch);
});

test('requests in flight each get their own req_id, and replies in any order reach the right caller', async () => {
  const ps = ['/0', '/1', '/2'].map((p) => c.read(p));
  const reqs = [await fake.next(), await fake.next(), await fake.next()];
  assert.equal(new Set(reqs.map((r) => r.reqId)).size, 3);
  for (const r of [...reqs].reverse()) r.conn.send(Op.READ, r.reqId, 0, `v${r.args[0]}`);
  assert.deepEqual((await Promise.all(ps)).map(String), ['v/0', 'v/1', 'v/2']);
});

test('a watch whose signal times out (a TimeoutError reason, as AbortSignal.timeout() gives) ends with a TimeoutError', async () => {
  const ac = new AbortController();
  const p = c.watch('/w', { token: 't2', signal: ac.signal });
  const watch = await fake.next();
  watch.conn.reply(watch);
  const w = await p;
  ac.abort(new DOMException('timed out', 'TimeoutError'));
  const rejected = assert.rejects(w.next(), named('TimeoutError', 'ETIMEDOUT'));
  const unwatch = await fake.next();
  assert.equal(unwatch.type, Op.UNWATCH);
  unwatch.conn.reply(unwatch);
  await rejected;
});

test('req_ids wrap around after 2^32 - 1, skipping 0 and every id still in flight, abandoned ones included', async () => {
  const table = new RequestTable(10, 0xffff_fffe);
  const ids: number[] = [];
  const send = (id: number): void => {
    ids.push(id);
  };
  const ac = new AbortController();
  const abandoned = table.add({ type: Op.READ, path: '/a', args: ['/a'] }, { signal: ac.signal }, send);
  ac.abort();
  await assert.rejects(abandoned, named('AbortError', 'ECANCELED'));
  void table.add({ type: Op.READ, path: '/b', args: ['/b'] }, {}, send);
  void table.add({ type: Op.READ, path: '/c', args: ['/c'] }, {}, send);
  assert.deepEqual(ids, [0xffff_fffe, 0xffff_ffff, 1]);
  assert.equal(table.size, 3, 'the abandoned request keeps its id until its reply');
  assert.equal(table.take(0xffff_fffe).kind, 'late');
  assert.equal(table.take(0xffff_fffe).kind, 'unknown');
  assert.equal(table.size, 2);
});
