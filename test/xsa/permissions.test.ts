/**
 * XSA regression suite: permission leaks. Watch events are only sent to
 * watchers allowed to read the changed node (XSA-115; nothing about a node's
 * existence leaks through watches, nor through transactions' commits); the
 * special watches @introduceDomain/@releaseDomain fire only for dom0 and for
 * domains dom0 gave read access (XSA-115); WATCH and UNWATCH ignore the
 * transaction id (XSA-115); the root node cannot be written,
 * chmod'ed, listed or removed by guests (XSA-353).
 *
 * Event order is what makes "no event" observable without a timer: the
 * daemon answers and announces in request order, so once the event for a
 * readable sentinel written last has arrived, any event for the earlier
 * unreadable changes would have arrived before it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { XenStoreClient } from '../../src/client/client.js';
import { Op } from '../../src/protocol/op.js';

import { assertHealthy, dom0, makeGuest, outcome, RingGuest, waitFor, z, useXsaSuite } from './support.js';

const suite = useXsaSuite();
const { daemon, guest, ring } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

/** Waits until the watcher has the event `path` with `token`; returns every event (path) of `token` before it. */
async function eventsUntil(r: RingGuest, token: string, path: string): Promise<string[]> {
  await waitFor(() => r.events().some((e) => e.token === token && e.path === path) || undefined, { what: `event ${path} (${token}) on domain ${r.domid}` });
  const evs = r.events().filter((e) => e.token === token).map((e) => e.path);
  return evs.slice(0, evs.indexOf(path));
}

test('XSA-115: watch events for nodes the watcher cannot read are not delivered', async () => {
  const spy = await ring(60);
  const other = await guest(61);
  await d0.write('/tool/visible/x', 'v');
  await d0.setPerms('/tool/visible', ['n0', 'r60']);
  await d0.setPerms('/tool/visible/x', ['n0', 'r60']);
  for (const [path, token] of [['/', 'root'], ['/local/domain/61', 'other'], ['/tool', 'tool']] as const) {
    assert.equal(outcome(await spy.request(Op.WATCH, z(path, token))), 'OK');
  }
  await waitFor(() => spy.events().length === 3 || undefined, { what: 'the three initial events' });
  spy.frames.length = 0;

  // Changes the spy may not see: another guest's private nodes, dom0's private nodes,
  // a removal of something unreadable, a transaction's commit, a permission change.
  await other.write('data/private', 'p');
  await other.rm('data/private');
  await d0.write('/tool/secret', 's');
  await d0.rm('/tool/secret');
  const tx = await d0.startTransaction();
  await tx.write('/tool/in-tx/a', 'a');
  await tx.write('/local/domain/61/data/by-dom0', 'b');
  await tx.commit();
  await d0.setPerms('/tool/in-tx', ['n0', 'r61']);
  await d0.rm('/local/domain/61/data');
  // The sentinel: readable, written last.
  await d0.write('/tool/visible/x', 'sentinel');

  for (const token of ['root', 'tool']) {
    assert.deepEqual(await eventsUntil(spy, token, '/tool/visible/x'), [], `no event for unreadable nodes before the sentinel (${token})`);
  }
  // The watch on the other guest's home heard nothing at all.
  assert.equal(outcome(await spy.request(Op.READ, z('name'))), 'guest-60');
  assert.deepEqual(spy.events().filter((e) => e.token === 'other'), []);
  await assertHealthy(daemon(), d0, 'perm-watch');
});

test('XSA-115: a watch below a removed node fires only if the watcher could read its own node (C xenstored: each removed node by its own permissions)', async () => {
  const spy = await ring(62);
  await d0.write('/tool/hidden/sub/leaf', 'x');
  await d0.write('/tool/shown/sub/leaf', 'x');
  await d0.setPerms('/tool/hidden', ['n0', 'r62']); // the removed node is readable, the watched one is not
  await d0.setPerms('/tool/shown/sub/leaf', ['n0', 'r62']);
  assert.equal(outcome(await spy.request(Op.WATCH, z('/tool/hidden/sub/leaf', 'h'))), 'OK');
  assert.equal(outcome(await spy.request(Op.WATCH, z('/tool/shown/sub/leaf', 's'))), 'OK');
  await waitFor(() => spy.events().length === 2 || undefined, { what: 'initial events' });
  spy.frames.length = 0;
  await d0.rm('/tool/hidden');
  await d0.rm('/tool/shown');
  assert.deepEqual(await eventsUntil(spy, 's', '/tool/shown/sub/leaf'), []);
  assert.deepEqual(spy.events().filter((e) => e.token === 'h'), [], 'no event for the unreadable removal');
  await assertHealthy(daemon(), d0, 'perm-rm');
});

test('XSA-115: @introduceDomain/@releaseDomain fire only for dom0 and for domains given read access', async () => {
  const spy = await ring(63);
  const d0intro = await d0.watch('@introduceDomain');
  const d0rel = await d0.watch('@releaseDomain');
  assert.equal((await d0intro.next()).value?.path, '@introduceDomain');
  assert.equal((await d0rel.next()).value?.path, '@releaseDomain');
  assert.equal(outcome(await spy.request(Op.WATCH, z('@introduceDomain', 'intro'))), 'OK');
  assert.equal(outcome(await spy.request(Op.WATCH, z('@releaseDomain', 'rel'))), 'OK');
  await waitFor(() => spy.events().length === 2 || undefined, { what: 'the initial events (the spec fires each new watch once)' });

  await makeGuest(d0, daemon(), 64);
  await d0.release(64);
  assert.equal((await d0intro.next()).value?.path, '@introduceDomain', 'dom0 hears the introduction');
  assert.equal((await d0rel.next()).value?.path, '@releaseDomain', 'dom0 hears the release');
  assert.equal(outcome(await spy.request(Op.READ, z('name'))), 'guest-63');
  assert.equal(spy.events().length, 2, 'the guest heard nothing');

  // A guest cannot grant itself access.
  assert.equal(outcome(await spy.request(Op.SET_PERMS, z('@releaseDomain', 'n0', 'r63'))), 'ERROR EACCES');
  assert.equal(outcome(await spy.request(Op.SET_PERMS, z('@introduceDomain', 'n63'))), 'ERROR EACCES');
  // dom0 can.
  await d0.setPerms('@introduceDomain', ['n0', 'r63']);
  await makeGuest(d0, daemon(), 65);
  await waitFor(() => spy.events().filter((e) => e.token === 'intro').length === 2 || undefined, { what: 'the permitted @introduceDomain event' });
  await d0.release(65);
  assert.equal(outcome(await spy.request(Op.READ, z('name'))), 'guest-63');
  assert.equal(spy.events().filter((e) => e.token === 'rel').length, 1, '@releaseDomain is still dom0\'s');
  await d0.setPerms('@introduceDomain', ['n0']);
  await d0intro.return();
  await d0rel.return();
  await assertHealthy(daemon(), d0, 'perm-special');
});

test('XSA-353: guests cannot write, chmod, list or remove the root node, in or out of transactions', async () => {
  const g = await ring(66);
  const before = await d0.directory('/');
  const attempts: Array<[string, number, Buffer]> = [
    ['WRITE /x', Op.WRITE, Buffer.concat([z('/x'), Buffer.from('v')])],
    ['MKDIR /x', Op.MKDIR, z('/x')],
    ['SET_PERMS / n66', Op.SET_PERMS, z('/', 'n66')],
    ['SET_PERMS / b66', Op.SET_PERMS, z('/', 'b66')],
    ['SET_PERMS / n0 w66', Op.SET_PERMS, z('/', 'n0', 'w66')],
    ['RM /local', Op.RM, z('/local')],
    ['RM /tool', Op.RM, z('/tool')],
    ['DIRECTORY /', Op.DIRECTORY, z('/')],
    ['DIRECTORY_PART /', Op.DIRECTORY_PART, z('/', '0')],
    ['GET_PERMS /', Op.GET_PERMS, z('/')],
    ['READ /', Op.READ, z('/')],
  ];
  const t = outcome(await g.request(Op.TRANSACTION_START, z('')));
  const txId = Number(t);
  for (const tx of [0, txId]) {
    for (const [what, type, payload] of attempts) {
      assert.equal(outcome(await g.request(type, payload, tx)), 'ERROR EACCES', `${what} (tx ${tx})`);
    }
    assert.equal(outcome(await g.request(Op.RM, z('/'), tx)), 'ERROR EINVAL', `RM / (tx ${tx})`);
  }
  assert.equal(outcome(await g.request(Op.TRANSACTION_END, z('T'), txId)), 'OK');
  assert.deepEqual(await d0.directory('/'), before, 'the root is as it was');
  assert.deepEqual(await d0.getPerms('/'), [{ domid: 0, access: 'none' }]);
  await assertHealthy(daemon(), d0, 'perm-root');
});

test('XSA-115: WATCH and UNWATCH ignore the transaction id (a live one, one that never existed); the watch outlives the transaction', async () => {
  const r = await ring(67);
  const home = '/local/domain/67';
  await d0.write(`${home}/data/w`, '');
  await d0.write(`${home}/data/v`, '');
  const txId = Number(outcome(await r.request(Op.TRANSACTION_START, z(''))));
  assert.equal(outcome(await r.request(Op.WATCH, z('data/w', 'tw'), txId)), 'OK');
  assert.equal(outcome(await r.request(Op.WATCH, z('data/v', 'tv'), 0xdead)), 'OK');
  assert.equal(outcome(await r.request(Op.TRANSACTION_END, z('F'), txId)), 'OK');
  // The watch set with the transaction's id is the connection's, not the transaction's.
  await d0.write(`${home}/data/w`, 'after the abort');
  const tw = (): string[] => r.events().filter((e) => e.token === 'tw').map((e) => e.path);
  await waitFor(() => tw().length === 2 || undefined, { what: 'the event for the write after the abort' });
  assert.deepEqual(tw(), ['data/w', 'data/w'], 'the initial event and the one for the write');
  // UNWATCH with an id that never existed still removes the watch.
  assert.equal(outcome(await r.request(Op.UNWATCH, z('data/w', 'tw'), 0xbeef)), 'OK');
  await d0.write(`${home}/data/w`, 'unwatched');
  await d0.write(`${home}/data/v`, 'sentinel');
  await waitFor(() => r.events().filter((e) => e.token === 'tv').length === 2 || undefined, { what: 'the sentinel event' });
  assert.equal(tw().length, 2, 'nothing after the UNWATCH');
  await assertHealthy(daemon(), d0, 'perm-watch-tx');
});
