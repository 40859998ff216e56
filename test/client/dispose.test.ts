/**
 * `await using` (Symbol.asyncDispose) against the real daemon: a transaction
 * left neither committed nor aborted is aborted, a committed one stays; a
 * watch is unwatched (its token can be used again); the client is closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../../src/client/index.js';
import { useDaemon } from '../helpers/daemon.js';

const daemon = useDaemon();

test('await using: transactions abort unless committed, watches unwatch, the client closes', async () => {
  const observer = await connect({ path: daemon().socket });
  try {
    let closedWith: string | undefined;
    {
      await using c = await connect({ path: daemon().socket });
      c.on('close', (e) => {
        closedWith = e.code;
      });
      {
        await using tx = await c.startTransaction();
        await tx.write('/dispose/dropped', 'x');
      }
      {
        await using tx = await c.startTransaction();
        await tx.write('/dispose/kept', 'y');
        await tx.commit();
      }
      {
        await using w = await c.watch('/dispose', { token: 'once' });
        assert.equal((await w.next()).value?.path, '/dispose');
      }
      // The token is free again: the daemon got UNWATCH.
      await using again = await c.watch('/dispose', { token: 'once' });
      assert.equal((await again.next()).value?.path, '/dispose');
    }
    assert.equal(closedWith, 'ECLOSED');
    assert.equal(await observer.exists('/dispose/dropped'), false);
    assert.equal(await observer.readString('/dispose/kept'), 'y');
  } finally {
    observer.close();
  }
});

test("Symbol.asyncDispose is Node's registered symbol, the one the client's polyfill would define on Node 20.0-20.3", () => {
  assert.equal(Symbol.asyncDispose, Symbol.for('nodejs.asyncDispose'));
});
