/**
 * XSA regression suite: quota bypasses. A guest must not get more nodes than
 * its `nodes` quota by creating them in transactions (XSA-326 class: checked
 * when the transaction writes and again when it commits), by creating and
 * deleting inside a transaction (XSA-421), by giving nodes away with SET_PERMS
 * (XSA-352: changing the owner is dom0's), or by writing into a cooperating
 * guest's tree and rebooting (XSA-419). Node sizes and the nodes one
 * transaction may touch are bounded (XSA-326: node-size, transaction-nodes).
 * A node creation refused inside a transaction leaves nothing behind, neither
 * nodes nor charges, however the transaction then commits (XSA-415).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { XenStoreClient } from '../../src/client/client.js';
import type { Transaction } from '../../src/client/transaction.js';

import { assertHealthy, dom0, errCode, quotaCount, simDir, waitFor, useXsaSuite } from './support.js';
import { signalDeath } from '../../src/sim/toolstack.js';

const suite = useXsaSuite();
const { daemon, guest } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

/** The domain's counts as CONTROL quota DOMID reports them (the C daemon's layout). */
async function usage(domid: number): Promise<{ nodes: number; watches: number; transactions: number }> {
  const report = await d0.control('quota', String(domid));
  return { nodes: quotaCount(report, 'nodes'), watches: quotaCount(report, 'watches'), transactions: quotaCount(report, 'transactions') };
}

/** Writes `count` nodes under `dir` (in `ops`, a client or a transaction); returns how many were accepted and the first error. */
async function fill(ops: XenStoreClient | Transaction, dir: string, count: number, value = 'x'): Promise<{ ok: number; firstError: string | undefined }> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => ops.write(`${dir}/n${i}`, value)));
  let ok = 0;
  let firstError: string | undefined;
  for (const r of results) {
    if (r.status === 'fulfilled') ok++;
    else firstError ??= (r.reason as { code?: string }).code ?? String(r.reason);
  }
  return { ok, firstError };
}

test('XSA-326: a single transaction cannot create more nodes than the nodes quota', async () => {
  const g = await guest(40);
  await d0.setQuota('nodes', 60, 40);
  const before = (await usage(40)).nodes;
  const tx = await g.startTransaction();
  const { ok, firstError } = await fill(tx, 'data/one', 100);
  assert.equal(firstError, 'ENOSPC');
  assert.ok(before + ok <= 60, `${before} + ${ok} nodes accepted in one transaction, quota 60`);
  await tx.commit();
  const after = await usage(40);
  assert.ok(after.nodes <= 60, `domain 40 owns ${after.nodes} nodes, quota 60`);
  await assertHealthy(daemon(), d0, 'q-single');
});

test('XSA-326: concurrent transactions together still hit the nodes quota at commit time', async () => {
  const g = await guest(41);
  await d0.setQuota('nodes', 60, 41);
  const base = (await usage(41)).nodes;
  // Five transactions, each creating 40 nodes in its own directory: each alone fits.
  const txs: Transaction[] = [];
  for (let i = 0; i < 5; i++) txs.push(await g.startTransaction());
  for (const [i, tx] of txs.entries()) await fill(tx, `data/t${i}`, 40);
  const outcomes: string[] = [];
  for (const tx of txs) outcomes.push(await tx.commit().then(() => 'OK', (e: { code?: string }) => e.code ?? 'error'));
  const after = await usage(41);
  await assertHealthy(daemon(), d0, 'q-concurrent');
  assert.ok(after.nodes <= 60, `domain 41 owns ${after.nodes} nodes (base ${base}), quota 60; commits answered ${outcomes.join(',')}`);
});

test('XSA-326: a transaction and direct writes together still hit the nodes quota', async () => {
  const g = await guest(42);
  await d0.setQuota('nodes', 60, 42);
  const tx = await g.startTransaction();
  await fill(tx, 'data/intx', 40);
  await fill(g, 'data/direct', 40);
  const commit = await tx.commit().then(() => 'OK', (e: { code?: string }) => e.code ?? 'error');
  const after = await usage(42);
  await assertHealthy(daemon(), d0, 'q-mixed');
  assert.ok(after.nodes <= 60, `domain 42 owns ${after.nodes} nodes, quota 60 (commit answered ${commit})`);
});

test('XSA-421: nodes created and deleted in one transaction are accounted exactly', async () => {
  const g = await guest(43);
  await d0.setQuota('nodes', 60, 43);
  await fill(g, 'data/pre', 10);
  const base = (await usage(43)).nodes;
  for (let round = 0; round < 5; round++) {
    const tx = await g.startTransaction();
    await fill(tx, `data/tmp${round}`, 30);
    await tx.rm(`data/tmp${round}`); // created and deleted in the same transaction
    await tx.rm('data/pre/n0'); // deleted in the transaction, recreated below
    await tx.write('data/pre/n0', 'again');
    await tx.write(`data/keep${round}`, 'k');
    await tx.commit();
  }
  // Deleted outside while a transaction deletes it too (the XSA-440 case).
  const tx = await g.startTransaction();
  await tx.rm('data/pre/n1');
  await g.rm('data/pre/n1');
  await tx.commit().catch(() => undefined);
  const after = await usage(43);
  assert.equal(after.nodes, base + 5 - 1, 'five data/keepN nodes more, data/pre/n1 less');
  assert.ok(after.nodes <= 60);
  // The quota is still exactly as tight as before: 60 - nodes more, then ENOSPC.
  const { ok, firstError } = await fill(g, 'data/rest', 80);
  assert.equal(firstError, 'ENOSPC');
  assert.equal(after.nodes + 1 + ok, 60, 'data/rest and its children fill the quota exactly');
  await assertHealthy(daemon(), d0, 'q-421');
});

test('XSA-352: SET_PERMS changing the owner is dom0-only (EPERM), in and out of transactions', async () => {
  const g = await guest(44);
  await guest(45);
  await g.write('data/mine', 'x');
  const before = await usage(44);
  assert.equal(await errCode(g.setPerms('data/mine', ['n0'])), 'EPERM');
  assert.equal(await errCode(g.setPerms('data/mine', ['n45'])), 'EPERM');
  assert.equal(await errCode(g.setPerms('data/mine', ['b45', 'r44'])), 'EPERM');
  const tx = await g.startTransaction();
  assert.equal(await errCode(tx.setPerms('data/mine', ['n45'])), 'EPERM');
  await tx.commit();
  // Adding ACL entries while staying owner is allowed.
  await g.setPerms('data/mine', ['n44', 'r45']);
  assert.deepEqual(await d0.getPerms('/local/domain/44/data/mine'), [
    { domid: 44, access: 'none' },
    { domid: 45, access: 'read' },
  ]);
  assert.equal((await usage(44)).nodes, before.nodes, 'still counted to its owner');
  // dom0 may change owners: the node moves to 45's count.
  const b45 = (await usage(45)).nodes;
  await d0.setPerms('/local/domain/44/data/mine', ['n45']);
  assert.equal((await usage(45)).nodes, b45 + 1);
  assert.equal((await usage(44)).nodes, before.nodes - 1);
  await assertHealthy(daemon(), d0, 'q-352');
});

test('XSA-419: nodes a guest created in a cooperating guest\'s tree are removed when it dies', async () => {
  const a = await guest(46);
  const b = await guest(47);
  // A lets B write into its data/ directory.
  await a.setPerms('data', ['n46', 'w47']);
  const baseA = (await usage(46)).nodes;
  const { ok } = await fill(b, '/local/domain/46/data/from47', 200);
  assert.ok(ok >= 200, `B wrote ${ok} nodes`);
  assert.equal((await usage(46)).nodes, baseA, 'nodes B creates count against B, not A');
  assert.ok((await usage(47)).nodes >= 201);
  // B "reboots": its domain dies. Its nodes must not linger (owned by nobody's quota).
  await signalDeath(simDir(daemon()), 47);
  await waitFor(async () => !(await d0.isDomainIntroduced(47)), { what: 'domain 47 released' });
  assert.equal(await d0.exists('/local/domain/46/data/from47'), false, 'B\'s nodes are gone');
  assert.deepEqual(await d0.getPerms('/local/domain/46/data'), [{ domid: 46, access: 'none' }], 'and so is its ACL entry');
  assert.equal((await usage(47)).nodes, 0);
  await assertHealthy(daemon(), d0, 'q-419');
});

test('XSA-326: the transaction-nodes quota bounds the nodes one transaction may touch (default 1024)', async () => {
  const g = await guest(48);
  const tx = await g.startTransaction();
  // Reads of missing nodes are accesses too: they are what a transaction must remember.
  const results = await Promise.allSettled(Array.from({ length: 1100 }, (_, i) => tx.read(`data/none${i}`)));
  const codes = results.map((r) => (r.status === 'fulfilled' ? 'OK' : ((r.reason as { code?: string }).code ?? '?')));
  assert.equal(codes.filter((c) => c === 'ENOENT').length, 1024, 'the first 1024 distinct nodes are answered');
  assert.ok(codes.slice(1024).every((c) => c === 'ENOSPC'), `then ENOSPC: ${[...new Set(codes.slice(1024))].join(',')}`);
  // Touching an already-touched node again is fine.
  assert.equal(await errCode(tx.read('data/none0')), 'ENOENT');
  await tx.abort();
  await assertHealthy(daemon(), d0, 'q-txnodes');
});

test('XSA-415: a node creation refused inside a transaction leaves nothing behind, whichever way the transaction commits', async () => {
  // The C daemon built a missing path one node at a time; when a later node
  // failed, the undo missed the transaction's copies, and committing anyway
  // left nodes not linked to any parent (its fix fails the whole transaction).
  // tsxenstored checks first and attaches the whole missing path at once, so a
  // refused creation changes nothing and the transaction commits exactly its
  // successful requests: by swap (nothing else changed), by graft (a change
  // elsewhere in the tree) and by replay (a change inside the same directory).
  const domid = 49;
  const g = await guest(domid);
  const home = `/local/domain/${domid}`;
  await d0.write(`${home}/data/ro`, 'dom0 only');
  await d0.setPerms(`${home}/data/ro`, ['n0', `r${domid}`]);
  const base = (await usage(domid)).nodes;
  const meanwhile = [
    async () => undefined,
    async () => d0.write('/tool/xsa415', 'elsewhere'),
    async () => d0.write(`${home}/data/ro`, 'changed in the same directory'),
  ];
  for (const [r, change] of meanwhile.entries()) {
    const quota = (await usage(domid)).nodes + 4;
    await d0.setQuota('nodes', quota, domid);
    const dir = `data/r${r}`;
    const tx = await g.startTransaction();
    await tx.write(`${dir}-ok`, 'x'); // room left: 3
    assert.equal(await errCode(tx.write(`${dir}/a/b/c/d`, 'x')), 'ENOSPC', 'four new nodes, room for three');
    assert.equal(await errCode(tx.mkdir(`${dir}/m/n/o`)), 'ENOSPC');
    assert.equal(await errCode(tx.write('data/ro/x/y/z', 'x')), 'EACCES');
    assert.equal(await errCode(tx.write(`${home}/${dir}/${'p'.repeat(2040)}/q`, 'x')), 'E2BIG', 'past path-max');
    assert.equal(await tx.exists(dir), false, 'the transaction itself sees none of them');
    // Nothing was charged for the refused creations: exactly three nodes still fit.
    await tx.write(`${dir}/a/b`, 'x');
    assert.equal(await errCode(tx.write(`${dir}-more`, 'x')), 'ENOSPC');
    await change();
    await tx.commit();

    for (const gone of [`${dir}/a/b/c`, `${dir}/a/b/c/d`, `${dir}/m`, `${dir}/m/n/o`, 'data/ro/x', 'data/ro/x/y/z', `${dir}-more`]) {
      assert.equal(await d0.exists(`${home}/${gone}`), false, `round ${r}: ${gone} must not exist`);
    }
    assert.equal(await d0.exists(`${home}/${dir}/${'p'.repeat(2040)}/q`), false);
    assert.deepEqual(await d0.directory(`${home}/${dir}`), ['a']);
    assert.deepEqual(await d0.directory(`${home}/${dir}/a/b`), []);
    assert.deepEqual(await d0.directory(`${home}/data/ro`), []);
    assert.equal((await usage(domid)).nodes, quota, `round ${r}: charged for exactly what exists`);
    assert.equal(await errCode(g.write(`${dir}-extra`, 'x')), 'ENOSPC', 'and the quota is exactly full');
    await assertHealthy(daemon(), d0, `q-415-${r}`);
  }
  // Removing what the transactions created brings the count back exactly.
  for (const r of meanwhile.keys()) {
    await g.rm(`data/r${r}`);
    await g.rm(`data/r${r}-ok`);
  }
  assert.equal((await usage(domid)).nodes, base);
  await assertHealthy(daemon(), d0, 'q-415');
});
