/**
 * The bench's self-started daemons: a durable one really runs with
 * --durable (a write lands in its log before the answer), an in-memory one
 * has no durable directory, and a custom command cannot be asked for one.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startOwnDaemon } from '../../bench/src/target.js';
import { connect } from '../../src/client/client.js';

describe('bench targets', () => {
  it('a durable target logs each write in its --durable directory; an in-memory one has none', { timeout: 60_000 }, async () => {
    const durable = await startOwnDaemon({ mode: 'coalesce', daemonCmd: undefined, nodeArgs: [], pin: false, durable: true });
    try {
      assert.ok(durable.durableDir !== undefined);
      const log = join(durable.durableDir, 'log');
      const before = statSync(log).size;
      const c = await connect({ path: durable.socket });
      try {
        await c.write('/bench/durable/probe', 'x'.repeat(100));
      } finally {
        c.close();
      }
      assert.ok(statSync(log).size > before + 100, 'the acknowledged write is in the log');
    } finally {
      await durable.stop();
    }
    const plain = await startOwnDaemon({ mode: 'coalesce', daemonCmd: undefined, nodeArgs: [], pin: false });
    try {
      assert.equal(plain.durableDir, undefined);
      assert.equal(existsSync(join(plain.socket, '..', 'durable')), false);
    } finally {
      await plain.stop();
    }
  });

  it('a custom daemon command cannot be made durable', async () => {
    await assert.rejects(startOwnDaemon({ mode: 'coalesce', daemonCmd: '/bin/true', nodeArgs: [], pin: false, durable: true }), /--durable needs a self-started tsxenstored/);
  });
});
