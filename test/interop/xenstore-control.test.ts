/**
 * Interop: Xen 4.17's xenstore-control (Debian xen-utils-4.17) against the
 * built daemon. The `quota` answers use the C xenstored's layout (checked
 * against cxenstored from ../shared/refdaemons): "Quota settings:", then each
 * quota as "name" padded to 17, ": ", the value right-aligned in 8, its
 * description; `quota DOMID` as "Domain N:" and "name" padded to 16. The C
 * daemon's `memory` quota is not built, so it is not listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { explain, run, useDaemon, type RunResult } from '../helpers/daemon.js';

const TOOL = '/usr/lib/xen-4.17/bin/xenstore-control';
const skip = existsSync(TOOL) ? false : 'xen-utils-4.17 not installed (no xenstore-control)';
const daemon = useDaemon();

function control(...args: string[]): Promise<RunResult> {
  return run(TOOL, args, { env: daemon().env });
}

async function ok(...args: string[]): Promise<string> {
  const r = await control(...args);
  assert.equal(r.code, 0, explain(`xenstore-control ${args.join(' ')}`, r));
  return r.stdout;
}

test('quota lists the quotas in the C daemon\'s order and layout', { skip }, async () => {
  const lines = (await ok('quota')).split('\n');
  assert.equal(lines[0], 'Quota settings:');
  const names = lines.slice(1).filter((l) => l !== '').map((l) => l.slice(0, 17).trimEnd());
  assert.deepEqual(names, ['nodes', 'watches', 'transactions', 'outstanding', 'transaction-nodes', 'node-size', 'path-max', 'permissions']);
  assert.ok(lines.some((l) => l.startsWith('nodes            :     1000 ')), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('permissions      :        5 ')), lines.join('\n'));
});

test('quota set takes the C names (and the older node-permissions); a bad name fails', { skip }, async () => {
  assert.equal(await ok('quota', 'set', 'permissions', '6'), 'OK\n');
  assert.ok((await ok('quota')).includes('permissions      :        6 '));
  assert.equal(await ok('quota', 'set', 'node-permissions', '5'), 'OK\n');
  assert.ok((await ok('quota')).includes('permissions      :        5 '));
  const bad = await control('quota', 'set', 'bogus', '1');
  assert.notEqual(bad.code, 0, explain('quota set bogus 1', bad));
});

test('quota DOMID reports what the domain uses, as "Domain N:" lines', { skip }, async () => {
  const lines = (await ok('quota', '0')).split('\n');
  assert.equal(lines[0], 'Domain 0:');
  assert.deepEqual(
    lines.slice(1).filter((l) => l !== '').map((l) => l.slice(0, 16).trimEnd()),
    ['nodes', 'watches', 'transactions', 'outstanding'],
  );
  assert.match(lines[1]!, /^nodes {11}: {1,8}\d+$/);
});
