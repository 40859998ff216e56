/**
 * connectGuest() says which step failed (src/sim/connect-guest.ts): a domain
 * with no simulated ring is ENOENT and says how to create one; a ring whose
 * daemon is gone is ECONNREFUSED and says which directory has no daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, XenStoreError } from '../../src/client/index.js';
import { connectGuest } from '../../src/sim/connect-guest.js';
import { createGuest } from '../../src/sim/toolstack.js';
import { startDaemon, waitFor } from '../helpers/daemon.js';
import { simDirOf } from '../helpers/guests.js';

test('a domain without a simulated ring: ENOENT, with the command that creates one', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsxs-noguest-'));
  try {
    await assert.rejects(connectGuest(5, { simDir: dir }), (e: unknown) => {
      assert.ok(e instanceof XenStoreError);
      assert.equal(e.code, 'ENOENT');
      assert.match(e.message, /domain 5 has no simulated ring .*create-guest 5/);
      assert.doesNotMatch(e.message, /npm run build/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a guest whose daemon is gone: ECONNREFUSED, naming the directory no daemon serves', async () => {
  const d = await startDaemon();
  try {
    const dom0 = await connect({ path: d.socket });
    await createGuest(dom0, { domid: 5, dir: simDirOf(d), name: 'five' });
    dom0.close();
    process.kill(d.pid, 'SIGKILL');
    await waitFor(() => !d.running(), { what: 'the daemon to exit' });
    await assert.rejects(connectGuest(5, { simDir: simDirOf(d) }), (e: unknown) => {
      assert.ok(e instanceof XenStoreError);
      assert.equal(e.code, 'ECONNREFUSED');
      assert.match(e.message, /no daemon serves the simulated Xen in .*--sim-dir/);
      return true;
    });
  } finally {
    await d.stop();
  }
});
