/**
 * Interop: Xen's protocol test program /usr/lib/xen-4.17/bin/test-xenstore
 * (12 tests: read, write, dir, rm, transactions incl. a conflict). The
 * reference daemons pass all three runs below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { explain, run, useDaemon } from '../helpers/daemon.js';

const BIN = '/usr/lib/xen-4.17/bin/test-xenstore';
const skip = existsSync(BIN) ? false : `${BIN} not installed (xen-utils-4.17)`;
const daemon = useDaemon();

/** Test names as printed by `test-xenstore -l` (first column). */
async function testNames(): Promise<string[]> {
  const r = await run(BIN, ['-l'], { env: daemon().env });
  assert.equal(r.code, 0, explain('test-xenstore -l', r));
  const names = r.stdout
    .split('\n')
    .filter((l) => l.includes(':'))
    .map((l) => l.slice(0, l.indexOf(':')).trim());
  assert.ok(names.length >= 12, `expected at least 12 tests, got ${JSON.stringify(names)}`);
  return names;
}

test('test-xenstore: all tests once', { skip }, async () => {
  const names = await testNames();
  const r = await run(BIN, [], { env: daemon().env });
  assert.equal(r.code, 0, explain('test-xenstore', r));
  for (const n of names) assert.match(r.stdout, new RegExp(`^${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`, 'm'), `no result line for "${n}"\n${r.stdout}`);
});

test('test-xenstore -i 50', { skip }, async () => {
  const names = await testNames();
  const r = await run(BIN, ['-i', '50'], { env: daemon().env });
  assert.equal(r.code, 0, explain('test-xenstore -i 50', r));
  for (const n of names) assert.match(r.stdout, new RegExp(`^${n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*: avg:`, 'm'), `no average for "${n}"\n${r.stdout}`);
});

test('test-xenstore -r 5 (random mode, 5 seconds)', { skip }, async () => {
  const r = await run(BIN, ['-r', '5'], { env: daemon().env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, explain('test-xenstore -r 5', r));
});

test('the daemon is still serving after test-xenstore', { skip }, async () => {
  const w = await run('/usr/bin/xenstore-write', ['/after-test-xenstore', 'alive'], { env: daemon().env });
  assert.equal(w.code, 0, explain('xenstore-write', w));
  const r = await run('/usr/bin/xenstore-read', ['/after-test-xenstore'], { env: daemon().env });
  assert.equal(r.stdout, 'alive\n', explain('xenstore-read', r));
});
