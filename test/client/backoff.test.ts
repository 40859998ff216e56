/**
 * Backoff with full jitter (src/client/backoff.ts): the delay is drawn below
 * a ceiling that doubles from the base up to the cap; sleep() is cut short
 * by its signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullJitterMs, sleep } from '../../src/client/backoff.js';
import { XenStoreError } from '../../src/client/errors.js';

test('the ceiling doubles from the base and stops at the cap; the delay is uniform below it', () => {
  const top = (attempt: number): number => fullJitterMs(attempt, 1, 100, () => 1);
  assert.deepEqual([0, 1, 2, 3, 6, 7, 8, 1000].map(top), [1, 2, 4, 8, 64, 100, 100, 100]);
  assert.equal(fullJitterMs(5, 1, 100, () => 0), 0);
  assert.equal(fullJitterMs(5, 1, 100, () => 0.5), 16);
});

test('sleep() rejects with an AbortError when its signal aborts, at once if already aborted', async () => {
  const isAbort = (e: unknown): boolean => e instanceof XenStoreError && e.name === 'AbortError';
  await assert.rejects(sleep(10, 'T', AbortSignal.abort()), isAbort);
  const ac = new AbortController();
  const p = sleep(600_000, 'T', ac.signal);
  ac.abort();
  await assert.rejects(p, isAbort);
  await sleep(0, 'T');
});
