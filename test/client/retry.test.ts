/**
 * transaction()'s retry until a deadline (src/client/retry.ts), against the
 * real daemon: 20 clients each incrementing one counter 10 times always
 * reach 200 with no give-ups; a conflict past the deadline is EAGAIN; the
 * signal cancels between attempts; a body's own error is not retried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, DEFAULT_TRANSACTION_DEADLINE_MS, XenStoreError, type XenStoreClient } from '../../src/client/index.js';
import { useDaemon } from '../helpers/daemon.js';

const daemon = useDaemon();

async function clients(n: number): Promise<XenStoreClient[]> {
  return Promise.all(Array.from({ length: n }, () => connect({ path: daemon().socket })));
}

test('20 clients x 10 increments of one counter end at 200, none giving up (default deadline)', async () => {
  assert.equal(DEFAULT_TRANSACTION_DEADLINE_MS, 5_000);
  const cs = await clients(20);
  try {
    await cs[0]!.write('/retry/counter', '0');
    let attempts = 0;
    const worker = async (c: XenStoreClient): Promise<void> => {
      for (let i = 0; i < 10; i++) {
        await c.transaction(async (tx) => {
          attempts++;
          const n = Number(await tx.readString('/retry/counter'));
          await tx.write('/retry/counter', String(n + 1));
        });
      }
    };
    const results = await Promise.allSettled(cs.map(worker));
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
      [],
    );
    assert.equal(await cs[0]!.readString('/retry/counter'), '200');
    assert.ok(attempts >= 200, `${attempts} attempts`);
  } finally {
    for (const c of cs) c.close();
  }
});

/** A body that always conflicts: another client changes what it read before it commits. */
function alwaysConflicting(other: XenStoreClient, path: string): (tx: import('../../src/client/index.js').Transaction) => Promise<void> {
  return async (tx) => {
    const n = Number(await tx.readString(path));
    await other.write(path, String(n + 100));
    await tx.write(path, String(n + 1));
  };
}

test('still conflicting when the deadline passes: EAGAIN, after at least one attempt', async () => {
  const [c, other] = await clients(2);
  try {
    await c!.write('/retry/hot', '0');
    let runs = 0;
    const body = alwaysConflicting(other!, '/retry/hot');
    await assert.rejects(
      c!.transaction(async (tx) => {
        runs++;
        await body(tx);
      }, { deadlineMs: 0 }),
      (e: unknown) => e instanceof XenStoreError && e.code === 'EAGAIN' && /deadline/.test(e.message),
    );
    assert.equal(runs, 1);
  } finally {
    c!.close();
    other!.close();
  }
});

test('the signal cancels a transaction that keeps conflicting: AbortError, the last attempt aborted', async () => {
  const [c, other] = await clients(2);
  try {
    await c!.write('/retry/cancel', '0');
    const ac = new AbortController();
    let runs = 0;
    const body = alwaysConflicting(other!, '/retry/cancel');
    await assert.rejects(
      c!.transaction(async (tx) => {
        if (++runs === 3) ac.abort();
        await body(tx);
      }, { signal: ac.signal, deadlineMs: 600_000 }),
      (e: unknown) => e instanceof XenStoreError && e.name === 'AbortError' && e.code === 'ECANCELED',
    );
    assert.equal(runs, 3);
  } finally {
    c!.close();
    other!.close();
  }
});

test("a body's own error aborts the transaction and is not retried", async () => {
  const [c] = await clients(1);
  try {
    let runs = 0;
    await assert.rejects(
      c!.transaction(async (tx) => {
        runs++;
        await tx.write('/retry/own', 'x');
        throw new Error('mine');
      }),
      /mine/,
    );
    assert.equal(runs, 1);
    assert.equal(await c!.exists('/retry/own'), false);
  } finally {
    c!.close();
  }
});
