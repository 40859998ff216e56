/**
 * tsxenstored --fork, as Xen's init scripts start XENSTORED: the command
 * returns 0 once the daemon is ready (its pid file written, its socket
 * answering), and the daemon lives on detached; a daemon that cannot start
 * makes the command fail with its reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/client.js';
import { daemonScript, run, waitFor } from '../helpers/daemon.js';

test('--fork returns once the daemon is ready; the daemon lives on and serves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-fork-'));
  const sock = join(dir, 'socket');
  const pidFile = join(dir, 'pid');
  let pid = 0;
  try {
    const r = await run(process.execPath, [daemonScript(), '--fork', '--socket', sock, '--pid-file', pidFile, '--sim-dir', join(dir, 'sim'), '--log-file', join(dir, 'log')], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(pidFile), 'the pid file is there when the command returns');
    pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(pid > 0);
    process.kill(pid, 0); // alive
    const xs = await connect({ path: sock });
    await xs.write('/forked', 'yes');
    assert.equal((await xs.read('/forked')).toString(), 'yes');
    xs.close();
    assert.match(readFileSync(join(dir, 'log'), 'utf8'), /listening on/);
  } finally {
    if (pid > 0) {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !existsSync(pidFile) || undefined, { what: 'the forked daemon to stop' });
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--fork fails with the reason when the daemon cannot start', async () => {
  const r = await run(process.execPath, [daemonScript(), '--fork', '--durable', '/dev/null/x', '--socket', join(tmpdir(), 'tsxs-fork-never.sock')], { timeoutMs: 30_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cannot recover from \/dev\/null\/x/);
  assert.match(r.stderr, /exited before it was ready/);
});

test('--fork with --config: the file\'s log-file is the one used (not the fork default)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-fork-'));
  const sock = join(dir, 'socket');
  const pidFile = join(dir, 'pid');
  const conf = join(dir, 'tsxenstored.conf');
  writeFileSync(conf, `log-file = ${join(dir, 'from-config.log')}\nsim-dir = ${join(dir, 'sim')}\n`);
  let pid = 0;
  try {
    const r = await run(process.execPath, [daemonScript(), '--fork', '--config', conf, '--socket', sock, '--pid-file', pidFile], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    pid = Number(readFileSync(pidFile, 'utf8'));
    await waitFor(() => (existsSync(join(dir, 'from-config.log')) && readFileSync(join(dir, 'from-config.log'), 'utf8').includes('listening on')) || undefined, { what: 'the configured log file' });
  } finally {
    if (pid > 0) {
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !existsSync(pidFile) || undefined, { what: 'the forked daemon to stop' });
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
