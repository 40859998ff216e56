/**
 * The two ways socket connections are served (--socket-io native: the xsio
 * addon; stream: Node's sockets) behave the same, whatever the peer does:
 * frames split anywhere, many replies a client reads late, a client that
 * never reads, a peer that goes away mid-frame. Real daemon, real sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { Op } from '../../src/protocol/op.js';
import { connect } from '../../src/client/index.js';
import { daemonScript, run, startDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';
import { frame as rawFrame, RawConn, type Message } from '../interop/raw-client.js';

const nul = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');
const frame = (type: number, reqId: number, payload: Buffer): Buffer => rawFrame(type, reqId, 0, payload);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** util-linux's prlimit, to lower the daemon's file-descriptor limit. */
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

/** The next `n` frames `c` receives. */
async function take(c: RawConn, n: number): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < n) out.push(await c.next());
  return out;
}

for (const io of ['native', 'stream'] as const) {
  describe(`socket I/O: ${io}`, () => {
    let d: DaemonHandle;
    before(async () => {
      // Small output bounds, so that the bound tests need little traffic.
      d = await startDaemon({ args: ['--socket-io', io, '-Q', 'connection-soft-bytes=16384', '-Q', 'connection-hard-bytes=262144'] });
    });
    after(async () => {
      await d.stop();
    });

    test('the daemon says how it serves sockets', () => {
      assert.match(d.log(), new RegExp(`socket I/O ${io}`));
    });

    test('frames split anywhere, several per chunk or one byte at a time, are all answered in order', async () => {
      const c = await RawConn.open(d.socket);
      const reqs: Buffer[] = [];
      for (let i = 0; i < 40; i++) reqs.push(frame(Op.WRITE, 2 * i + 1, Buffer.concat([nul(`/split/k${i}`), Buffer.from(`value ${i}`)])));
      for (let i = 0; i < 40; i++) reqs.push(frame(Op.READ, 2 * i + 2, nul(`/split/k${i}`)));
      const all = Buffer.concat(reqs);
      // The first frames a byte at a time (each byte its own read), then chunks of 1..97 bytes.
      let off = 0;
      for (; off < 60; off++) {
        c.sendRaw(all.subarray(off, off + 1));
        await sleep(2);
      }
      for (let size = 1; off < all.length; size = (size * 7 + 3) % 97 || 1) {
        c.sendRaw(all.subarray(off, off + size));
        off += size;
        if (size % 3 === 0) await sleep(1);
      }
      const frames = await take(c, 80);
      assert.deepEqual(
        frames.map((f) => f.reqId),
        reqs.map((_, i) => (i < 40 ? 2 * i + 1 : 2 * (i - 40) + 2)),
      );
      for (let i = 0; i < 40; i++) {
        assert.equal(frames[i]!.type, Op.WRITE);
        assert.equal(frames[40 + i]!.type, Op.READ);
        assert.equal(frames[40 + i]!.payload.toString(), `value ${i}`);
      }
      c.destroy();
    });

    test('a client that reads its replies late gets every one, in order (output queued, reading paused, then resumed)', async () => {
      const xs = await connect({ path: d.socket });
      const names: string[] = [];
      for (let i = 0; i < 60; i++) names.push(`child-with-a-long-name-to-make-the-listing-big-${i}`);
      await Promise.all(names.map((n) => xs.write(`/late/${n}`, '')));
      xs.close();
      const c = await RawConn.open(d.socket);
      c.socket.pause();
      // 400 listings of ~3 KB: 1.2 MB of replies, far more than the socket's buffers and the soft bound.
      const N = 400;
      const reqs: Buffer[] = [];
      for (let i = 1; i <= N; i++) reqs.push(frame(Op.DIRECTORY, i, nul('/late')));
      c.sendRaw(Buffer.concat(reqs));
      await assert.rejects(c.next(300), /no message/);
      c.socket.resume();
      const frames = await take(c, N);
      const expected = [...names].sort().join('\0') + '\0';
      frames.forEach((f, i) => {
        assert.equal(f.reqId, i + 1);
        assert.equal(f.type, Op.DIRECTORY);
        assert.equal([...f.payload.toString('latin1').split('\0').slice(0, -1)].sort().join('\0') + '\0', expected);
      });
      c.destroy();
    });

    test('a client that never reads its watch events is dropped at the hard bound; the others are served', async () => {
      const sink = await RawConn.open(d.socket);
      sink.socket.pause();
      sink.sendRaw(frame(Op.WATCH, 1, Buffer.concat([nul('/flood'), nul('a-long-token-so-that-each-event-is-big-enough')])));
      const writer = await connect({ path: d.socket });
      // ~80 bytes an event: 20,000 events are 1.6 MB, past the kernel's buffers and the 256 KiB bound.
      for (let round = 0; round < 20 && !/dropped: \d+ bytes of output not read/.test(d.log()); round++) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => writer.write(`/flood/key-${round}-${i}`, 'x')));
      }
      await waitFor(() => /dropped: \d+ bytes of output not read by the peer/.test(d.log()) || undefined, { what: 'the drop' });
      sink.socket.resume();
      await sink.waitClosed();
      assert.equal((await writer.read('/flood/key-0-0')).toString(), 'x');
      assert.equal(await writer.control('check'), 'OK');
      writer.close();
    });

    test('out of file descriptors, new clients are refused and the daemon serves the others', { skip: !hasPrlimit }, async () => {
      const first = await connect({ path: d.socket });
      // The daemon's own soft limit, lowered below what 60 more clients need, then put back.
      const soft = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${d.pid}/limits`, 'utf8'))![1]!;
      execFileSync('prlimit', ['--pid', String(d.pid), '--nofile=40:']);
      const crowd: Socket[] = [];
      try {
        for (let i = 0; i < 60; i++) {
          const s = netConnect(d.socket);
          s.on('error', () => undefined);
          crowd.push(s);
        }
        await sleep(300);
        await first.write('/fds/still', 'served');
        assert.equal((await first.read('/fds/still')).toString(), 'served');
        assert.ok(d.running());
      } finally {
        for (const s of crowd) s.destroy();
        execFileSync('prlimit', ['--pid', String(d.pid), `--nofile=${soft}:`]);
      }
      const late = await connect({ path: d.socket });
      assert.equal((await late.read('/fds/still')).toString(), 'served');
      late.close();
      first.close();
    });

    test('a peer that goes away mid-frame, or before its replies, costs nothing to the others', async () => {
      const half = await RawConn.open(d.socket);
      const f = frame(Op.WRITE, 7, Buffer.concat([nul('/gone/half'), Buffer.from('never')]));
      half.sendRaw(f.subarray(0, 20));
      await sleep(50);
      half.destroy();
      // Gone before its replies: the daemon's writes meet a closed peer (EPIPE, ECONNRESET).
      const gone = await RawConn.open(d.socket);
      gone.sendRaw(Buffer.concat(Array.from({ length: 200 }, (_, i) => frame(Op.READ, i + 1, nul('/split/k0')))));
      gone.destroy();
      const xs = await connect({ path: d.socket });
      assert.equal(await xs.exists('/gone/half'), false);
      assert.equal((await xs.read('/split/k0')).toString(), 'value 0');
      assert.equal(await xs.control('check'), 'OK');
      xs.close();
      assert.ok(d.running());
    });
  });
}

test('--socket-io takes auto, native or stream only', async () => {
  const r = await run(process.execPath, [daemonScript(), '--socket-io', 'fast', '--socket', '/tmp/never-used.sock']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--socket-io is auto, native or stream/);
});
