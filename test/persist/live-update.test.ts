// CONTROL live-update -s [-F] under load: socket clients and a guest keep
// writing and reading and hold watches (one with a depth) while the daemon
// hands its sockets, rings and state to a new process. Checked: BUSY without
// -F while a transaction is open; the pid changes (from --pid-file); no
// request fails; no watch event is lost; a transaction open across the update
// commits if it only read and gets EAGAIN if it wrote; CONTROL check OK; a
// second update from the new daemon works too. The test kills whichever
// daemon is current at the end (the helper's stop() only knows the first pid).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';

import { connect, type XenStoreClient } from '../../src/client/client.js';
import { XenStoreError } from '../../src/client/errors.js';
import type { WatchStream } from '../../src/client/watch-stream.js';
import { createGuest } from '../../src/sim/toolstack.js';
import { startDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';
import { errCode, simDirOf } from '../helpers/guests.js';
import { cleanupTempDirs, isAlive, killAndWait, readPidFile, tempDir } from '../helpers/persist.js';
import { connectGuest } from '../../src/sim/connect-guest.js';

/**
 * Pids of daemons this file started (directly, or through a live update): the
 * ones still running are stopped at the end, and the state streams they wrote
 * for a live update (named after the writer's pid) are removed.
 */
const pids = new Set<number>();

/** Still our daemon (not a recycled pid)? */
function isDaemon(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('tsxenstored.js');
  } catch {
    return false;
  }
}

async function stopLeftovers(): Promise<void> {
  for (const pid of pids) if (isAlive(pid) && isDaemon(pid)) await killAndWait(pid);
}

after(async () => {
  await stopLeftovers();
  for (const f of readdirSync(tmpdir())) {
    const m = /^tsxenstored-live-update-([0-9]+)\.state/.exec(f);
    if (m !== null && pids.has(Number(m[1]))) rmSync(join(tmpdir(), f), { force: true });
  }
  cleanupTempDirs();
});

/** Collects a watch's event paths until its connection ends. */
function collect(stream: WatchStream, into: string[]): Promise<void> {
  return (async () => {
    try {
      for await (const ev of stream) into.push(ev.path);
    } catch {
      // connection closed at the end of the test
    }
  })();
}

interface Load {
  readonly written: string[];
  readonly failures: string[];
  ops: number;
  stop: boolean;
}

/** Writes then reads back distinct keys, one request at a time, until told to stop. */
async function loop(xs: XenStoreClient, prefix: string, load: Load, tag: string): Promise<void> {
  for (let n = 0; !load.stop; n++) {
    const key = `${prefix}/k${n}`;
    const value = `${tag}-${n}`;
    try {
      await xs.write(key, value);
      load.written.push(key);
      const back = (await xs.read(key)).toString();
      if (back !== value) load.failures.push(`${tag}: read ${key} gave ${JSON.stringify(back)}, wrote ${JSON.stringify(value)}`);
      if (n % 10 === 0) await xs.directory(prefix);
      load.ops++;
    } catch (e) {
      load.failures.push(`${tag}: op ${n} on ${key}: ${String(e)}`);
      if (e instanceof XenStoreError && ['ECONNRESET', 'ECLOSED'].includes(e.code)) return;
    }
  }
}

/** `p`, or a rejection if it takes longer than `ms` (a daemon that stopped answering must not hang the test). */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** GET /metrics on a Unix socket. */
function scrape(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpGet({ socketPath, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function currentPid(pidFile: string, not: number): Promise<number> {
  return waitFor(
    () => {
      const p = readPidFile(pidFile);
      return p !== undefined && p !== not && isAlive(p) ? p : undefined;
    },
    { what: `a new pid in ${pidFile}` },
  );
}

// Both ways of serving socket connections hand over their fds (the addon's and Node's sockets).
for (const io of ['native', 'stream']) {
  describe(`live update under load (socket I/O ${io})`, () => {
    const work = tempDir('tsxs-lu-');
    const pidFile = join(work, 'pid');
    let d: DaemonHandle | undefined;
    after(async () => {
      const p = readPidFile(pidFile);
      if (p !== undefined) pids.add(p);
      await stopLeftovers();
      await d?.stop();
    });

    test('live-update -s -F while clients and a guest write, read and watch: new pid, nothing failed, nothing lost', { timeout: 180_000 }, async (t) => {
      d = await startDaemon({ args: ['--pid-file', pidFile, '--socket-io', io] });
      const simDir = simDirOf(d);
      const firstPid = await waitFor(() => readPidFile(pidFile), { what: 'the pid file' });
      assert.equal(firstPid, d.pid);
      pids.add(firstPid);

      const admin = await connect({ path: d.socket });
      await createGuest(admin, { domid: 5, dir: simDir });
      await admin.write('/lu/base', 'base');

      // Watchers: everything under /lu; /lu only one level down; the guest on its own data.
      const watcher = await connect({ path: d.socket });
      const allEvents: string[] = [];
      const allStream = await watcher.watch('/lu', { token: 'all' });
      const allDone = collect(allStream, allEvents);
      const shallowEvents: string[] = [];
      const shallowStream = await watcher.watch('/lu', { token: 'shallow', depth: 1 });
      const shallowDone = collect(shallowStream, shallowEvents);
      const guest = await connectGuest(5, { simDir });
      const guestEvents: string[] = [];
      const guestStream = await guest.watch('/local/domain/5/data/lu', { token: 'guest' });
      const guestDone = collect(guestStream, guestEvents);

      // Load: three socket clients and the guest.
      const load: Load = { written: [], failures: [], ops: 0, stop: false };
      const guestLoad: Load = { written: [], failures: [], ops: 0, stop: false };
      const clients = await Promise.all([0, 1, 2].map(() => connect({ path: d!.socket })));
      const loops = [...clients.map((xs, i) => loop(xs, `/lu/c${i}`, load, `c${i}`)), loop(guest, '/local/domain/5/data/lu', guestLoad, 'guest')];
      await waitFor(() => load.ops >= 30 && guestLoad.ops >= 10, { what: 'load before the update' });
      await admin.write('/lu/shallow-before', '1');
      await admin.write('/lu/deep/below-before', '1');

      // Open transactions: without -F the update is refused.
      const txReader = await connect({ path: d.socket });
      const txWriter = await connect({ path: d.socket });
      const tr = await txReader.startTransaction();
      assert.equal((await tr.read('/lu/base')).toString(), 'base');
      const tw = await txWriter.startTransaction();
      await tw.write('/lu/tx-write', 'never');
      assert.equal(await admin.control('live-update', '-s'), 'BUSY');
      assert.equal(readPidFile(pidFile), firstPid, 'BUSY: still the same daemon');
      assert.ok(d.running());

      // Forced: the open transactions survive, doomed if they wrote.
      assert.equal(await admin.control('live-update', '-s', '-F'), 'OK');
      const secondPid = await currentPid(pidFile, firstPid);
      pids.add(secondPid);
      t.diagnostic(`pid ${firstPid} -> ${secondPid}`);
      await waitFor(() => !d!.running(), { what: 'the old daemon to exit' });

      // More load on the new daemon, through the very same connections.
      const opsAt = load.ops;
      const guestOpsAt = guestLoad.ops;
      await waitFor(() => load.ops >= opsAt + 30 && guestLoad.ops >= guestOpsAt + 10, { what: 'load after the update' });
      await admin.write('/lu/shallow-after', '1');
      await admin.write('/lu/deep/below-after', '1');
      load.stop = true;
      guestLoad.stop = true;
      await Promise.all(loops);
      assert.deepEqual(load.failures, [], 'no socket client request failed');
      assert.deepEqual(guestLoad.failures, [], 'no guest request failed');

      // The transactions opened before the update.
      assert.equal((await tr.read('/lu/base')).toString(), 'base', 'a transaction still reads after the update');
      await tr.commit();
      assert.equal(await errCode(tw.commit()), 'EAGAIN', 'a transaction that wrote cannot commit after the update');
      assert.equal(await admin.exists('/lu/tx-write'), false);

      // Every write produced its event, for the socket watcher and for the guest.
      const missing = (events: readonly string[], paths: readonly string[]): string[] => {
        const seen = new Set(events);
        return paths.filter((p) => !seen.has(p));
      };
      await waitFor(() => missing(allEvents, load.written).length === 0 || undefined, { what: 'every socket write\'s event' }).catch(() => undefined);
      await waitFor(() => missing(guestEvents, guestLoad.written).length === 0 || undefined, { what: 'every guest write\'s event' }).catch(() => undefined);
      assert.deepEqual(missing(allEvents, load.written), [], `lost events of ${load.written.length} socket writes`);
      assert.deepEqual(missing(guestEvents, guestLoad.written), [], `lost events of ${guestLoad.written.length} guest writes`);
      assert.ok(allEvents.includes('/lu/shallow-after') && allEvents.includes('/lu/deep/below-after'));
      // The depth-limited watch kept its depth.
      await waitFor(() => shallowEvents.includes('/lu/shallow-after') || undefined, { what: 'the shallow watch event' });
      assert.ok(shallowEvents.includes('/lu/shallow-before'));
      assert.deepEqual(
        shallowEvents.filter((p) => p.startsWith('/lu/deep/') || /^\/lu\/c[0-9]\/k/.test(p)),
        [],
        'depth 1: nothing two levels down, before or after the update',
      );

      assert.equal(await admin.control('check'), 'OK');

      // A second update, from the daemon that was itself started by one.
      assert.equal(await admin.control('live-update', '-s'), 'OK');
      const thirdPid = await currentPid(pidFile, secondPid);
      pids.add(thirdPid);
      await waitFor(() => !isAlive(secondPid), { what: `pid ${secondPid} to exit` });
      await clients[0]!.write('/lu/after-second', 'x');
      await guest.write('/local/domain/5/data/lu/after-second', 'g');
      assert.equal((await guest.read('/local/domain/5/data/lu/after-second')).toString(), 'g');
      await waitFor(() => (allEvents.includes('/lu/after-second') && guestEvents.includes('/local/domain/5/data/lu/after-second')) || undefined, {
        what: 'events after the second update',
      });
      assert.equal(await admin.control('check'), 'OK');
      // A newcomer can connect to the new daemon too.
      const late = await connect({ path: d.socket });
      assert.equal((await late.read('/lu/base')).toString(), 'base');
      late.close();

      for (const c of [...clients, admin, watcher, guest, txReader, txWriter]) c.close();
      await Promise.all([allDone, shallowDone, guestDone]);
      await killAndWait(thirdPid);
      assert.equal(isAlive(thirdPid), false);
    });
  });
}

describe('live update: special cases', () => {
  test('a daemon serving metrics (--metrics-listen) is live-updated, and its successor serves them at the same address', { timeout: 60_000 }, async () => {
    const work = tempDir('tsxs-lu-');
    const pidFile = join(work, 'pid');
    const metrics = join(work, 'metrics.sock');
    const a = await startDaemon({ args: ['--metrics-listen', metrics, '--pid-file', pidFile] });
    pids.add(a.pid);
    try {
      const xs = await connect({ path: a.socket });
      try {
        await xs.write('/m', '1');
        assert.equal(await within(xs.control('live-update', '-s'), 'live-update -s'), 'OK');
        const newPid = await currentPid(pidFile, a.pid);
        pids.add(newPid);
        // The successor binds the address once its predecessor has exited; its counters start afresh.
        const text = await waitFor(async () => {
          const body = await scrape(metrics).catch(() => '');
          return body.includes('tsxenstored_requests_total') ? body : undefined;
        }, { what: 'the successor\'s metrics' });
        assert.match(text, /^tsxenstored_connections\{kind="socket"\} 1$/m, 'the adopted connection is counted');
        await xs.write('/m', '2');
        assert.match(await scrape(metrics), /^tsxenstored_requests_total\{type="WRITE"\} [1-9]/m);
      } finally {
        xs.close();
      }
    } finally {
      const p = readPidFile(pidFile);
      if (p !== undefined) pids.add(p);
      await a.stop();
      await stopLeftovers();
    }
  });

  test(
    'a daemon started with --restore can be live-updated (the state handed over wins over the file)',
    { timeout: 60_000 },
    async () => {
      const work = tempDir('tsxs-lu-');
      const pidFile = join(work, 'pid');
      const dumpFile = join(work, 'dump.xs');
      const simDir = join(work, 'sim');
      const a = await startDaemon({ args: ['--sim-dir', simDir] });
      try {
        const xs = await connect({ path: a.socket });
        await createGuest(xs, { domid: 5, dir: simDir });
        await xs.write('/from/dump', 'old');
        assert.equal(await xs.control('dump', dumpFile), 'OK');
        xs.close();
      } finally {
        await a.stop();
      }
      const b = await startDaemon({ args: ['--sim-dir', simDir, '--restore', dumpFile, '--pid-file', pidFile] });
      pids.add(b.pid);
      try {
        const xs = await connect({ path: b.socket });
        try {
          await xs.write('/from/dump', 'new');
          const reply = await xs.control('live-update', '-s');
          const now = readPidFile(pidFile);
          if (now !== undefined) pids.add(now);
          assert.equal(reply, 'OK');
          const newPid = await currentPid(pidFile, b.pid);
          pids.add(newPid);
          assert.equal((await xs.read('/from/dump')).toString(), 'new', 'the live state, not the file');
          const g = await connectGuest(5, { simDir });
          assert.equal((await g.read('name')).toString(), 'guest-5');
          g.close();
        } finally {
          xs.close();
        }
      } finally {
        const p = readPidFile(pidFile);
        if (p !== undefined) pids.add(p);
        await b.stop();
        await stopLeftovers();
      }
    },
  );

  test(
    'after a failed live update the daemon carries on: every existing connection is still served',
    { timeout: 60_000 },
    async () => {
      const d = await startDaemon({ args: ['--no-sim'] });
      pids.add(d.pid);
      const idle = await connect({ path: d.socket });
      const asker = await connect({ path: d.socket });
      try {
        await idle.write('/lu/x', '1');
        // The next daemon gets an argument it does not know: it exits at once.
        assert.equal(await within(asker.control('live-update', '-c', '--no-such-flag'), 'live-update -c'), 'OK');
        assert.match(await within(asker.control('live-update', '-s'), 'live-update -s'), /live update failed: the new daemon exited/);
        assert.ok(d.running(), 'the old daemon carries on');
        const fresh = await connect({ path: d.socket });
        try {
          assert.equal(await within(fresh.control('check'), 'a new connection'), 'OK');
        } finally {
          fresh.close();
        }
        assert.equal((await within(idle.read('/lu/x'), 'a connection idle during the attempt', 5_000)).toString(), '1');
        assert.equal(await within(asker.control('check'), 'the connection that asked for the update'), 'OK');
      } finally {
        idle.close();
        asker.close();
        await d.stop();
      }
    },
  );

  test(
    'after a failed live update the daemon carries on: guests can still bind their event channel',
    { timeout: 60_000 },
    async () => {
      const d = await startDaemon();
      pids.add(d.pid);
      const simDir = simDirOf(d);
      const xs = await connect({ path: d.socket });
      try {
        await createGuest(xs, { domid: 6, dir: simDir });
        // The next daemon starts the simulated Xen, then fails on a file that does not exist.
        assert.equal(await within(xs.control('live-update', '-c', `--restore ${join(simDir, 'no-such-file')}`), 'live-update -c'), 'OK');
        assert.match(await within(xs.control('live-update', '-s'), 'live-update -s'), /live update failed/);
        assert.ok(d.running(), 'the old daemon carries on');
        const g = await within(connectGuest(6, { simDir }), 'the guest binding its event channel');
        try {
          assert.equal((await within(g.read('name'), 'a guest read')).toString(), 'guest-6');
        } finally {
          g.close();
        }
      } finally {
        xs.close();
        await d.stop();
      }
    },
  );
});
