/**
 * Guest domains end to end: each guest is its own process talking to the
 * daemon over its simulated shared ring (fixtures/guest-runner.js), dom0 is a
 * socket client in the test, and the toolstack (createGuest/destroyGuest)
 * does what libxl does. Each test uses its own domids.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { XenStoreClient } from '../../src/client/client.js';
import type { WatchStream } from '../../src/client/watch-stream.js';
import { Op } from '../../src/protocol/op.js';
import { readDescriptor } from '../../src/sim/guest.js';
import { createGuest, destroyGuest } from '../../src/sim/toolstack.js';
import { explain, projectRoot, run, useDaemon, waitFor } from '../helpers/daemon.js';
import { dom0, errCode, GuestProcess, killDomain, pageFiles, removeGuestFiles, simDirOf, stopAllGuests } from '../helpers/guests.js';

/** Per test: generous, for a loaded machine; only a hang should ever reach it. */
const TIMEOUT = 120_000;
const daemon = useDaemon();
let d0: XenStoreClient;
let sim: string;

before(async () => {
  const h = await daemon.ready();
  d0 = await dom0(h);
  sim = simDirOf(h);
});

after(async () => {
  await stopAllGuests();
  d0?.close();
});

/** Creates domain `domid` (home, page, INTRODUCE) and starts a guest process on its ring. */
async function guest(domid: number): Promise<GuestProcess> {
  await createGuest(d0, { domid, dir: sim });
  return GuestProcess.start(domid, sim);
}

/** Waits for the next event of `stream` (bounded by waitFor's generous deadline). */
async function nextEvent(stream: WatchStream): Promise<string> {
  let got: string | undefined;
  let failed: unknown;
  void stream.next().then(
    (r) => {
      got = r.done === true ? '<done>' : r.value.path;
    },
    (e: unknown) => {
      failed = e;
    },
  );
  return waitFor(() => {
    if (failed !== undefined) throw failed;
    return got;
  }, { what: `an event on ${stream.path}` });
}

const home = (domid: number): string => `/local/domain/${domid}`;

test('relative paths of a guest resolve under /local/domain/N', { timeout: TIMEOUT }, async () => {
  const g = await guest(1);
  await g.write('data/x', 'hello');
  assert.equal(await d0.readString(`${home(1)}/data/x`), 'hello');
  assert.equal(await g.read('name'), 'guest-1');
  assert.equal(await g.read(`${home(1)}/name`), 'guest-1');
  assert.equal(await g.read('domid'), '1');
  await d0.write(`${home(1)}/data/y`, 'from dom0');
  assert.equal(await g.read('data/y'), 'from dom0');
  assert.deepEqual((await g.directory('data')).sort(), ['x', 'y']);
  await g.mkdir('data/sub');
  await g.write('data/sub/leaf', 'v');
  assert.deepEqual(await d0.directory(`${home(1)}/data/sub`), ['leaf']);
  await g.rm('data/sub');
  assert.equal(await d0.exists(`${home(1)}/data/sub`), false);
  // The node a guest creates under data/ is its own.
  assert.deepEqual(await d0.getPerms(`${home(1)}/data/x`), [{ domid: 1, access: 'none' }]);
  assert.equal(await g.raw(Op.GET_DOMAIN_PATH, ['1']), `${home(1)}\0`);
});

test('a guest writes under its data/ but cannot read or write another guest\'s home', { timeout: TIMEOUT }, async () => {
  const g2 = await guest(2);
  const g3 = await guest(3);
  await g3.write('data/private', 'three');
  await g2.write('data/mine', 'two');
  assert.equal(await g2.read('data/mine'), 'two');

  // Its home itself and the toolstack's nodes in it are read-only to it.
  assert.equal(await errCode(g2.write('name', 'renamed')), 'EACCES');
  assert.equal(await errCode(g2.write('newnode', 'x')), 'EACCES');
  assert.equal(await errCode(g2.rm('name')), 'EACCES');
  assert.equal(await d0.readString(`${home(2)}/name`), 'guest-2');

  // Another guest's home: nothing, not even whether something exists.
  for (const p of [`${home(3)}`, `${home(3)}/name`, `${home(3)}/data`, `${home(3)}/data/private`, `${home(3)}/data/absent`]) {
    assert.equal(await errCode(g2.read(p)), 'EACCES', `read ${p}`);
  }
  assert.equal(await errCode(g2.directory(home(3))), 'EACCES');
  assert.equal(await errCode(g2.directory(`${home(3)}/data`)), 'EACCES');
  assert.equal(await errCode(g2.getPerms(`${home(3)}/data/private`)), 'EACCES');
  assert.equal(await errCode(g2.write(`${home(3)}/data/private`, 'overwritten')), 'EACCES');
  assert.equal(await errCode(g2.write(`${home(3)}/data/evil`, 'x')), 'EACCES');
  assert.equal(await errCode(g2.mkdir(`${home(3)}/data/evildir`)), 'EACCES');
  assert.equal(await errCode(g2.rm(`${home(3)}/data/private`)), 'EACCES');
  assert.equal(await errCode(g2.setPerms(`${home(3)}/data/private`, ['b2'])), 'EACCES');
  // dom0's own nodes are not the guest's either.
  assert.equal(await errCode(g2.read('/tool')), 'EACCES');
  assert.equal(await errCode(g2.write('/tool/g2', 'x')), 'EACCES');
  assert.equal(await errCode(g2.write('/local/domain/0/g2', 'x')), 'EACCES');

  // Nothing changed.
  assert.equal(await d0.readString(`${home(3)}/data/private`), 'three');
  assert.equal(await d0.exists(`${home(3)}/data/evil`), false);
  assert.equal(await d0.exists(`${home(3)}/data/evildir`), false);
  assert.deepEqual(await d0.getPerms(`${home(3)}/data/private`), [{ domid: 3, access: 'none' }]);
  assert.equal(await g3.read('data/private'), 'three');
});

test('dom0-only operations answer EACCES to a guest, which keeps working (IS_DOMAIN_INTRODUCED among them: XSA-115)', { timeout: TIMEOUT }, async () => {
  const g = await guest(4);
  const tries: Array<[string, number, string[]]> = [
    ['INTRODUCE', Op.INTRODUCE, ['77', '77000000', '5']],
    ['RELEASE', Op.RELEASE, ['4']],
    ['RELEASE other', Op.RELEASE, ['1']],
    ['SET_TARGET', Op.SET_TARGET, ['4', '1']],
    ['CONTROL check', Op.CONTROL, ['check']],
    ['CONTROL quota set', Op.CONTROL, ['quota', 'set', 'nodes', '100000']],
    ['GET_QUOTA names', Op.GET_QUOTA, []],
    ['GET_QUOTA global', Op.GET_QUOTA, ['nodes']],
    ['GET_QUOTA own', Op.GET_QUOTA, ['4', 'nodes']],
    ['SET_QUOTA own', Op.SET_QUOTA, ['4', 'nodes', '100000']],
    ['SET_QUOTA global', Op.SET_QUOTA, ['watches', '100000']],
    ['IS_DOMAIN_INTRODUCED', Op.IS_DOMAIN_INTRODUCED, ['4']],
    ['RESUME', Op.RESUME, ['4']],
    ['GET_FEATURE', Op.GET_FEATURE, []],
    ['SET_FEATURE', Op.SET_FEATURE, ['4', '0']],
  ];
  for (const [what, type, args] of tries) {
    assert.equal(await errCode(g.raw(type, args)), 'EACCES', what);
  }
  // Special paths' permissions are dom0's too.
  assert.equal(await errCode(g.setPerms('@releaseDomain', ['r4'])), 'EACCES');
  assert.equal(await errCode(g.setPerms('@introduceDomain', ['b4'])), 'EACCES');

  // None of it took effect.
  assert.equal(await d0.isDomainIntroduced(4), true);
  assert.equal(await d0.isDomainIntroduced(77), false);
  assert.equal(await d0.getQuota('nodes', 4), 1000);
  assert.equal(await d0.getQuota('nodes'), 1000);
  assert.equal(await d0.getQuota('watches'), 128);
  assert.deepEqual(await d0.getPerms('@releaseDomain'), [{ domid: 0, access: 'none' }]);
  // The guest's connection is intact.
  await g.write('data/after', 'ok');
  assert.equal(await g.read('data/after'), 'ok');
  assert.equal(await d0.control('check'), 'OK');
});

test('node quota (lowered with SET_QUOTA): ENOSPC, and everything else keeps working', { timeout: TIMEOUT }, async () => {
  const g = await guest(5);
  const other = await guest(6);
  await d0.setQuota('nodes', 20, 5);
  assert.equal(await d0.getQuota('nodes', 5), 20);
  let written = 0;
  let code: string | undefined;
  for (let i = 0; i < 40 && code === undefined; i++) {
    try {
      await g.write(`data/n${i}`, String(i));
      written++;
    } catch (e) {
      code = await errCode(Promise.reject(e));
    }
  }
  assert.equal(code, 'ENOSPC', `after ${written} writes`);
  assert.ok(written > 0 && written < 20, `${written} nodes written before ENOSPC`);
  const report = await d0.control('quota', '5');
  assert.match(report, /^nodes +: +20$/m, report);
  // A new node inside a transaction is refused too (at the write or at the commit).
  const tx = await g.txStart();
  const inTx = await errCode(
    (async () => {
      await g.write('data/intx', 'x', tx);
      await g.txCommit(tx);
    })(),
  );
  assert.equal(inTx, 'ENOSPC');
  await g.txAbort(tx).catch(() => undefined);
  assert.equal(await d0.exists(`${home(5)}/data/intx`), false);

  // Everything else still works: reads, overwrites, removal and then a new node.
  assert.equal(await g.read('data/n0'), '0');
  await g.write('data/n0', 'overwritten');
  assert.equal(await d0.readString(`${home(5)}/data/n0`), 'overwritten');
  await g.rm('data/n1');
  await g.write('data/fresh', 'fits again');
  assert.equal(await g.read('data/fresh'), 'fits again');
  // dom0 is exempt and may write into the guest's home.
  await d0.write(`${home(5)}/data/bydom0`, 'x');
  // Another guest has the global quota.
  for (let i = 0; i < 30; i++) await other.write(`data/m${i}`, String(i));
  assert.equal(await d0.getQuota('nodes', 6), 1000);
  assert.equal(await d0.control('check'), 'OK');
});

test('watch quota (default 128): the next WATCH is ENOSPC, the watches already set keep firing', { timeout: TIMEOUT }, async () => {
  const g = await guest(7);
  const quota = await d0.getQuota('watches', 7);
  assert.equal(quota, 128);
  for (let i = 0; i < quota; i++) await g.watch(`data/w${i}`, `w${i}`);
  assert.equal(await errCode(g.watch('data/over', 'over')), 'ENOSPC');
  assert.match(await d0.control('quota', '7'), /^watches +: +128$/m);
  // Lowering the quota does not drop watches; freeing one makes room only below the quota.
  await d0.setQuota('watches', 3, 7);
  await g.unwatch('w0');
  assert.equal(await errCode(g.watch('data/over', 'over')), 'ENOSPC');
  await d0.setQuota('watches', 200, 7);
  await g.watch('data/over', 'over');
  // Existing watches fire.
  await d0.write(`${home(7)}/data/w5`, 'ping');
  await g.waitEvent('w5', 'data/w5');
  await g.write('data/w6', 'pong');
  await g.waitEvent('w6', 'data/w6');
  await d0.write(`${home(7)}/data/over`, 'x');
  await g.waitEvent('over', 'data/over');
  assert.equal(await g.read('data/w5'), 'ping');
  assert.equal(await d0.control('check'), 'OK');
});

test('transaction quota (default 10): the next TRANSACTION_START is ENOSPC, open ones still commit', { timeout: TIMEOUT }, async () => {
  const g = await guest(8);
  const other = await guest(18);
  const quota = await d0.getQuota('transactions', 8);
  assert.equal(quota, 10);
  const txs: number[] = [];
  for (let i = 0; i < quota; i++) txs.push(await g.txStart());
  assert.equal(await errCode(g.txStart()), 'ENOSPC');
  assert.match(await d0.control('quota', '8'), /^transactions +: +10$/m);
  // Outside transactions, and inside the open ones, everything works.
  await g.write('data/plain', 'p');
  await g.write('data/t0', 'in tx', txs[0]);
  assert.equal(await g.read('data/t0', txs[0]), 'in tx');
  assert.equal(await d0.exists(`${home(8)}/data/t0`), false);
  await g.txCommit(txs[0]!);
  assert.equal(await d0.readString(`${home(8)}/data/t0`), 'in tx');
  // One closed: one may open again, then the quota bites again.
  const again = await g.txStart();
  assert.equal(await errCode(g.txStart()), 'ENOSPC');
  // Another guest is not affected.
  const o = await other.txStart();
  await other.write('data/o', 'x', o);
  await other.txCommit(o);
  for (const t of [...txs.slice(1), again]) await g.txAbort(t);
  assert.match(await d0.control('quota', '8'), /^transactions +: +0$/m);
  const t = await g.txStart();
  await g.txAbort(t);
});

test('RELEASE removes the guest\'s nodes, fires @releaseDomain, ends its connection', { timeout: TIMEOUT }, async () => {
  const domid = 10;
  await d0.mkdir(`/tool/shared${domid}`);
  await d0.setPerms(`/tool/shared${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'both' }]);
  await d0.write(`/tool/acl${domid}`, 'for the guest');
  await d0.setPerms(`/tool/acl${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);
  const g = await guest(domid);
  await g.write('data/a', 'a');
  await g.write('data/b/c', 'c');
  await g.write(`/tool/shared${domid}/owned`, 'guest-made');
  assert.equal(await g.read(`/tool/acl${domid}`), 'for the guest');
  assert.deepEqual(await d0.getPerms(`/tool/shared${domid}/owned`), [{ domid, access: 'none' }, { domid, access: 'both' }]);

  const released = await d0.watch('@releaseDomain');
  assert.equal(await nextEvent(released), '@releaseDomain');
  const homeWatch = await d0.watch(`${home(domid)}/data`);
  assert.equal(await nextEvent(homeWatch), `${home(domid)}/data`);

  await d0.release(domid);
  assert.equal(await nextEvent(released), '@releaseDomain');
  // Its nodes went with it, and removing them fired watches.
  assert.equal(await nextEvent(homeWatch), `${home(domid)}/data`);
  assert.equal(await d0.isDomainIntroduced(domid), false);
  for (const p of ['data', 'data/a', 'data/b/c', 'device', 'control']) {
    assert.equal(await d0.exists(`${home(domid)}/${p}`), false, p);
  }
  assert.equal(await d0.exists(`/tool/shared${domid}/owned`), false);
  // It is struck from other nodes' permissions.
  assert.deepEqual(await d0.getPerms(`/tool/acl${domid}`), [{ domid: 0, access: 'none' }]);
  assert.deepEqual(await d0.getPerms(`/tool/shared${domid}`), [{ domid: 0, access: 'none' }]);
  assert.deepEqual(await d0.getPerms(home(domid)), [{ domid: 0, access: 'none' }]);
  // The guest's connection is gone.
  await waitFor(() => g.closed !== undefined || undefined, { what: 'the released guest\'s connection to end' });
  assert.equal(await errCode(g.read('name')), 'ECONNRESET');
  assert.equal(await errCode(d0.release(domid)), 'ENOENT');
  assert.match(await d0.control('quota', String(domid)), /^nodes +: +0$/m);
  assert.equal(await d0.control('check'), 'OK');

  await released.return();
  await homeWatch.return();
  await d0.rm(home(domid));
  removeGuestFiles(sim, domid);
});

test('destroyGuest without release: death through the simulated VIRQ does what RELEASE does', { timeout: TIMEOUT }, async () => {
  const domid = 11;
  await d0.mkdir(`/tool/shared${domid}`);
  await d0.setPerms(`/tool/shared${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'both' }]);
  await d0.write(`/tool/acl${domid}`, 'x');
  await d0.setPerms(`/tool/acl${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);
  const g = await guest(domid);
  await g.write('data/a', 'a');
  await g.write(`/tool/shared${domid}/owned`, 'guest-made');
  const released = await d0.watch('@releaseDomain');
  assert.equal(await nextEvent(released), '@releaseDomain');

  // First the daemon's part alone: the VIRQ, then wait until the domain is forgotten.
  await killDomain(d0, sim, domid);
  assert.equal(await nextEvent(released), '@releaseDomain');
  assert.equal(await d0.exists(`${home(domid)}/data`), false);
  assert.equal(await d0.exists(`/tool/shared${domid}/owned`), false);
  assert.deepEqual(await d0.getPerms(`/tool/acl${domid}`), [{ domid: 0, access: 'none' }]);
  await waitFor(() => g.closed !== undefined || undefined, { what: 'the dead guest\'s connection to end' });
  removeGuestFiles(sim, domid);
  await d0.rm(home(domid));

  // Then the whole toolstack path, on a fresh domain (granted access anew: the old grant was struck).
  await d0.setPerms(`/tool/shared${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'both' }]);
  const g2 = await guest(domid);
  await g2.write(`/tool/shared${domid}/again`, 'x');
  const gfn = readDescriptor(sim, domid).gfn;
  await destroyGuest(d0, { domid, dir: sim });
  assert.equal(await nextEvent(released), '@releaseDomain');
  assert.equal(await d0.isDomainIntroduced(domid), false);
  assert.equal(await d0.exists(home(domid)), false);
  assert.equal(await d0.exists(`/tool/shared${domid}/again`), false);
  assert.ok(!pageFiles(sim).includes(`page-${gfn}`));
  await waitFor(() => g2.closed !== undefined || undefined, { what: 'the destroyed guest\'s connection to end' });
  await released.return();
  assert.equal(await d0.control('check'), 'OK');
});

for (const [domid, release] of [
  [9, true],
  [12, false],
] as const) {
  test(`a reused domid inherits nothing (XSA-322 class), domain ended by ${release ? 'RELEASE' : 'death'}`, { timeout: TIMEOUT }, async () => {
    await d0.write(`/tool/secret${domid}`, 'for the old domain only');
    await d0.setPerms(`/tool/secret${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);
    await d0.mkdir(`/tool/shared${domid}`);
    await d0.setPerms(`/tool/shared${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'both' }]);
    await d0.setPerms('@introduceDomain', [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);

    const old = await guest(domid);
    assert.equal(await old.read(`/tool/secret${domid}`), 'for the old domain only');
    await old.write(`/tool/shared${domid}/left-behind`, 'x');
    await old.write('data/old', 'x');
    await d0.setQuota('nodes', 12, domid);
    await d0.setQuota('watches', 2, domid);
    assert.equal(await d0.getQuota('nodes', domid), 12);
    await old.stop();
    await destroyGuest(d0, { domid, dir: sim, release });

    // Nothing names the old domain any more.
    assert.deepEqual(await d0.getPerms(`/tool/secret${domid}`), [{ domid: 0, access: 'none' }]);
    assert.deepEqual(await d0.getPerms(`/tool/shared${domid}`), [{ domid: 0, access: 'none' }]);
    assert.deepEqual(await d0.getPerms('@introduceDomain'), [{ domid: 0, access: 'none' }]);
    assert.equal(await d0.exists(`/tool/shared${domid}/left-behind`), false);

    const fresh = await guest(domid);
    assert.equal(await errCode(fresh.read(`/tool/secret${domid}`)), 'EACCES');
    assert.equal(await errCode(fresh.write(`/tool/shared${domid}/x`, 'x')), 'EACCES');
    assert.equal(await errCode(fresh.read('data/old')), 'ENOENT');
    // Quota overrides went with the old domain.
    assert.equal(await d0.getQuota('nodes', domid), 1000);
    assert.equal(await d0.getQuota('watches', domid), 128);
    for (let i = 0; i < 15; i++) await fresh.write(`data/k${i}`, String(i));
    for (let i = 0; i < 3; i++) await fresh.watch(`data/k${i}`, `t${i}`);
    assert.equal(await d0.control('check'), 'OK');
    await fresh.stop();
    await destroyGuest(d0, { domid, dir: sim, release: true });
  });
}

test('a guest\'s watches: its home fires for dom0 writes, unreadable nodes fire nothing', { timeout: TIMEOUT }, async () => {
  const g = await guest(13);
  const other = await guest(14);
  await g.watch('data', 'rel');
  await g.watch(`${home(13)}/data`, 'abs');
  await g.watch(home(13), 'home');
  await g.watch(home(14), 'other');
  await g.watch('@introduceDomain', 'intro');
  await g.watch('@releaseDomain', 'rel-dom');
  for (const [token, path] of [
    ['rel', 'data'],
    ['abs', `${home(13)}/data`],
    ['home', home(13)],
    ['other', home(14)],
  ] as const) {
    await g.waitEvent(token, path);
  }

  await d0.write(`${home(13)}/data/fromdom0`, 'x');
  await g.waitEvent('rel', 'data/fromdom0');
  await g.waitEvent('abs', `${home(13)}/data/fromdom0`);
  await g.waitEvent('home', `${home(13)}/data/fromdom0`);

  // A node in its home that dom0 makes unreadable to it: no more events for it.
  await d0.write(`${home(13)}/secret`, 'v1');
  await g.waitEvent('home', `${home(13)}/secret`);
  await d0.setPerms(`${home(13)}/secret`, [{ domid: 0, access: 'none' }]);
  await d0.write(`${home(13)}/secret`, 'v2');
  await d0.write(`${home(13)}/secret/child`, 'v3');
  await d0.rm(`${home(13)}/secret`);
  // Another guest's nodes: neither dom0's writes nor that guest's own.
  await d0.write(`${home(14)}/data/z`, 'x');
  await other.write('data/own', 'x');
  // Domains coming and going: the special watches' default permissions say dom0 only.
  await createGuest(d0, { domid: 15, dir: sim });
  await destroyGuest(d0, { domid: 15, dir: sim, release: true });
  // A marker: events reach a connection in order, so anything undelivered above would have come first.
  await d0.write(`${home(13)}/data/marker`, 'm');
  await g.waitEvent('home', `${home(13)}/data/marker`);

  const secretEvents = g.eventsOf('home').filter((p) => p.startsWith(`${home(13)}/secret`));
  assert.deepEqual(secretEvents, [`${home(13)}/secret`], 'only the creation, while it was readable');
  assert.deepEqual(g.eventsOf('other'), [home(14)], 'only the initial event of the watch itself');
  assert.deepEqual(g.eventsOf('intro'), ['@introduceDomain']);
  assert.deepEqual(g.eventsOf('rel-dom'), ['@releaseDomain']);
  assert.equal(await d0.control('check'), 'OK');
});

test('a guest that dies in the middle of a transaction leaves only what it committed', { timeout: TIMEOUT }, async () => {
  const domid = 16;
  await d0.mkdir(`/tool/txn${domid}`);
  await d0.setPerms(`/tool/txn${domid}`, [{ domid: 0, access: 'none' }, { domid, access: 'both' }]);
  await d0.write(`/tool/txn${domid}/shared`, 'original');
  const g = await guest(domid);

  const t1 = await g.txStart();
  await g.write(`/tool/txn${domid}/shared`, 'committed', t1);
  await g.write('data/c', 'committed', t1);
  await g.txCommit(t1);

  const t2 = await g.txStart();
  await g.write(`/tool/txn${domid}/shared`, 'uncommitted', t2);
  await g.write(`/tool/txn${domid}/new`, 'uncommitted', t2);
  await g.write('data/u', 'uncommitted', t2);
  await g.rm('data/c', t2);
  assert.match(await d0.control('quota', String(domid)), /^transactions +: +1$/m);

  await g.die();
  const view = async (): Promise<void> => {
    assert.equal(await d0.readString(`/tool/txn${domid}/shared`), 'committed');
    assert.equal(await d0.exists(`/tool/txn${domid}/new`), false);
    assert.equal(await d0.exists(`${home(domid)}/data/u`), false);
  };
  await view();
  assert.equal(await d0.readString(`${home(domid)}/data/c`), 'committed');

  await killDomain(d0, sim, domid);
  await view();
  assert.match(await d0.control('quota', String(domid)), /^transactions +: +0$/m);
  assert.equal(await d0.control('check'), 'OK');
  await d0.rm(home(domid));
  removeGuestFiles(sim, domid);
});

test('SET_TARGET gives a domain access to its target\'s nodes, and only while that domain lives', { timeout: TIMEOUT }, async () => {
  const stub = await guest(20);
  const target = await guest(21);
  await guest(22);
  await target.write('data/t', 'target data');
  assert.equal(await errCode(stub.read(`${home(21)}/name`)), 'EACCES');

  await d0.setTarget(20, 21);
  assert.equal(await stub.read(`${home(21)}/name`), 'guest-21');
  assert.equal(await stub.read(`${home(21)}/data/t`), 'target data');
  await stub.write(`${home(21)}/data/t`, 'from the stub');
  await stub.write(`${home(21)}/data/bystub`, 'x');
  assert.equal(await target.read('data/t'), 'from the stub');
  // What the stub creates is the stub's (as in C xenstored: unprivileged creators own their nodes).
  assert.deepEqual(await d0.getPerms(`${home(21)}/data/bystub`), [{ domid: 20, access: 'none' }]);
  assert.ok((await stub.directory(`${home(21)}/data`)).includes('bystub'));
  // Only the target's: not a third guest's, not dom0's, not dom0-only operations; and not the other way round.
  assert.equal(await errCode(stub.read(`${home(22)}/name`)), 'EACCES');
  assert.equal(await errCode(stub.read('/tool')), 'EACCES');
  assert.equal(await errCode(stub.raw(Op.GET_QUOTA, [])), 'EACCES');
  assert.equal(await errCode(target.read(`${home(20)}/name`)), 'EACCES');
  // Its own home is still its own.
  await stub.write('data/own', 'x');
  // A new connection of the stub domain (reconnect) still acts for its target.
  await stub.reset();
  assert.equal(await stub.read(`${home(21)}/data/t`), 'from the stub');

  // The target dies: the stub loses access, and a new domain reusing the id is not its target.
  await target.stop();
  await destroyGuest(d0, { domid: 21, dir: sim, release: true });
  const reused = await guest(21);
  await reused.write('data/secret', 'not for the stub');
  assert.equal(await errCode(stub.read(`${home(21)}/data/secret`)), 'EACCES');
  assert.equal(await errCode(stub.read(`${home(21)}/name`)), 'EACCES');
  assert.equal(await d0.control('check'), 'OK');
});

test('after a reconnect, a stub domain does not act for a dead target\'s reused domid', {
  timeout: TIMEOUT,
}, async () => {
  const stub = await guest(23);
  await guest(24);
  await d0.setTarget(23, 24);
  assert.equal(await stub.read(`${home(24)}/name`), 'guest-24');
  await destroyGuest(d0, { domid: 24, dir: sim, release: true });
  const reused = await guest(24);
  await reused.write('data/secret', 'not for the stub');
  // A fresh connection of domain 23 (its kernel reconnects, e.g. after kexec).
  await stub.reset();
  assert.equal(await errCode(stub.read(`${home(24)}/data/secret`)), 'EACCES');
});

test('the tsxenstore command line as toolstack and as a guest (--domain)', { timeout: TIMEOUT }, async () => {
  const h = daemon();
  const cli = join(projectRoot(), 'dist', 'src', 'cli', 'tsxenstore.js');
  const xs = async (...args: string[]): Promise<{ code: number | null; out: string; all: string }> => {
    const r = await run(process.execPath, [cli, '--socket', h.socket, '--sim-dir', sim, ...args]);
    return { code: r.code, out: r.stdout, all: explain(`tsxenstore ${args.join(' ')}`, r) };
  };
  let r = await xs('sim', 'create-guest', '31');
  assert.equal(r.code, 0, r.all);
  assert.equal(await d0.isDomainIntroduced(31), true);
  await guest(32);
  r = await xs('--domain', '31', 'write', 'data/x', 'from the cli');
  assert.equal(r.code, 0, r.all);
  r = await xs('--domain', '31', 'read', 'data/x');
  assert.equal(r.code, 0, r.all);
  assert.equal(r.out, 'from the cli\n');
  assert.equal(await d0.readString(`${home(31)}/data/x`), 'from the cli');
  r = await xs('--domain', '31', 'read', `${home(32)}/name`);
  assert.notEqual(r.code, 0, r.all);
  r = await xs('--domain', '31', 'write', `${home(32)}/data/y`, 'x');
  assert.notEqual(r.code, 0, r.all);
  assert.equal(await d0.exists(`${home(32)}/data/y`), false);
  // Refusals: dom0, an existing guest (its home is kept), a guest that is not there.
  await d0.write('/local/domain/0/kept', 'dom0 data');
  r = await xs('sim', 'create-guest', '0');
  assert.equal(r.code, 1, r.all);
  assert.match(r.all, /sim create-guest 0: domain 0 is the control domain, not a guest/);
  assert.equal(await d0.readString('/local/domain/0/kept'), 'dom0 data');
  r = await xs('sim', 'create-guest', '31');
  assert.equal(r.code, 1, r.all);
  assert.match(r.all, /domain 31 exists \(destroy it first, or pass --replace\)/);
  assert.equal(await d0.readString(`${home(31)}/data/x`), 'from the cli', 'the refused create kept the guest home');
  r = await xs('sim', 'create-guest', '31', '--replace', '--name', 'again');
  assert.equal(r.code, 0, r.all);
  assert.equal(await d0.readString(`${home(31)}/name`), 'again');
  assert.equal(await d0.exists(`${home(31)}/data/x`), false, '--replace starts the guest afresh');
  assert.equal(await d0.isDomainIntroduced(31), true);
  r = await xs('sim', 'destroy-guest', '4242');
  assert.equal(r.code, 1, r.all);
  assert.match(r.all, /no guest 4242 here/);
  r = await xs('sim', 'destroy-guest', '31', '--release');
  assert.equal(r.code, 0, r.all);
  assert.equal(await d0.isDomainIntroduced(31), false);
  assert.equal(await d0.exists(home(31)), false);
  r = await xs('--domain', '31', 'read', 'data/x');
  assert.notEqual(r.code, 0, r.all);
  r = await xs('sim', 'destroy-guest', '31');
  assert.equal(r.code, 1, r.all);
});
