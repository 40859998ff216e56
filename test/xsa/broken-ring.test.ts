/**
 * XSA-325: a guest that breaks the ring protocol must not make the daemon
 * treat its domain as gone. The C xenstored once dropped such a guest as if
 * destroyed, firing @releaseDomain while it still ran (watchers looked and
 * saw it alive) and then never again when it really died, leaving a zombie.
 * Here the violation costs the guest its connection only: no @releaseDomain,
 * the domain stays introduced, and its real death later fires the event.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { XenStoreClient } from '../../src/client/client.js';
import { Op } from '../../src/protocol/op.js';
import { ERROR_PROTO } from '../../src/ring/layout.js';
import { killDomain, simDirOf } from '../helpers/guests.js';
import { outcome, useXsaSuite, waitFor, z } from './support.js';

const suite = useXsaSuite({});
const { daemon, ring: rawGuest } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

test('XSA-325: a guest breaking its ring fires no @releaseDomain and stays introduced; its real death fires one', async () => {
  const released = await d0.watch('@releaseDomain');
  const sentinel = await d0.watch('/xsa325/sentinel');
  await released.next(); // each watch's first event
  await sentinel.next();
  const r = await rawGuest(41);
  assert.equal(outcome(await r.request(Op.READ, z('name'))), 'guest-41');
  const head = Buffer.alloc(16);
  head.writeUInt32LE(Op.WRITE, 0);
  head.writeUInt32LE(r.reqId(), 4);
  head.writeUInt32LE(5000, 12); // a frame longer than the protocol allows
  await r.putAll(head);
  await waitFor(() => r.error === ERROR_PROTO || undefined, { what: `error field ERROR_PROTO (is ${r.error})` });
  // Events reach one connection in order: had the violation fired @releaseDomain,
  // it would be queued before the sentinel's event.
  await d0.write('/xsa325/sentinel', 'after the violation');
  assert.equal((await sentinel.next()).value?.path, '/xsa325/sentinel');
  const next = released.next();
  const early = await Promise.race([next.then((e) => `event ${e.value?.path}`), new Promise<string>((res) => setImmediate(() => res('none')))]);
  assert.equal(early, 'none', 'no @releaseDomain for a protocol violation');
  assert.equal(await d0.isDomainIntroduced(41), true);
  // Its real death is announced (no zombie): the pending next() now resolves.
  await killDomain(d0, simDirOf(daemon()), 41);
  assert.equal((await next).value?.path, '@releaseDomain');
  await released.return();
  await sentinel.return();
});
