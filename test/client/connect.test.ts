/**
 * connect() (src/client/connect.ts and client.ts): a daemon that refuses for
 * a moment (ECONNREFUSED) is retried until it accepts or the connect timeout
 * passes; a missing socket (ENOENT) is not retried; the signal cancels.
 * Attempts are counted through diagnostics_channel, not guessed by sleeping.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, XenStoreError } from '../../src/client/index.js';
import { run } from '../helpers/daemon.js';
import { startFakeDaemon, xsCode as code } from '../helpers/fake-daemon.js';

let dir: string;
let attempts = 0;
let onAttempt: (() => void) | undefined;
const count = (): void => {
  attempts++;
  onAttempt?.();
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsxs-connect-'));
  attempts = 0;
  onAttempt = undefined;
  subscribe('net.client.socket', count);
});

afterEach(async () => {
  unsubscribe('net.client.socket', count);
  await rm(dir, { recursive: true, force: true });
});

/** A socket file nobody listens on (its process was killed): connecting is ECONNREFUSED. */
async function staleSocket(): Promise<string> {
  const path = join(dir, 'stale');
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  await run(process.execPath, ['-e', script], { timeoutMs: 30_000 });
  return path;
}


test('ECONNREFUSED is retried until the daemon listens', async () => {
  const path = await staleSocket();
  const retried = new Promise<void>((resolve) => {
    onAttempt = () => {
      if (attempts >= 3) resolve();
    };
  });
  const connecting = connect({ path, connectTimeoutMs: 600_000 });
  await retried;
  // The daemon comes (back): the stale file is replaced by a live socket, atomically
  // (rename over it), so that no retry can find the path missing (ENOENT is final).
  const fake = await startFakeDaemon();
  try {
    const link = join(dir, 'live');
    await run('ln', ['-s', fake.path, link]);
    await rename(link, path);
    const c = await connecting;
    c.close();
  } finally {
    await fake.stop();
  }
});

test('a daemon refusing for longer than connectTimeoutMs: ECONNREFUSED after several attempts', async () => {
  const path = await staleSocket();
  await assert.rejects(connect({ path, connectTimeoutMs: 2000 }), (e: unknown) => code('ECONNREFUSED')(e) && /attempts/.test((e as Error).message));
  assert.ok(attempts >= 2, `${attempts} attempts`);
});

test('a missing socket (ENOENT) is not retried', async () => {
  await assert.rejects(connect({ path: join(dir, 'none'), connectTimeoutMs: 600_000 }), code('ENOENT'));
  assert.equal(attempts, 1);
});

test('the signal cancels connecting with an AbortError', async () => {
  const path = await staleSocket();
  const ac = new AbortController();
  onAttempt = () => {
    if (attempts === 2) ac.abort();
  };
  await assert.rejects(connect({ path, connectTimeoutMs: 600_000, signal: ac.signal }), (e: unknown) => e instanceof XenStoreError && e.name === 'AbortError');
});

test('await using closes the client and emits close', async () => {
  const fake = await startFakeDaemon();
  const seen: string[] = [];
  try {
    {
      await using c = await connect({ path: fake.path });
      c.on('close', (e) => seen.push(e.code));
      assert.equal(c.closed, false);
    }
    assert.deepEqual(seen, ['ECLOSED']);
  } finally {
    await fake.stop();
  }
});

test('connectTimeoutMs 0 makes one attempt: a refusing daemon fails at once', async () => {
  const path = await staleSocket();
  await assert.rejects(connect({ path, connectTimeoutMs: 0 }), code('ECONNREFUSED'));
  assert.equal(attempts, 1);
});
