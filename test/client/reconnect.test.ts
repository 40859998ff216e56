/**
 * The opt-in reconnect (src/client/connection.ts, reopen.ts), against a fake
 * daemon that drops the connection: requests in flight reject with
 * ECONNRESET, the client connects again by itself, registers its watches
 * again with the same path and token, and the watch goes on; close() stops
 * a reconnect loop whose daemon never comes back. Then the case it is for:
 * the real daemon, --durable, killed and restarted on the same socket.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, Op } from '../../src/client/index.js';
import { canConnect, daemonScript, waitFor } from '../helpers/daemon.js';
import { startFakeDaemon, xsCode } from '../helpers/fake-daemon.js';

test('a lost connection is replaced; watches are registered again and keep delivering', async () => {
  const fake = await startFakeDaemon();
  const c = await connect({ path: fake.path, reconnect: true });
  const events: string[] = [];
  c.on('reconnecting', (e) => events.push(`reconnecting ${e.code}`));
  c.on('close', (e) => events.push(`close ${e.code}`));
  const reconnected = new Promise<void>((resolve) => c.once('reconnect', resolve));
  try {
    const watching = c.watch('/cfg', { token: 'cfg', depth: 1 });
    const w1 = await fake.next();
    w1.conn.reply(w1);
    const w = await watching;
    w1.conn.send(Op.WATCH_EVENT, 0, 0, '/cfg\0cfg\0');
    assert.equal((await w.next()).value?.path, '/cfg');

    const pending = c.read('/cfg/x');
    await fake.next();
    w1.conn.socket.destroy(); // the daemon goes away
    await assert.rejects(pending, xsCode('ECONNRESET'));

    const w2 = await fake.next(); // the client is back, watching again
    assert.notEqual(w2.conn, w1.conn);
    assert.equal(w2.type, Op.WATCH);
    assert.deepEqual(w2.args, ['/cfg', 'cfg', '1']);
    w2.conn.reply(w2);
    await reconnected;
    w2.conn.send(Op.WATCH_EVENT, 0, 0, '/cfg/x\0cfg\0');
    assert.equal((await w.next()).value?.path, '/cfg/x');

    const q = c.read('/cfg/x');
    const r = await fake.next();
    r.conn.send(Op.READ, r.reqId, 0, 'v');
    assert.equal((await q).toString(), 'v');
    assert.deepEqual(events, ['reconnecting ECONNRESET']);
  } finally {
    c.close();
    await fake.stop();
  }
  assert.deepEqual(events, ['reconnecting ECONNRESET', 'close ECLOSED']);
});

test('close() ends a reconnect loop whose daemon never comes back', async () => {
  const fake = await startFakeDaemon();
  const c = await connect({ path: fake.path, reconnect: true });
  const lost = new Promise<void>((resolve) => c.once('reconnecting', () => resolve()));
  const w = c.watch('/gone');
  const req = await fake.next();
  req.conn.reply(req);
  const stream = await w;
  const waiting = stream.next();
  await fake.stop(); // no daemon any more: the client keeps trying
  await lost;
  await assert.rejects(c.read('/x'), xsCode('ECONNRESET'));
  c.close();
  await assert.rejects(waiting, xsCode('ECLOSED'));
  assert.equal(c.closed, true);
});

test('reconnect needs a socket: with a channel it is EINVAL', async () => {
  const channel = { write: () => undefined, start: () => undefined, close: () => undefined };
  await assert.rejects(connect({ channel, reconnect: true }), xsCode('EINVAL'));
});

/** The built daemon on a fixed socket (startDaemon() picks a fresh one each time); resolves once it accepts. */
async function daemonAt(socket: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [daemonScript(), '--socket', socket, ...args], { stdio: 'ignore' });
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
      return canConnect(socket);
    }, { what: `the daemon on ${socket}` });
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return child;
}

const exited = (child: ChildProcess): Promise<unknown> => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit'));

test('against the real daemon: a crash-restarted --durable daemon is reconnected to, and the watch fires again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsxs-reconnect-'));
  const socket = join(dir, 'socket');
  const args = ['--durable', join(dir, 'state'), '--no-sim'];
  let d = await daemonAt(socket, args);
  try {
    const c = await connect({ path: socket, reconnect: true });
    try {
      await c.write('/cfg/level', '1');
      const w = await c.watch('/cfg/level');
      assert.equal((await w.next()).value?.path, '/cfg/level');
      const lost = new Promise<void>((resolve) => c.once('reconnecting', () => resolve()));
      const back = new Promise<void>((resolve) => c.once('reconnect', resolve));
      d.kill('SIGKILL');
      await exited(d);
      await lost;
      d = await daemonAt(socket, args);
      await back;
      // Registering again fires the watch once: the program re-reads what it watches.
      assert.equal((await w.next()).value?.path, '/cfg/level');
      assert.equal(await c.readString('/cfg/level'), '1', 'the durable store came back');
      await c.write('/cfg/level', '2');
      assert.equal((await w.next()).value?.path, '/cfg/level');
    } finally {
      c.close();
    }
  } finally {
    d.kill('SIGTERM');
    await exited(d);
    await rm(dir, { recursive: true, force: true });
  }
});
