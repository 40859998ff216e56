/**
 * tsxenstored as a host's service: it never takes over a live socket (Xen's
 * own xenstored's, or another tsxenstored's; nor a simulated Xen another
 * daemon serves), survives SIGHUP by reopening its log file, writes its pid
 * file before its socket appears, prints --version, and logs JSON lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/client.js';
import { XenStoreError } from '../../src/client/errors.js';
import { canConnect, daemonScript, projectRoot, run, startDaemon, waitFor } from '../helpers/daemon.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tsxs-service-'));
}

test('a second daemon on a live socket exits non-zero with the reason; the first still answers', async () => {
  const first = await startDaemon();
  try {
    const xs = await connect({ path: first.socket });
    await xs.write('/owner', 'first');
    const r = await run(process.execPath, [daemonScript(), '--socket', first.socket, '--sim-dir', join(first.dir, 'sim2')], { timeoutMs: 30_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is in use: a daemon is listening on it/);
    assert.ok(first.running());
    assert.ok(existsSync(first.socket), 'the socket file is still there');
    assert.equal((await xs.read('/owner')).toString(), 'first');
    const xs2 = await connect({ path: first.socket });
    assert.equal((await xs2.read('/owner')).toString(), 'first', 'new connections still reach the first daemon');
    xs2.close();
    xs.close();
  } finally {
    await first.stop();
  }
});

test('a second daemon on a live simulated Xen (evtchn.sock) is refused; the first keeps it', async () => {
  const first = await startDaemon();
  try {
    const other = join(first.dir, 'other-socket');
    const r = await run(process.execPath, [daemonScript(), '--socket', other, '--sim-dir', join(first.dir, 'sim')], { timeoutMs: 30_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot start the simulated Xen .*evtchn\.sock is in use/);
    assert.ok(existsSync(join(first.dir, 'sim', 'evtchn.sock')));
    assert.ok(!existsSync(other), 'the refused daemon left no socket behind');
  } finally {
    await first.stop();
  }
});

test('a stale socket file (nobody listening) is replaced', async () => {
  const dir = tempDir();
  const sock = join(dir, 'socket');
  try {
    // A socket file whose listener is gone: bind, then close without unlinking (as after a kill -9).
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    const copy = join(dir, 'stale');
    renameSync(sock, copy); // keep the file: closing a listener removes its own path
    await new Promise<void>((resolve) => server.close(() => resolve()));
    renameSync(copy, sock);
    assert.ok(existsSync(sock));
    const d = await startDaemonOn(sock, dir);
    const xs = await connect({ path: sock });
    await xs.write('/fresh', '1');
    xs.close();
    await d.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A daemon on a given socket path (startDaemon picks its own). */
async function startDaemonOn(sock: string, dir: string): Promise<{ stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [daemonScript(), '--socket', sock, '--sim-dir', join(dir, 'sim')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error(`daemon exited: ${err}`);
      try {
        (await connect({ path: sock })).close();
        return true;
      } catch {
        return undefined;
      }
    },
    { what: 'the daemon on the stale path' },
  );
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

test('SIGHUP reopens the log file and the daemon lives on with its store intact', async () => {
  const dir = tempDir();
  const log = join(dir, 'log');
  const e = await startDaemon({ args: ['--log-file', log] });
  try {
    const xs = await connect({ path: e.socket });
    await xs.write('/kept', 'before HUP');
    await waitFor(() => readFileSync(log, 'utf8').includes('listening on') || undefined, { what: 'the first log lines' });
    renameSync(log, `${log}.1`); // what logrotate does
    process.kill(e.pid, 'SIGHUP');
    await waitFor(() => (existsSync(log) && readFileSync(log, 'utf8').includes('SIGHUP: log file reopened')) || undefined, { what: 'the reopened log file' });
    assert.ok(e.running(), 'SIGHUP did not kill the daemon');
    assert.equal((await xs.read('/kept')).toString(), 'before HUP');
    assert.equal(await xs.control('check'), 'OK');
    assert.doesNotMatch(readFileSync(`${log}.1`, 'utf8'), /SIGHUP/, 'the rotated file got no new lines');
    xs.close();
  } finally {
    await e.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pid file exists before the socket does, and goes at SIGTERM', async () => {
  const dir = tempDir();
  const sock = join(dir, 'socket');
  const pidFile = join(dir, 'pid');
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [daemonScript(), '--socket', sock, '--pid-file', pidFile, '--sim-dir', join(dir, 'sim')], { stdio: 'ignore' });
  try {
    // Poll for the socket file; at the first sight of it, the pid file must already be there.
    const pidAtSocket = await waitFor(() => (existsSync(sock) ? (existsSync(pidFile) ? readFileSync(pidFile, 'utf8') : 'missing') : undefined), {
      intervalMs: 1,
      what: 'the socket file',
    });
    assert.equal(pidAtSocket.trim(), String(child.pid));
    await waitFor(async () => (await canConnect(sock)) || undefined, { what: 'the daemon to accept' });
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(!existsSync(pidFile), 'the pid file is removed at exit');
    assert.ok(!existsSync(sock), 'the socket file is removed at exit');
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--version prints the package version on both bins', async () => {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
  const a = await run(process.execPath, [daemonScript(), '--version']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, `tsxenstored ${pkg.version}\n`);
  const b = await run(process.execPath, [join(projectRoot(), 'dist', 'src', 'cli', 'tsxenstore.js'), '--version']);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, `tsxenstore ${pkg.version}\n`);
});

test('--log-format json: every line parses; the access log is structured; nothing is lost at SIGTERM', async () => {
  const dir = tempDir();
  const log = join(dir, 'log');
  const d = await startDaemon({ args: ['--log-file', log, '--log-format', 'json'] });
  try {
    const xs = await connect({ path: d.socket });
    assert.equal(await xs.control('log', 'on'), 'OK');
    for (let i = 0; i < 200; i++) await xs.write(`/json/k${i}`, 'v');
    xs.close();
  } finally {
    await d.stop();
  }
  const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
  const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const o of objs) {
    assert.equal(typeof o.time, 'string');
    assert.ok(['error', 'warn', 'info', 'debug'].includes(o.level as string), String(o.level));
    assert.equal(typeof o.msg, 'string');
  }
  const writes = objs.filter((o) => o.msg === 'request' && o.op === 'WRITE');
  assert.equal(writes.length, 200, 'one access-log line per write, none lost at SIGTERM');
  assert.equal(writes[0]!.args, '/json/k0 v');
  assert.equal(writes[0]!.domid, 0);
  assert.ok(objs.some((o) => typeof o.msg === 'string' && o.msg.startsWith('SIGTERM')), 'the last line (shutdown) is there');
  rmSync(dir, { recursive: true, force: true });
});

test('CONTROL logfile to a path that cannot be opened is an error; the log stays where it was', async () => {
  const dir = tempDir();
  const log = join(dir, 'log');
  const d = await startDaemon({ args: ['--log-file', log] });
  try {
    const xs = await connect({ path: d.socket });
    await assert.rejects(xs.control('logfile', '/nonexistent/dir/x'), (e: unknown) => e instanceof XenStoreError && e.code === 'ENOENT');
    await xs.control('print', 'still-here');
    await waitFor(() => readFileSync(log, 'utf8').includes('still-here') || undefined, { what: 'the print line in the old log' });
    xs.close();
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a log file that cannot be opened refuses the start with the reason', async () => {
  const r = await run(process.execPath, [daemonScript(), '--log-file', '/nonexistent/dir/log', '--socket', join(tmpdir(), 'tsxs-never.sock')], { timeoutMs: 30_000 });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot open the log file: ENOENT/);
});

test('a log file on a full disk (/dev/full) loses log lines, counted in the metrics, never requests', { skip: existsSync('/dev/full') ? false : 'no /dev/full' }, async () => {
  const dir = tempDir();
  const metrics = join(dir, 'metrics.sock');
  const d = await startDaemon({ args: ['--log-file', '/dev/full', '--metrics-listen', metrics] });
  try {
    const xs = await connect({ path: d.socket });
    assert.equal(await xs.control('log', 'on'), 'OK');
    for (let i = 0; i < 50; i++) await xs.write(`/full/k${i}`, String(i));
    assert.equal((await xs.read('/full/k49')).toString(), '49');
    assert.equal(await xs.control('check'), 'OK');
    const text = await new Promise<string>((resolve, reject) => {
      httpGet({ socketPath: metrics, path: '/metrics' }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    const dropped = Number(/^tsxenstored_log_lines_dropped_total (\d+)$/m.exec(text)?.[1]);
    // Every access-log line was lost; a failed write may have carried several, so the count is at least one.
    assert.ok(dropped > 0, `log lines dropped: ${dropped}`);
    xs.close();
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
