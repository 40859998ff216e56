/**
 * The examples (examples/*.ts, built into dist/examples) run against a real
 * daemon, driven as their users would: a toolstack adding a device while a
 * monitor watches the VM's devices and a backend answers; a guest agent on
 * its simulated ring answering a shutdown request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect } from '../../src/client/index.js';
import { createGuest } from '../../src/sim/toolstack.js';
import { projectRoot, spawnLines, useDaemon } from '../helpers/daemon.js';
import { simDirOf } from '../helpers/guests.js';

const daemon = useDaemon();
const example = (name: string): string => join(projectRoot(), 'dist', 'examples', `${name}.js`);

test('toolstack-transaction adds a vif in one transaction; watch-devices sees it; Ctrl-C ends the watch', async () => {
  const xs = await connect({ path: daemon().socket });
  const monitor = spawnLines(process.execPath, [example('watch-devices'), '7'], { env: daemon().env });
  let toolstack: ReturnType<typeof spawnLines> | undefined;
  try {
    // The watch's first event (the directory itself) says it is registered: only then add the device.
    await monitor.waitForLine((l) => l === '/local/domain/7/device absent');
    toolstack = spawnLines(process.execPath, [example('toolstack-transaction'), '7', '00:16:3e:00:00:07'], { env: daemon().env });
    await toolstack.waitForLine((l) => l.includes('waiting for the backend'));
    assert.equal(await xs.readString('/local/domain/7/device/vif/0/mac'), '00:16:3e:00:00:07');
    assert.equal(await xs.readString('/local/domain/0/backend/vif/7/0/frontend'), '/local/domain/7/device/vif/0');
    await xs.write('/local/domain/0/backend/vif/7/0/state', '4'); // the backend connects
    await toolstack.waitForLine((l) => l === 'backend connected');
    assert.equal((await toolstack.done).code, 0, toolstack.stderr());

    await monitor.waitForLine((l) => l === '/local/domain/7/device/vif/0/mac = 00:16:3e:00:00:07');
    monitor.child.kill('SIGINT');
    const r = await monitor.done;
    assert.equal(r.code, 0, r.stderr);
  } finally {
    monitor.kill();
    toolstack?.kill();
    xs.close();
  }
});

test('guest-agent publishes over its ring and acknowledges a shutdown request', async () => {
  const xs = await connect({ path: daemon().socket });
  await createGuest(xs, { domid: 5, dir: simDirOf(daemon()), name: 'five' });
  const agent = spawnLines(process.execPath, [example('guest-agent'), '5', simDirOf(daemon())], { env: daemon().env });
  try {
    await agent.waitForLine((l) => l === 'guest 5: agent up');
    assert.equal(await xs.readString('/local/domain/5/control/feature-poweroff'), '1');
    assert.ok((await xs.readString('/local/domain/5/data/hostname')).length > 0);
    await xs.write('/local/domain/5/control/shutdown', 'poweroff');
    await agent.waitForLine((l) => l === 'guest 5: asked to poweroff');
    assert.equal((await agent.done).code, 0, agent.stderr());
    assert.equal(await xs.readString('/local/domain/5/control/shutdown'), '');
  } finally {
    agent.kill();
    xs.close();
  }
});
