/**
 * XSA regression suite: domain ids are reused (15 bits, guests reboot). A new
 * domain with the id of a dead one must inherit nothing from it: no ACL
 * entries (XSA-322, XSA-417), no nodes (XSA-419), no node counts or quota
 * overrides (XSA-483), no watches or transactions, no read access to special
 * watches, and no SET_TARGET privilege another domain held over the old one
 * (not even on that domain's next connection).
 * Death is signalled the way Xen does (the simulated VIRQ_DOM_EXC) or by RELEASE.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { XenStoreClient } from '../../src/client/client.js';
import { Op } from '../../src/protocol/op.js';
import { signalDeath } from '../../src/sim/toolstack.js';

import { assertHealthy, dom0, errCode, outcome, simDir, quotaCount, waitFor, z, useXsaSuite } from './support.js';

const suite = useXsaSuite();
const { daemon, guest, ring } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

/** The domain dies (simulated VIRQ_DOM_EXC); resolves once the daemon has forgotten it. */
async function kill(domid: number): Promise<void> {
  await signalDeath(simDir(daemon()), domid);
  await waitFor(async () => !(await d0.isDomainIntroduced(domid)), { what: `domain ${domid} released after its death` });
}

async function quotaReport(domid: number): Promise<string> {
  return d0.control('quota', String(domid));
}

test('XSA-322/XSA-417: a new domain with a reused domid inherits no ACL entries and no nodes of the old one', async () => {
  const old = await guest(50);
  await d0.write('/tool/vm50/config', 'c');
  await d0.setPerms('/tool/vm50', ['n0', 'b50']);
  await d0.setPerms('/tool/vm50/config', ['n0', 'r50']);
  assert.equal(await old.readString('/tool/vm50/config'), 'c');
  await old.write('/tool/vm50/created-by-50', 'x'); // owned by 50, outside its home
  await old.write('data/mine', 'x');
  await kill(50);

  assert.deepEqual(await d0.getPerms('/tool/vm50'), [{ domid: 0, access: 'none' }], 'ACL entry for 50 removed');
  assert.deepEqual(await d0.getPerms('/tool/vm50/config'), [{ domid: 0, access: 'none' }]);
  assert.equal(await d0.exists('/tool/vm50/created-by-50'), false, 'nodes owned by 50 removed (XSA-419)');
  assert.equal(await d0.exists('/local/domain/50/data'), false);

  const fresh = await guest(50);
  assert.equal(await errCode(fresh.read('/tool/vm50/config')), 'EACCES');
  assert.equal(await errCode(fresh.write('/tool/vm50/new', 'x')), 'EACCES');
  assert.equal(await errCode(fresh.read('/local/domain/50/data/mine')), 'ENOENT');
  await assertHealthy(daemon(), d0, 'reuse-acl');
});

test('XSA-483: node counts and quota overrides of the old domain are not inherited', async () => {
  const old = await guest(51);
  const baseline = quotaCount(await quotaReport(51), 'nodes');
  await d0.setQuota('nodes', 40, 51);
  const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => old.write(`data/n${i}`, 'x')));
  assert.ok(results.some((r) => r.status === 'rejected'), 'the old domain hit its (lowered) quota');
  assert.equal(quotaCount(await quotaReport(51), 'nodes'), 40);
  await kill(51);
  assert.equal(quotaCount(await quotaReport(51), 'nodes'), 0, 'nothing charged to a dead domain');

  const fresh = await guest(51);
  assert.equal(await d0.getQuota('nodes', 51), await d0.getQuota('nodes'), 'the per-domain override is forgotten');
  assert.equal(quotaCount(await quotaReport(51), 'nodes'), baseline, 'the new domain starts with the count of a fresh domain');
  // And it can really create up to the global quota.
  const global = await d0.getQuota('nodes');
  const made = await Promise.allSettled(Array.from({ length: global - baseline + 1 }, (_, i) => fresh.write(`data/m${i}`, 'x')));
  const failed = made.filter((r) => r.status === 'rejected').length;
  assert.equal(failed, 1, 'exactly the quota minus the baseline fits, then ENOSPC');
  assert.equal(quotaCount(await quotaReport(51), 'nodes'), global);
  await assertHealthy(daemon(), d0, 'reuse-quota');
});

test('XSA-322: watches and transactions of the old domain do not survive; the new one hears nothing of them', async () => {
  const old = await ring(52);
  assert.equal(outcome(await old.request(Op.WATCH, z('data', 'old-token'))), 'OK');
  assert.equal(outcome(await old.request(Op.WATCH, z('/local/domain/52/data/x', 'old-token2'))), 'OK');
  const t = await old.request(Op.TRANSACTION_START, z(''));
  const txId = Number(outcome(t));
  assert.ok(txId > 0);
  assert.equal(outcome(await old.request(Op.WRITE, Buffer.concat([z('data/intx'), Buffer.from('y')]), txId)), 'OK');
  assert.equal(quotaCount(await quotaReport(52), 'watches'), 2);
  await kill(52);
  assert.equal(quotaCount(await quotaReport(52), 'watches'), 0);
  assert.equal(quotaCount(await quotaReport(52), 'transactions'), 0);
  assert.equal(await d0.exists('/local/domain/52/data/intx'), false, 'the open transaction was not committed');

  const fresh = await ring(52);
  await d0.write('/local/domain/52/data/x', 'poke');
  // A request of its own, answered after the write: events for it would have come first.
  assert.equal(outcome(await fresh.request(Op.READ, z('name'))), 'guest-52');
  assert.deepEqual(fresh.events(), [], 'no event for watches set by the old domain');
  assert.equal(outcome(await fresh.request(Op.TRANSACTION_END, z('T'), txId)), 'ERROR ENOENT', 'the old transaction id means nothing');
  await assertHealthy(daemon(), d0, 'reuse-watches');
});

test('XSA-115/XSA-322: read access to @releaseDomain granted to a domain is revoked when it dies', async () => {
  await guest(53);
  await d0.setPerms('@releaseDomain', ['n0', 'r53']);
  await d0.setPerms('@introduceDomain', ['n0', 'r53']);
  await kill(53);
  assert.deepEqual(await d0.getPerms('@releaseDomain'), [{ domid: 0, access: 'none' }]);
  assert.deepEqual(await d0.getPerms('@introduceDomain'), [{ domid: 0, access: 'none' }]);
  const fresh = await ring(53);
  assert.equal(outcome(await fresh.request(Op.WATCH, z('@releaseDomain', 'rel'))), 'OK');
  await waitFor(() => fresh.events().length === 1 || undefined, { what: 'the initial event of the special watch' });
  await guest(54);
  await kill(54);
  assert.equal(outcome(await fresh.request(Op.READ, z('name'))), 'guest-53');
  assert.deepEqual(
    fresh.events().map((e) => e.token),
    ['rel'],
    'only the initial event: the new domain 53 may not hear of releases',
  );
  await assertHealthy(daemon(), d0, 'reuse-special');
});

test('XSA-322: a SET_TARGET privilege over a dead domain does not extend to the domain that reuses its id', async () => {
  const dm = await ring(55); // e.g. the device model of domain 56
  await guest(56);
  await d0.setTarget(55, 56);
  await d0.write('/local/domain/56/data/old-secret', 's');
  await d0.setPerms('/local/domain/56/data/old-secret', ['n56']);
  assert.equal(outcome(await dm.request(Op.READ, z('/local/domain/56/data/old-secret'))), 's', 'SET_TARGET gives 55 the rights of 56');
  await kill(56);
  await guest(56); // a new, unrelated domain 56
  await d0.write('/local/domain/56/data/secret', 'new');
  await d0.setPerms('/local/domain/56/data/secret', ['n56']);
  assert.equal(outcome(await dm.request(Op.READ, z('/local/domain/56/data/secret'))), 'ERROR EACCES', 'open connection');
  await dm.reset(); // the device model reconnects (e.g. its kernel resets xenbus)
  const after = outcome(await dm.request(Op.READ, z('/local/domain/56/data/secret')));
  await assertHealthy(daemon(), d0, 'reuse-target');
  assert.equal(after, 'ERROR EACCES', 'after a reconnect, domain 55 must not act as the new domain 56');
});

test('XSA-483: releasing a domain that owns the root node leaves every node count exact', async () => {
  await guest(57);
  const rootPerms = await d0.getPerms('/');
  await d0.setPerms('/', ['n57']); // dom0 hands the root to a guest (odd, but dom0 may)
  await kill(57);
  assert.deepEqual(await d0.getPerms('/'), [{ domid: 0, access: 'none' }], 'the root is dom0\'s again');
  const check = await d0.control('check');
  const nodes = quotaCount(await quotaReport(57), 'nodes');
  await d0.setPerms('/', rootPerms);
  assert.equal(nodes, 0, 'nothing charged to the dead domain');
  assert.equal(check, 'OK');
});
