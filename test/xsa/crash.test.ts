/**
 * XSA regression suite: crashes from bad sequences. RESET_WATCHES inside a
 * transaction (XSA-330: oxenstored leaked there; XSA-484: C xenstored
 * asserted there), RELEASE or death of a domain in the middle of its
 * transactions (XSA-425, CVE-2022-42330: a soft reset's RELEASE crashed C
 * xenstored), nodes deleted inside transactions and outside
 * at once (XSA-421, XSA-440: a negative count crashed C xenstored), deep
 * recursion on a tree as deep as paths allow (XSA-418: 1530 levels, created,
 * listed with xenstore-ls, purged on domain release, removed), and
 * TRANSACTION_END naming another connection's transaction. After each, the
 * daemon runs, CONTROL check says OK, and everyone else is served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { XenStoreClient } from '../../src/client/client.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { signalDeath } from '../../src/sim/toolstack.js';
import { run } from '../helpers/daemon.js';
import { assertHealthy, dom0, errCode, outcome, simDir, socketRequest, quotaCount, waitFor, z, useXsaSuite } from './support.js';
import { existsSync } from 'node:fs';

const suite = useXsaSuite({ bystander: 80 });
const { daemon, guest, ring, bystanderServed: othersServed } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

const w = (path: string, value: string): Buffer => Buffer.concat([z(path), Buffer.from(value, 'latin1')]);

test('XSA-330/XSA-484: RESET_WATCHES inside a transaction drops watches and transactions, leaks nothing', async () => {
  const r = await ring(81);
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < 5; i++) assert.equal(outcome(await r.request(Op.WATCH, z(`data/w${i}`, `t${round}`))), 'OK');
    const txId = Number(outcome(await r.request(Op.TRANSACTION_START, z(''))));
    assert.equal(outcome(await r.request(Op.WRITE, w(`data/r${round}`, 'x'), txId)), 'OK');
    const second = Number(outcome(await r.request(Op.TRANSACTION_START, z(''))));
    // RESET_WATCHES sent with a live transaction's id, as a confused or malicious guest might.
    assert.equal(outcome(await r.request(Op.RESET_WATCHES, z(''), round % 2 === 0 ? txId : second)), 'OK');
    assert.equal(outcome(await r.request(Op.TRANSACTION_END, z('T'), txId)), 'ERROR ENOENT', 'its transactions are gone');
    assert.equal(outcome(await r.request(Op.WRITE, w('data/late', 'x'), second)), 'ERROR ENOENT');
  }
  const report = await d0.control('quota', '81');
  assert.equal(quotaCount(report, 'watches'), 0);
  assert.equal(quotaCount(report, 'transactions'), 0);
  assert.equal(await d0.exists('/local/domain/81/data/r0'), false, 'the dropped transaction was not committed');
  assert.match(await d0.control('memreport'), /^transactions: 0$/m);
  await othersServed();
  await assertHealthy(daemon(), d0, 'crash-reset');
});

test('XSA-425 (CVE-2022-42330): RELEASE and death of a domain in the middle of its transactions', async () => {
  for (const how of ['release', 'death'] as const) {
    const domid = how === 'release' ? 82 : 83;
    const r = await ring(domid);
    const txs: number[] = [];
    for (let i = 0; i < 3; i++) txs.push(Number(outcome(await r.request(Op.TRANSACTION_START, z('')))));
    for (const tx of txs) assert.equal(outcome(await r.request(Op.WRITE, w(`data/t${tx}/a`, 'x'), tx)), 'OK');
    // dom0 has its own transaction touching the guest's nodes.
    const dtx = await d0.startTransaction();
    await dtx.write(`/local/domain/${domid}/data/by-dom0`, 'y');
    // The guest keeps sending transactional requests while it goes away.
    for (let i = 0; i < 50; i++) await r.send(Op.WRITE, w(`data/t${txs[i % 3]!}/n${i}`, 'x'), txs[i % 3]!);
    if (how === 'release') await d0.release(domid);
    else await signalDeath(simDir(daemon()), domid);
    await waitFor(async () => !(await d0.isDomainIntroduced(domid)), { what: `domain ${domid} gone` });
    // ... and after: nobody reads its ring any more, so it writes what fits and does not wait.
    for (let i = 0; i < 20; i++) r.tryPut(encodeFrame(Op.TRANSACTION_END, r.reqId(), txs[i % 3]!, z('T')));
    const committed = await dtx.commit().then(() => 'OK', (e: { code?: string }) => e.code ?? 'error');
    assert.ok(['OK', 'EAGAIN'].includes(committed), `dom0's transaction: ${committed}`);
    assert.equal(quotaCount(await d0.control('quota', String(domid)), 'transactions'), 0);
    for (const tx of txs) assert.equal(await d0.exists(`/local/domain/${domid}/data/t${tx}`), false);
    await othersServed();
    await assertHealthy(daemon(), d0, `crash-${how}`);
    // The id can be used again at once.
    const again = await ring(domid);
    assert.equal(outcome(await again.request(Op.READ, z('name'))), `guest-${domid}`);
  }
});

test('XSA-421/XSA-440: nodes deleted inside transactions, and outside them at once, then committed', async () => {
  const g = await guest(84);
  await d0.setQuota('nodes', 200, 84);
  for (let round = 0; round < 30; round++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => g.write(`data/s${round}/n${i}`, 'x')));
    const a = await g.startTransaction();
    const b = await g.startTransaction();
    await a.write(`data/s${round}/new`, 'a'); // created then deleted in a
    await a.rm(`data/s${round}/new`);
    await a.rm(`data/s${round}/n0`);
    await b.rm(`data/s${round}`); // the whole directory, in b
    await g.rm(`data/s${round}/n1`); // and a node both delete, outside
    await d0.rm(`/local/domain/84/data/s${round}/n2`); // and dom0 too
    const order = round % 2 === 0 ? [a, b] : [b, a];
    for (const t of order) await t.commit().catch((e: { code?: string }) => assert.equal(e.code, 'EAGAIN'));
    await g.rm(`data/s${round}`);
  }
  const report = await d0.control('quota', '84');
  assert.equal(quotaCount(report, 'nodes'), 7, 'back to the seven directories of a fresh guest');
  await othersServed();
  await assertHealthy(daemon(), d0, 'crash-421');
});

test('XSA-418: a tree 1530 levels deep: created, listed, purged on domain release, removed', async (t) => {
  const h = daemon();
  const r = await ring(85);
  const depth = 1530;
  const deep = `/tool/deep/${Array.from({ length: depth }, () => 'a').join('/')}`;
  assert.ok(deep.length <= 3072);
  await d0.write('/tool/deep', '');
  await d0.setPerms('/tool/deep', ['n0', 'r85']); // every level below inherits an ACL entry for domain 85
  await d0.write(deep, 'bottom');
  assert.equal(await d0.readString(deep), 'bottom');
  assert.equal(outcome(await r.request(Op.READ, z(deep))), 'bottom', 'the guest reads through its inherited ACL');
  // One level deeper is refused by the path limit, not by a crash.
  assert.equal(await errCode(d0.write(`${deep}/aa`, 'x')), 'EINVAL');
  // DIRECTORY at every tenth level, and the whole tree through xenstore-ls when installed.
  let p = '/tool/deep';
  for (let i = 0; i < depth; i++) {
    p += '/a';
    if (i % 10 === 0) assert.deepEqual(await d0.directory(p.slice(0, p.lastIndexOf('/'))), ['a']);
  }
  if (existsSync('/usr/bin/xenstore-ls')) {
    const ls = await run('xenstore-ls', ['-f', '/tool/deep'], { env: h.env, timeoutMs: 120_000 });
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(ls.stdout.trim().split('\n').length, depth, 'one line per level');
  } else {
    t.diagnostic('xenstore-ls not installed: listed with DIRECTORY only');
  }
  // Domain 85 goes away: the purge walks all 1530 levels to strike its ACL entries.
  await d0.release(85);
  assert.deepEqual(await d0.getPerms(deep), [{ domid: 0, access: 'none' }]);
  await assertHealthy(h, d0, 'deep-purge');
  // A guest's own deep tree, as deep as its quotas allow, purged with it.
  const g = await guest(86);
  await d0.setQuota('nodes', 2000, 86);
  const gdeep = `data/${Array.from({ length: 1000 }, () => 'b').join('/')}`;
  await g.write(gdeep, 'x');
  await signalDeath(simDir(h), 86);
  await waitFor(async () => !(await d0.isDomainIntroduced(86)), { what: 'domain 86 gone' });
  assert.equal(await d0.exists('/local/domain/86/data'), false);
  // History, diff and removal of the deep tree.
  assert.match(await d0.control('history', 'log', '/tool/deep'), /^r\d+ /m);
  await d0.rm('/tool/deep');
  assert.equal(await d0.exists('/tool/deep'), false);
  await othersServed();
  await assertHealthy(h, d0, 'deep-rm');
});

test('TRANSACTION_END (and any request) naming another connection\'s transaction id is ENOENT', async () => {
  const a = await ring(87);
  const b = await ring(88);
  const txA = Number(outcome(await a.request(Op.TRANSACTION_START, z(''))));
  assert.equal(outcome(await a.request(Op.WRITE, w('data/a', 'from-a'), txA)), 'OK');
  // Another guest, and dom0 on a socket, try to end, abort or use A's transaction.
  for (const payload of [z('T'), z('F')]) assert.equal(outcome(await b.request(Op.TRANSACTION_END, payload, txA)), 'ERROR ENOENT');
  assert.equal(outcome(await b.request(Op.WRITE, w('data/b', 'x'), txA)), 'ERROR ENOENT');
  assert.equal(outcome(await b.request(Op.READ, z('/local/domain/87/data/a'), txA)), 'ERROR ENOENT');
  // dom0 on another socket connection: transaction ids are per connection, even for dom0.
  assert.equal(outcome(await socketRequest(daemon().socket, Op.TRANSACTION_END, z('T'), txA)), 'ERROR ENOENT');
  assert.equal(outcome(await socketRequest(daemon().socket, Op.WRITE, w('/tool/x', 'x'), txA)), 'ERROR ENOENT');
  // Ids that never existed, and tx 0.
  for (const id of [0, 0xffff_ffff, txA + 1000]) assert.equal(outcome(await b.request(Op.TRANSACTION_END, z('T'), id)), 'ERROR ENOENT');
  // A's transaction is untouched and commits.
  assert.equal(outcome(await a.request(Op.TRANSACTION_END, z('T'), txA)), 'OK');
  assert.equal(await d0.readString('/local/domain/87/data/a'), 'from-a');
  await othersServed();
  await assertHealthy(daemon(), d0, 'crash-txend');
});
