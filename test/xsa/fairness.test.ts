/**
 * XSA regression suite: unfairness (XSA-206). A guest that floods
 * transactions conflicting with everybody else's must not starve another
 * guest's transactions. Measured by completion, not time: the honest guest
 * runs 50 read-modify-write transactions on the contended node, retrying at
 * once on EAGAIN, and each must commit within MAX_ATTEMPTS attempts while the
 * attacker keeps ten conflicting transactions in flight the whole time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { XenStoreClient } from '../../src/client/client.js';
import { XenStoreError } from '../../src/client/errors.js';

import { assertHealthy, waitFor, useXsaSuite } from './support.js';

const suite = useXsaSuite();
const { daemon, guest } = suite;
let d0: XenStoreClient;
before(async () => {
  d0 = await suite.ready();
});

const MAX_ATTEMPTS = 20;
const COUNTER = '/tool/shared/counter';

/** One read-modify-write transaction on the counter; true if it committed, false on EAGAIN. */
async function increment(g: XenStoreClient, extra?: string): Promise<boolean> {
  const tx = await g.startTransaction();
  try {
    const v = Number(await tx.readString(COUNTER));
    await tx.write(COUNTER, String(v + 1));
    if (extra !== undefined) await tx.write(extra, String(v));
  } catch (e) {
    await tx.abort().catch(() => undefined);
    throw e;
  }
  try {
    await tx.commit();
    return true;
  } catch (e) {
    if (e instanceof XenStoreError && e.code === 'EAGAIN') return false;
    throw e;
  }
}

test('XSA-206: a guest flooding conflicting transactions does not starve another guest\'s transactions', async (t) => {
  const honest = await guest(90);
  const attacker = await guest(91);
  await d0.write(COUNTER, '0');
  await d0.setPerms('/tool/shared', ['n0', 'r90', 'r91']);
  await d0.setPerms(COUNTER, ['n0', 'b90', 'b91']);

  let stop = false;
  let attackCommits = 0;
  let attackConflicts = 0;
  const loops = Array.from({ length: 10 }, async () => {
    while (!stop) {
      try {
        if (await increment(attacker)) attackCommits++;
        else attackConflicts++;
      } catch (e) {
        if (stop) return;
        throw e;
      }
    }
  });

  const attempts: number[] = [];
  let committed = 0;
  try {
    // Let the attack get going first.
    await waitFor(() => attackCommits >= 20 || undefined, { what: 'the attacker\'s first commits' });
    for (let i = 0; i < 50; i++) {
      let n = 0;
      let ok = false;
      while (!ok && n < MAX_ATTEMPTS) {
        n++;
        ok = await increment(honest, `data/h${i}`);
      }
      attempts.push(n);
      if (!ok) break; // starved: no point going on
      committed++;
    }
  } finally {
    stop = true;
    await Promise.all(loops);
  }
  t.diagnostic(
    `honest attempts per transaction: max ${Math.max(...attempts)}, mean ${(attempts.reduce((a, b) => a + b, 0) / attempts.length).toFixed(1)}; ` +
      `attacker: ${attackCommits} commits, ${attackConflicts} conflicts`,
  );
  assert.ok(attackCommits > 20, 'the attacker was really committing');
  assert.equal(committed, 50, `honest transaction ${committed} did not commit in ${MAX_ATTEMPTS} attempts`);
  // Serialisable: the counter counts every committed increment, honest and hostile.
  const final = Number(await d0.readString(COUNTER));
  assert.equal(final, committed + attackCommits);
  await assertHealthy(daemon(), d0, 'fairness');
});

test('XSA-206: a guest flooding plain writes to the node does not starve another guest\'s transactions', async (t) => {
  const honest = await guest(92);
  const attacker = await guest(93);
  await d0.setPerms('/tool/shared', ['n0', 'r90', 'r91', 'r92', 'r93']);
  await d0.setPerms(COUNTER, ['n0', 'b92', 'b93']);
  let stop = false;
  let writes = 0;
  const loops = Array.from({ length: 10 }, async () => {
    while (!stop) {
      try {
        await attacker.write(COUNTER, String(1_000_000 + writes++));
      } catch (e) {
        if (stop) return;
        throw e;
      }
    }
  });
  const attempts: number[] = [];
  let committed = 0;
  try {
    await waitFor(() => writes >= 50 || undefined, { what: 'the attacker\'s first writes' });
    for (let i = 0; i < 50; i++) {
      let n = 0;
      let ok = false;
      while (!ok && n < MAX_ATTEMPTS) {
        n++;
        ok = await increment(honest, `data/h${i}`);
      }
      attempts.push(n);
      if (!ok) break;
      committed++;
    }
  } finally {
    stop = true;
    await Promise.all(loops);
  }
  t.diagnostic(`honest attempts per transaction: max ${Math.max(...attempts)}, mean ${(attempts.reduce((a, b) => a + b, 0) / attempts.length).toFixed(1)}; attacker: ${writes} writes`);
  assert.equal(committed, 50, `honest transaction ${committed} did not commit in ${MAX_ATTEMPTS} attempts`);
  await assertHealthy(daemon(), d0, 'fairness-writes');
});
