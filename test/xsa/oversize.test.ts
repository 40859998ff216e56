/**
 * XSA regression suite: oversize packets and paths (the protocol limits of
 * xs_wire.h, the XSA-115 area). A frame announcing more than 4096 bytes of
 * payload ends only the offending connection (a socket is closed, a ring gets
 * its error field set); an over-long path is refused with EINVAL; values and
 * paths over the domain's quotas with E2BIG. Everyone else keeps being served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { XenStoreClient } from '../../src/client/client.js';
import { Op } from '../../src/protocol/op.js';
import { ERROR_NONE, ERROR_PROTO } from '../../src/ring/layout.js';

import { assertHealthy, dom0, errCode, guestClient, outcome, pv, text, waitFor, z, useXsaSuite } from './support.js';

const suite = useXsaSuite({ bystander: 30 });
const { daemon, ring: rawGuest, bystanderServed } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

/** A 16-byte header announcing `len` bytes of payload. */
function header(type: number, reqId: number, len: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(reqId, 4);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(len, 12);
  return b;
}

test('XSA-115 area: a guest frame announcing 4097 bytes sets only that ring\'s error (ERROR_PROTO); others are served', async () => {
  const r = await rawGuest(31);
  assert.equal(outcome(await r.request(Op.READ, z('name'))), 'guest-31');
  await r.putAll(Buffer.concat([header(Op.WRITE, r.reqId(), 4097), Buffer.alloc(300, 0x41)]));
  await waitFor(() => r.error === ERROR_PROTO || undefined, { what: `error field ERROR_PROTO (is ${r.error})` });
  await bystanderServed();
  await assertHealthy(daemon(), d0, 'oversize-ring');
  assert.equal(await d0.isDomainIntroduced(31), true, 'a protocol error costs the guest its connection, not its domain');
  // The guest recovers by resetting its ring, as the protocol says.
  await r.reset();
  assert.equal(r.error, ERROR_NONE);
  assert.equal(outcome(await r.request(Op.READ, z('name'))), 'guest-31');
  // The largest legal frame (4096 bytes) is not a protocol error: the node-size quota answers it.
  const big = Buffer.concat([z('data/big'), Buffer.alloc(4096 - 9, 0x42)]);
  assert.equal(big.length, 4096);
  assert.equal(outcome(await r.request(Op.WRITE, big)), 'ERROR E2BIG');
  assert.equal(r.error, ERROR_NONE);
});

test('XSA-115 area: a socket client announcing a huge frame is closed; other dom0 connections are unaffected', async () => {
  const h = daemon();
  const closed = await new Promise<boolean>((resolve) => {
    const s = netConnect(h.socket);
    s.on('error', () => undefined);
    s.once('connect', () => {
      s.write(header(Op.WRITE, 1, 0xffff_fff0));
      s.write(Buffer.alloc(1000, 0x41));
    });
    s.once('close', () => resolve(true));
    setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 30_000).unref();
  });
  assert.equal(closed, true, 'the daemon closed the connection');
  await assertHealthy(h, d0, 'oversize-socket');
  await bystanderServed();
});

test('XSA-115 area: paths longer than 3072 (absolute) or 2048 (relative) are EINVAL, for guests and dom0', async () => {
  const g = await guestClient(daemon(), 30);
  try {
    const absLong = `/local/domain/30/data/${'a'.repeat(3100)}`;
    const relLong = `data/${'b'.repeat(2100)}`;
    assert.equal(await errCode(g.write(absLong, 'x')), 'EINVAL');
    assert.equal(await errCode(g.write(relLong, 'x')), 'EINVAL');
    assert.equal(await errCode(g.read(absLong)), 'EINVAL');
    assert.equal(await errCode(g.watch(absLong)), 'EINVAL');
    assert.equal(await errCode(d0.write(`/tool/${'c'.repeat(3100)}`, 'x')), 'EINVAL');
    // Within the protocol's 3072 but past the guest's path-max quota (2048, relative to its home): E2BIG.
    const overQuota = `/local/domain/30/data/${'d'.repeat(2100)}`;
    assert.ok(overQuota.length < 3072);
    assert.equal(await errCode(g.write(overQuota, 'x')), 'E2BIG');
    // Inside a transaction the same answers, and the transaction stays usable.
    const tx = await g.startTransaction();
    assert.equal(await errCode(tx.write(absLong, 'x')), 'EINVAL');
    assert.equal(await errCode(tx.write(overQuota, 'x')), 'E2BIG');
    await tx.write('data/fine', 'y');
    await tx.commit();
    assert.equal(await g.readString('data/fine'), 'y');
  } finally {
    g.close();
  }
  await assertHealthy(daemon(), d0, 'long-paths');
});

test('XSA-115 area: values over node-size and permission lists over node-permissions are refused for guests', async () => {
  const r = await rawGuest(32);
  assert.equal(outcome(await r.request(Op.WRITE, pv('data/v', Buffer.alloc(2048, 0x61)))), 'OK');
  assert.equal(outcome(await r.request(Op.WRITE, pv('data/v', Buffer.alloc(2049, 0x61)))), 'ERROR E2BIG');
  const perms = Array.from({ length: 6 }, (_, i) => `r${i + 100}`);
  assert.equal(outcome(await r.request(Op.SET_PERMS, z('data/v', 'n32', ...perms))), 'ERROR ENOSPC');
  // Hundreds of arguments in one 4 KiB frame: refused, nothing else happens.
  const many = Array.from({ length: 600 }, (_, i) => `r${i}`);
  const f = await r.request(Op.SET_PERMS, z('data/v', 'n32', ...many));
  assert.equal(f.type, Op.ERROR, text(f));
  // dom0 is exempt from the quotas, not from the protocol.
  await d0.write('/tool/bigvalue', Buffer.alloc(4000, 0x62));
  assert.equal((await d0.read('/tool/bigvalue')).length, 4000);
  assert.equal(r.error, ERROR_NONE);
  await assertHealthy(daemon(), d0, 'quota-sizes');
});

test('XSA-115: the daemon never sends a frame over 4096 bytes (a watch event for a long path with a long token)', async () => {
  const r = await rawGuest(33);
  const token = 't'.repeat(3000);
  assert.equal(outcome(await r.request(Op.WATCH, z('data', token))), 'OK');
  await waitFor(() => r.events().length === 1 || undefined, { what: 'the initial event' });
  const long = `data/${'p'.repeat(2000)}`;
  assert.equal(outcome(await r.request(Op.WRITE, pv(long, 'x'))), 'OK');
  // The reply to a later request comes after any event for the write.
  await r.send(Op.READ, z('name'));
  await waitFor(() => r.oversized !== undefined || r.frames.some((f) => f.type === Op.READ) || undefined, { what: 'the READ reply' });
  await assertHealthy(daemon(), d0, 'oversize-event');
  assert.equal(r.oversized, undefined, `the daemon sent a frame announcing ${r.oversized} bytes`);
  assert.equal(r.error, ERROR_NONE);
});
