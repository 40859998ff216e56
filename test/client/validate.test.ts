/**
 * Bad input fails locally with EINVAL or E2BIG before anything is sent
 * (src/client/validate.ts and the payload bound in client.ts): checked
 * against a fake daemon, which must see only the good request that follows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DOMID_MAX, Op, type XenStoreClient } from '../../src/client/index.js';
import { fakePair, xsCode as code, type FakeDaemon, type FakePair } from '../helpers/fake-daemon.js';

let pair: FakePair;
let fake: FakeDaemon;
let c: XenStoreClient;

before(async () => {
  pair = await fakePair();
  ({ fake, client: c } = pair);
});

after(() => pair.stop());

/** The daemon sees nothing until this good request: answers it and checks it came first. */
async function nothingWasSent(): Promise<void> {
  const p = c.read('/good');
  const r = await fake.next();
  assert.equal(r.type, Op.READ);
  assert.deepEqual(r.args, ['/good'], 'an earlier request reached the daemon');
  r.conn.reply(r, 'ok');
  await p;
}

test('malformed paths are EINVAL before sending', async () => {
  const bad = ['', '/a/', '//a', '/a//b', 'a b', '/a\tb', '/é', '@introduceDomain', `/${'x'.repeat(3072)}`, 'y'.repeat(2049)];
  for (const p of bad) {
    await assert.rejects(c.read(p), code('EINVAL'), JSON.stringify(p.slice(0, 20)));
    await assert.rejects(c.write(p, 'v'), code('EINVAL'));
    await assert.rejects(c.directory(p), code('EINVAL'));
  }
  await assert.rejects(c.watch('/a/'), code('EINVAL'));
  const tx = c.startTransaction();
  const start = await fake.next();
  start.conn.reply(start, '7');
  await assert.rejects((await tx).rm('//x'), code('EINVAL'));
  await nothingWasSent();
});

test('relative paths, the root, and @ names for watches and permissions are legal and sent', async () => {
  for (const p of ['device/vif/0', '/', `/${'x'.repeat(3071)}`]) {
    const q = c.read(p);
    const r = await fake.next();
    assert.deepEqual(r.args, [p]);
    r.conn.reply(r, 'v');
    await q;
  }
  const perms = c.getPerms('@introduceDomain');
  const g = await fake.next();
  assert.deepEqual([g.type, g.args], [Op.GET_PERMS, ['@introduceDomain']]);
  g.conn.reply(g, 'n0');
  assert.deepEqual(await perms, [{ domid: 0, access: 'none' }]);
  const w = c.watch('@releaseDomain');
  const r = await fake.next();
  assert.equal(r.args[0], '@releaseDomain');
  r.conn.reply(r);
  const ended = (await w).return();
  const unwatch = await fake.next();
  assert.equal(unwatch.type, Op.UNWATCH);
  unwatch.conn.reply(unwatch);
  await ended;
});

test('a write whose payload exceeds 4096 bytes is E2BIG before sending; 4096 exactly is sent', async () => {
  const path = '/v';
  await assert.rejects(c.write(path, 'x'.repeat(4096 - path.length)), code('E2BIG'));
  await assert.rejects(c.write(path, new Uint8Array(10_000)), code('E2BIG'));
  await nothingWasSent();
  const q = c.write(path, 'x'.repeat(4096 - path.length - 1));
  const r = await fake.next();
  assert.equal(r.type, Op.WRITE);
  r.conn.reply(r);
  await q;
});

test('invalid domids and counts are EINVAL before sending', async () => {
  for (const d of [-1, 1.5, Number.NaN, DOMID_MAX + 1, 0x7ff0]) {
    await assert.rejects(c.getDomainPath(d), code('EINVAL'), String(d));
    await assert.rejects(c.introduce(d, 1, 1), code('EINVAL'));
    await assert.rejects(c.release(d), code('EINVAL'));
    await assert.rejects(c.setTarget(1, d), code('EINVAL'));
  }
  await assert.rejects(c.introduce(1, -1, 1), code('EINVAL'));
  await assert.rejects(c.setQuota('nodes', -5), code('EINVAL'));
  await assert.rejects(c.watch('/a', { depth: -1 }), code('EINVAL'));
  await assert.rejects(c.setPerms('/a', ['x5']), code('EINVAL'));
  await nothingWasSent();
});
