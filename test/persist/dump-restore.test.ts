// CONTROL dump FILE, then a fresh daemon with --restore FILE: every answer a
// client can observe is the same (xenstore-ls -fp /, GET_QUOTA globally and
// per domain, GET_FEATURE, IS_DOMAIN_INTRODUCED, quota usage), guests are
// re-attached to their rings (they read their data, SET_TARGET still holds),
// CONTROL check is OK. A truncated or corrupt file makes the daemon exit
// non-zero naming the byte offset, without ever accepting a connection.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { connect, type XenStoreClient } from '../../src/client/client.js';
import { Op } from '../../src/protocol/op.js';
import { CONNECTED } from '../../src/ring/layout.js';
import { createGuest } from '../../src/sim/toolstack.js';
import { RecType } from '../../src/state/stream.js';
import { explainBytes, mapLimit, runBytes } from '../helpers/cli.js';
import { canConnect, daemonScript, startDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';
import { errCode, payloadText, RawRing, z, type RingFrame } from '../helpers/guests.js';
import { cleanupTempDirs, tempDir } from '../helpers/persist.js';
import { connectGuest } from '../../src/sim/connect-guest.js';

after(cleanupTempDirs);

interface Observed {
  readonly ls: string;
  readonly quotas: Record<string, string>;
  readonly introduced: Record<string, boolean>;
  readonly features: Record<string, string>;
  readonly usage: Record<string, string>;
}

const DOMIDS = [0, 5, 6, 7, 9];

async function quotaOf(xs: XenStoreClient, name: string, domid?: number): Promise<string> {
  try {
    return String(await xs.getQuota(name, domid));
  } catch (e) {
    return `error ${await errCode(Promise.reject(e))}`;
  }
}

/** Everything a dom0 client can ask about the state, as plain data. */
async function observe(d: DaemonHandle): Promise<Observed> {
  const ls = await runBytes('/usr/bin/xenstore-ls', ['-fp', '/'], { env: d.env });
  assert.equal(ls.code, 0, explainBytes('xenstore-ls -fp /', ls));
  const xs = await connect({ path: d.socket });
  try {
    const quotas: Record<string, string> = {};
    for (const name of await xs.quotaNames()) {
      quotas[name] = await quotaOf(xs, name);
      for (const id of DOMIDS) quotas[`${id}/${name}`] = await quotaOf(xs, name, id);
    }
    const introduced: Record<string, boolean> = {};
    const features: Record<string, string> = { all: String(await xs.getFeatures()) };
    const usage: Record<string, string> = {};
    for (const id of DOMIDS) {
      introduced[id] = await xs.isDomainIntroduced(id);
      features[id] = await xs.getFeatures(id).then(String, async (e: unknown) => `error ${await errCode(Promise.reject(e))}`);
      // Node usage only: watches and transactions belong to connections, which a cold restart drops.
      // (A domain that is not introduced answers ENOENT, as in the C daemon.)
      usage[id] = await xs.control('quota', String(id)).then(
        (r) => r.split('\n').find((l) => l.startsWith('nodes')) ?? '',
        async (e: unknown) => `error ${await errCode(Promise.reject(e))}`,
      );
    }
    return { ls: ls.stdout.toString('latin1'), quotas, introduced, features, usage };
  } finally {
    xs.close();
  }
}

/** Record start offsets by type, walking the frames of a stream. */
function recordOffsets(buf: Buffer): Array<{ type: number; at: number; len: number }> {
  const out: Array<{ type: number; at: number; len: number }> = [];
  let pos = 16;
  while (pos + 8 <= buf.length) {
    const type = buf.readUInt32LE(pos);
    const len = buf.readUInt32LE(pos + 4);
    out.push({ type, at: pos, len });
    if (type === RecType.END) break;
    pos += 8 + len + ((8 - (len % 8)) % 8);
  }
  return out;
}

describe('CONTROL dump + --restore', () => {
  const work = tempDir();
  const simDir = join(work, 'sim');
  const dumpFile = join(work, 'state.xs');
  let first: DaemonHandle | undefined;
  let second: DaemonHandle | undefined;
  let before: Observed | undefined;
  let rawBefore: RawRing | undefined;
  after(async () => {
    rawBefore?.close();
    await first?.stop();
    await second?.stop();
  });

  test('a busy daemon dumps its state', { timeout: 120_000 }, async () => {
    first = await startDaemon({ args: ['--sim-dir', simDir] });
    const xs = await connect({ path: first.socket });
    try {
      // Nodes with every permission kind, binary values, a deep path, a wide directory.
      await xs.write('/perm/none', 'n');
      await xs.setPerms('/perm/none', ['n0']);
      await xs.write('/perm/read', 'r');
      await xs.setPerms('/perm/read', ['r0']);
      await xs.write('/perm/write', 'w');
      await xs.setPerms('/perm/write', ['w0']);
      await xs.write('/perm/both', 'b');
      await xs.setPerms('/perm/both', ['b0']);
      await xs.write('/perm/acl', 'acl');
      await xs.setPerms('/perm/acl', ['n5', 'r6', 'w7', 'b9']);
      await xs.write('/bin', Buffer.from([0, 1, 2, 0, 0xff, 0x5c, 0x0a]));
      await xs.write('/deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p', 'deep');
      for (let i = 0; i < 40; i++) await xs.write(`/wide/k${i}`, String(i));
      await xs.mkdir('/empty');
      // Two guests with data, one acting for the other; one domain introduced and released.
      await createGuest(xs, { domid: 5, dir: simDir, name: 'five' });
      await createGuest(xs, { domid: 6, dir: simDir, name: 'six' });
      await createGuest(xs, { domid: 7, dir: simDir, name: 'seven' });
      await xs.release(7);
      await xs.setTarget(6, 5);
      // Quotas: global and per domain; a domain's features.
      await xs.setQuota('nodes', 900);
      await xs.setQuota('watches', 33, 5);
      await xs.setQuota('node-size', 1234, 6);
      await xs.setFeatures(5, 1);
      const g5 = await connectGuest(5, { simDir });
      const g6 = await connectGuest(6, { simDir });
      try {
        await g5.write('data/secret', 'five\0secret');
        await g5.write('data/nested/x', 'x5');
        await g6.write('data/mine', 'six');
        assert.equal((await g6.read('/local/domain/5/data/secret')).toString('latin1'), 'five\0secret', 'domain 6 acts for 5');
      } finally {
        g5.close();
        g6.close();
      }
      // Guest 5 registers a watch over its raw ring (it keeps the ring across the restart).
      rawBefore = await RawRing.open(simDir, 5);
      const rb = rawBefore;
      await waitFor(() => rb.connection === CONNECTED, { what: 'the ring of domain 5 to be reconnected' });
      const w = await rawBefore.request(Op.WATCH, z('data', 'guest-watch'));
      assert.equal(payloadText(w), 'OK');
      before = await observe(first);
      assert.equal(await xs.control('dump', dumpFile), 'OK');
    } finally {
      xs.close();
    }
    assert.ok(readFileSync(dumpFile).subarray(0, 8).equals(Buffer.from('xenstore')));
    rawBefore.close();
    rawBefore = undefined;
    await first.stop();
    first = undefined;
  });

  test('a fresh daemon started with --restore answers every question the same way', { timeout: 120_000 }, async () => {
    assert.ok(before !== undefined, 'the dump was made');
    second = await startDaemon({ args: ['--sim-dir', simDir, '--restore', dumpFile] });
    const now = await observe(second);
    assert.equal(now.ls, before.ls, 'xenstore-ls -fp /');
    assert.deepEqual(now.quotas, before.quotas, 'GET_QUOTA');
    assert.deepEqual(now.introduced, before.introduced, 'IS_DOMAIN_INTRODUCED');
    assert.deepEqual(now.features, before.features, 'GET_FEATURE');
    assert.deepEqual(now.usage, before.usage, 'node usage per domain');
    assert.equal(now.introduced['5'], true);
    assert.equal(now.introduced['7'], false);
    const xs = await connect({ path: second.socket });
    try {
      assert.equal(await xs.control('check'), 'OK');
    } finally {
      xs.close();
    }
  });

  // Runs before any client of domain 5 closes a GuestChannel: closing one
  // resets the ring (XENSTORE_RECONNECT), which by the ring protocol discards
  // the domain's watches, the one restored from the dump included (see
  // test/sim/ring-abuse.test.ts, 'GuestChannel.reset()').
  test(
    'a guest watch registered before the dump still fires after the restore (the guest kept its ring and cannot know)',
    { timeout: 60_000 },
    async () => {
      assert.ok(second !== undefined);
      const raw = await RawRing.open(simDir, 5);
      const xs = await connect({ path: second.socket });
      try {
        // Control: a watch the guest registers now, on the same raw ring, does fire.
        const w = await raw.request(Op.WATCH, z('data/nested', 'fresh-watch'));
        assert.equal(payloadText(w), 'OK');
        await xs.write('/local/domain/5/data/nested/ping', 'p');
        const eventFor = (token: string) => (f: RingFrame): boolean => f.type === Op.WATCH_EVENT && f.payload.toString('latin1').includes(`\0${token}\0`);
        await waitFor(
          () => {
            raw.drain();
            return raw.frames.filter(eventFor('fresh-watch')).length >= 2 || undefined;
          },
          { what: 'the fresh watch to fire (control)' },
        );
        // The watch from before the dump covers the same write.
        const got = await waitFor(
          () => {
            raw.drain();
            // Exactly this write's event, reported relative as the watch was set
            // (a leftover event from before the dump would not do).
            return raw.frames.some((f) => f.type === Op.WATCH_EVENT && f.payload.equals(z('data/nested/ping', 'guest-watch'))) || undefined;
          },
          { timeoutMs: 5_000, what: 'the guest watch event' },
        ).catch(() => false);
        assert.ok(got, `frames seen: ${raw.frames.map((f) => `${f.type}:${JSON.stringify(f.payload.toString('latin1'))}`).join(' | ')}`);
      } finally {
        raw.close();
        xs.close();
      }
    },
  );

  test('restored guests use their rings again: own data, SET_TARGET, writes', { timeout: 60_000 }, async () => {
    assert.ok(second !== undefined);
    const g5 = await connectGuest(5, { simDir });
    const g6 = await connectGuest(6, { simDir });
    try {
      assert.equal((await g5.read('data/secret')).toString('latin1'), 'five\0secret');
      assert.equal((await g5.read('data/nested/x')).toString('latin1'), 'x5');
      assert.equal((await g6.read('data/mine')).toString('latin1'), 'six');
      assert.equal((await g6.read('/local/domain/5/data/secret')).toString('latin1'), 'five\0secret', 'domain 6 still acts for 5');
      assert.equal(await errCode(g5.read('/local/domain/6/data/mine')), 'EACCES');
      await g5.write('data/after', 'restored');
      assert.equal((await g5.read('data/after')).toString(), 'restored');
      // The per-domain quota came back too: domain 6 may not write more than 1234 bytes.
      assert.equal(await errCode(g6.write('data/big', Buffer.alloc(1300, 0x61))), 'E2BIG');
      await g6.write('data/fits', Buffer.alloc(1200, 0x61));
    } finally {
      g5.close();
      g6.close();
    }
  });
});

describe('--restore refuses a bad file and never starts half-restored', () => {
  const work = tempDir();
  let good: Buffer | undefined;

  test('a valid dump to corrupt', { timeout: 60_000 }, async () => {
    const d = await startDaemon({ args: ['--no-sim'] });
    try {
      const xs = await connect({ path: d.socket });
      try {
        for (let i = 0; i < 5; i++) await xs.write(`/c/n${i}`, `v${i}`);
        await xs.setPerms('/c/n1', ['r0', 'w3']);
        const file = join(work, 'good.xs');
        assert.equal(await xs.control('dump', file), 'OK');
        good = readFileSync(file);
      } finally {
        xs.close();
      }
    } finally {
      await d.stop();
    }
  });

  test('truncated and corrupt files: exit non-zero, the message names the byte offset, nothing listens', { timeout: 120_000 }, async () => {
    assert.ok(good !== undefined);
    const recs = recordOffsets(good);
    const nodes = recs.filter((r) => r.type === RecType.NODE_DATA);
    const lastNode = nodes[nodes.length - 1];
    const aclNode = nodes.find((r) => good!.subarray(r.at, r.at + 8 + r.len).includes(Buffer.from('/c/n1\0')));
    assert.ok(lastNode !== undefined && aclNode !== undefined);
    const end = good.length - 8;
    const cases: Array<{ name: string; bytes: Buffer; offset: number; reason: RegExp }> = [
      { name: 'empty file', bytes: Buffer.alloc(0), offset: 0, reason: /shorter than the 16-byte header/ },
      { name: 'not a state stream', bytes: Buffer.concat([Buffer.from('xenstorX'), good.subarray(8)]), offset: 0, reason: /ident/ },
      { name: 'cut inside the last node record', bytes: good.subarray(0, lastNode.at + 12), offset: lastNode.at, reason: /truncated record of type 5/ },
      { name: 'cut before END', bytes: good.subarray(0, end), offset: end, reason: /no END record/ },
      {
        name: 'bad permission letter',
        bytes: (() => {
          const b = Buffer.from(good);
          b[aclNode.at + 8 + 16] = 0x78; // first perm letter of /c/n1 -> 'x'
          return b;
        })(),
        offset: aclNode.at + 8 + 16,
        reason: /bad permission letter/,
      },
      {
        name: 'big-endian flag',
        bytes: (() => {
          const b = Buffer.from(good);
          b.writeUInt32BE(1, 12);
          return b;
        })(),
        offset: 12,
        reason: /big-endian/,
      },
    ];
    await mapLimit(cases, 2, async (c) => {
      const dir = tempDir('tsxs-badrestore-');
      const file = join(dir, 'bad.xs');
      const socket = join(dir, 'socket');
      writeFileSync(file, c.bytes);
      const r = await runBytes(process.execPath, [daemonScript(), '--socket', socket, '--sim-dir', join(dir, 'sim'), '--restore', file], { timeoutMs: 30_000 });
      const what = explainBytes(`${c.name}: tsxenstored --restore`, r);
      assert.equal(r.timedOut, false, `${what}\n(the daemon started instead of refusing)`);
      assert.notEqual(r.code, 0, what);
      const err = r.stderr.toString('utf8');
      assert.match(err, new RegExp(`byte ${c.offset}\\b`), what);
      assert.match(err, c.reason, what);
      assert.doesNotMatch(err, /^\s+at\s/m, `${what}\n(a stack trace)`);
      assert.equal(existsSync(socket), false, `${c.name}: the socket was never created`);
      assert.equal(await canConnect(socket), false);
    });
  });

  test('records in an impossible order (a node before its parent): exit non-zero, nothing listens', { timeout: 60_000 }, async () => {
    assert.ok(good !== undefined);
    const recs = recordOffsets(good);
    // Move the last node record (a leaf) before the root record.
    const nodes = recs.filter((r) => r.type === RecType.NODE_DATA);
    const root = nodes[0]!;
    const leaf = nodes[nodes.length - 1]!;
    const leafBytes = good.subarray(leaf.at, leaf.at + 8 + leaf.len + ((8 - (leaf.len % 8)) % 8));
    const bytes = Buffer.concat([good.subarray(0, root.at), leafBytes, good.subarray(root.at, leaf.at), good.subarray(leaf.at + leafBytes.length)]);
    const dir = tempDir('tsxs-badrestore-');
    const file = join(dir, 'bad.xs');
    const socket = join(dir, 'socket');
    writeFileSync(file, bytes);
    const r = await runBytes(process.execPath, [daemonScript(), '--socket', socket, '--no-sim', '--restore', file], { timeoutMs: 30_000 });
    const what = explainBytes('tsxenstored --restore (node before the root)', r);
    assert.equal(r.timedOut, false, what);
    assert.notEqual(r.code, 0, what);
    assert.match(r.stderr.toString(), /before the root/, what);
    assert.equal(existsSync(socket), false);
  });
});
