/**
 * XSA regression suite: oversize packets and paths (the protocol limits of
 * xs_wire.h). A frame announcing more than 4096 bytes of payload ends only the
 * offending connection (a socket is closed, a ring gets its error field set;
 * XSA-325, and XSA-420 for lengths oxenstored once read as negative); an
 * over-long path is refused with EINVAL, the same whether named relative or
 * absolute (XSA-323); a malformed path is EINVAL and the guest is still served
 * (XSA-481); values and paths over the domain's quotas with E2BIG; the daemon
 * never sends a frame over 4096 bytes (XSA-324). Everyone else keeps being
 * served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import type { XenStoreClient } from '../../src/client/client.js';
import { Op, opName } from '../../src/protocol/op.js';
import { ERROR_NONE, ERROR_PROTO } from '../../src/ring/layout.js';

import { assertHealthy, dom0, errCode, outcome, pv, socketRequest, text, waitFor, z, useXsaSuite } from './support.js';

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

test('XSA-325/XSA-420: a guest frame announcing more than 4096 bytes (4097, 1 GiB, 2 GiB, 4 GiB) sets only that ring\'s error (ERROR_PROTO); others are served', async () => {
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
  // Lengths a 31-bit integer reads as negative (XSA-420: oxenstored looped on
  // them) and the largest a header can hold: the same protocol error, each time.
  for (const len of [0x4000_0000, 0x8000_0000, 0xffff_ffff]) {
    await r.putAll(header(Op.WRITE, r.reqId(), len));
    await waitFor(() => r.error === ERROR_PROTO || undefined, { what: `ERROR_PROTO for length ${len}` });
    await r.reset();
    assert.equal(outcome(await r.request(Op.READ, z('name'))), 'guest-31');
  }
  await bystanderServed();
  assert.equal(await d0.isDomainIntroduced(31), true);
});

test('protocol limit: a socket client announcing a huge frame is closed; other dom0 connections are unaffected', async () => {
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

test('XSA-323: paths longer than 3072 (absolute) or 2048 (relative) are EINVAL; path-max holds whichever way a path is named, and what a guest creates everyone reads', async () => {
  // A guest of its own (a second client on the bystander's ring would cut the bystander off when closed).
  const g = await suite.guest(35);
  const absLong = `/local/domain/35/data/${'a'.repeat(3100)}`;
  const relLong = `data/${'b'.repeat(2100)}`;
  assert.equal(await errCode(g.write(absLong, 'x')), 'EINVAL');
  assert.equal(await errCode(g.write(relLong, 'x')), 'EINVAL');
  assert.equal(await errCode(g.read(absLong)), 'EINVAL');
  assert.equal(await errCode(g.watch(absLong)), 'EINVAL');
  assert.equal(await errCode(d0.write(`/tool/${'c'.repeat(3100)}`, 'x')), 'EINVAL');
  // Within the protocol's 3072 but past the guest's path-max quota (2048, relative to its home): E2BIG.
  const overQuota = `/local/domain/35/data/${'d'.repeat(2100)}`;
  assert.ok(overQuota.length < 3072);
  assert.equal(await errCode(g.write(overQuota, 'x')), 'E2BIG');
  // Inside a transaction the same answers, and the transaction stays usable.
  const tx = await g.startTransaction();
  assert.equal(await errCode(tx.write(absLong, 'x')), 'EINVAL');
  assert.equal(await errCode(tx.write(overQuota, 'x')), 'E2BIG');
  await tx.write('data/fine', 'y');
  await tx.commit();
  assert.equal(await g.readString('data/fine'), 'y');
  // XSA-323: path-max counts the path relative to the home whichever way it is
  // named, so the longest path a guest may create is one everybody can read by
  // its absolute name (oxenstored once checked before adding the home prefix).
  const longest = `data/${'e'.repeat(2043)}`;
  assert.equal(longest.length, 2048);
  await g.write(longest, 'edge');
  assert.equal(await d0.readString(`/local/domain/35/${longest}`), 'edge');
  assert.equal(await g.readString(`/local/domain/35/${longest}`), 'edge');
  assert.ok((await d0.directory('/local/domain/35/data')).includes('e'.repeat(2043)));
  await g.write(`/local/domain/35/${longest}`, 'by its absolute name');
  assert.equal(await errCode(g.write(`${longest}e`, 'x')), 'EINVAL');
  assert.equal(await errCode(g.write(`/local/domain/35/${longest}e`, 'x')), 'E2BIG');
  await g.rm(longest);
  await assertHealthy(daemon(), d0, 'long-paths');
});

test('XSA-326 class: values over node-size and permission lists over node-permissions are refused for guests', async () => {
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

test('XSA-324: the daemon never sends a frame over 4096 bytes (a watch event for a long path with a long token)', async () => {
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

test('XSA-481: the malformed path /local/domain/ (and its kin) is EINVAL for every request, and the guest is still served', async () => {
  // C xenstored lost its error code on this exact path and asserted (or, built
  // without asserts, stopped serving the guest while spinning).
  const r = await rawGuest(34);
  const bad = ['/local/domain/', '/local/domain//data', '/local/domain/34/', '/local/domain/34//data'];
  const txId = Number(outcome(await r.request(Op.TRANSACTION_START, z(''))));
  for (const path of bad) {
    for (const tx of [0, txId]) {
      for (const [op, payload] of [
        [Op.READ, z(path)],
        [Op.WRITE, pv(path, 'x')],
        [Op.MKDIR, z(path)],
        [Op.RM, z(path)],
        [Op.DIRECTORY, z(path)],
        [Op.DIRECTORY_PART, z(path, '0')],
        [Op.GET_PERMS, z(path)],
        [Op.SET_PERMS, z(path, 'n34')],
        [Op.WATCH, z(path, 'tok')],
      ] as const) {
        assert.equal(outcome(await r.request(op, payload, tx)), 'ERROR EINVAL', `${opName(op)} ${path} (tx ${tx})`);
      }
      // UNWATCH does not validate its path (as in both of Xen's daemons): no such watch.
      assert.equal(outcome(await r.request(Op.UNWATCH, z(path, 'tok'), tx)), 'ERROR ENOENT');
    }
  }
  assert.equal(outcome(await r.request(Op.TRANSACTION_END, z('T'), txId)), 'OK', 'the transaction is unharmed');
  assert.equal(outcome(await r.request(Op.READ, z('name'))), 'guest-34');
  assert.equal(r.error, ERROR_NONE);
  assert.equal(outcome(await socketRequest(daemon().socket, Op.READ, z('/local/domain/'))), 'ERROR EINVAL', 'dom0 too');
  await bystanderServed();
  await assertHealthy(daemon(), d0, 'xsa481');
});
