/**
 * Who may remove the simulated Xen's event-channel socket (evtchn.sock): a
 * live update's new daemon that fails before it has taken ownership must
 * leave the file of the still running daemon alone, whether it inherited the
 * listener or not; once it has taken ownership, closing removes the file.
 * The new daemon runs in its own process (successor-sim fixture), as in a
 * real live update: the listener is handed over as a file descriptor.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type StdioOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evtchnPath } from '../../src/sim/layout.js';
import { SimXen } from '../../src/sim/sim-xen.js';
import { projectRoot } from '../helpers/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'tsxs-simown-'));
const running = new SimXen(dir);

before(() => running.start({ onNotify: () => undefined, onDomainDeath: () => undefined }));
after(async () => {
  await running.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the successor fixture; `fd` is handed over as its fd 3. */
function successor(args: readonly string[], fd: number | undefined): Promise<{ started: boolean; error?: string }> {
  const script = join(projectRoot(), 'dist', 'test', 'sim', 'fixtures', 'successor-sim.js');
  const stdio: StdioOptions = ['ignore', 'pipe', 'inherit', fd ?? 'ignore'];
  const child = spawn(process.execPath, [script, dir, ...args], { stdio });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`successor-sim exited with code ${String(code)}: ${out}`));
      resolve(JSON.parse(out) as { started: boolean; error?: string });
    });
  });
}

/** The running daemon still answers on evtchn.sock (an unknown binding is refused, not ignored). */
function stillServes(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect(evtchnPath(dir));
    let reply = '';
    s.once('error', reject);
    s.once('connect', () => s.write('bind 4242 1\n'));
    s.on('data', (b: Buffer) => (reply += b.toString('latin1')));
    s.once('close', () => resolve(reply));
  });
}

test('a successor on the inherited listener that closes without taking ownership leaves evtchn.sock', { timeout: 30_000 }, async () => {
  const fd = running.handles().listener;
  assert.ok(fd !== undefined);
  assert.deepEqual(await successor(['inherit'], fd), { started: true });
  assert.ok(existsSync(evtchnPath(dir)), 'evtchn.sock is still there');
  assert.equal(await stillServes(), 'ENOENT\n');
});

test('a successor without an inherited listener neither clears nor steals evtchn.sock: it fails to start', { timeout: 30_000 }, async () => {
  const r = await successor(['no-fd'], undefined);
  assert.equal(r.started, false);
  assert.equal(r.error, 'EADDRINUSE');
  assert.ok(existsSync(evtchnPath(dir)), 'evtchn.sock is still there');
  assert.equal(await stillServes(), 'ENOENT\n');
});

test('a never started SimXen removes nothing when closed', async () => {
  await new SimXen(dir).close();
  assert.ok(existsSync(evtchnPath(dir)));
});

// Last: the file is gone afterwards, as after a completed live update.
test('once it has taken ownership, closing removes evtchn.sock', { timeout: 30_000 }, async () => {
  const fd = running.handles().listener;
  assert.ok(fd !== undefined);
  assert.deepEqual(await successor(['inherit', 'own'], fd), { started: true });
  assert.equal(existsSync(evtchnPath(dir)), false);
});
