/**
 * Interop between clients: xenstore-utils and pyxs see each other's writes,
 * and each one's watches fire for the other's writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { explain, run, spawnLines, useDaemon } from '../helpers/daemon.js';
import { jsonLines, PYTHON, PYXS_SCRIPT, pyxsUnavailable } from './python.js';

const UTILS = ['read', 'write', 'watch'].map((t) => `/usr/bin/xenstore-${t}`);
const noUtils = UTILS.filter((p) => !existsSync(p));
const noPyxs = pyxsUnavailable();
const skip = noPyxs !== false ? noPyxs : noUtils.length > 0 ? `missing ${noUtils.join(', ')}` : false;

const daemon = useDaemon();

async function xs(tool: 'read' | 'write', ...args: string[]): Promise<string> {
  const r = await run(`/usr/bin/xenstore-${tool}`, args, { env: daemon().env });
  assert.equal(r.code, 0, explain(`xenstore-${tool} ${args.join(' ')}`, r));
  return r.stdout;
}

async function py(...args: string[]): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, [PYXS_SCRIPT, args[0] ?? '', daemon().socket, ...args.slice(1)]);
  assert.equal(r.code, 0, explain(`pyxs_checks.py ${args.join(' ')}`, r));
  const last = jsonLines(r.stdout).at(-1);
  assert.ok(last !== undefined, explain('pyxs_checks.py', r));
  return last;
}

test('xenstore-write -> pyxs read', { skip }, async () => {
  await xs('write', '/cross/from-utils', 'written by xenstore-write', '/cross/empty-utils', '');
  assert.deepEqual(await py('read', '/cross/from-utils'), { value: 'written by xenstore-write' });
  assert.deepEqual(await py('read', '/cross/empty-utils'), { value: '' });
});

test('pyxs write -> xenstore-read', { skip }, async () => {
  await py('write', '/cross/from-pyxs', 'written by pyxs');
  assert.equal(await xs('read', '/cross/from-pyxs'), 'written by pyxs\n');
});

test('a pyxs watch fires for a write by xenstore-write', { skip }, async () => {
  const w = spawnLines(PYTHON, [PYXS_SCRIPT, 'watch', daemon().socket, '/cross/w', 'tok-x', '2']);
  try {
    const ready = await w.waitForLine((l) => l.includes('"ready"'));
    assert.deepEqual(JSON.parse(ready), { ready: true, first: ['/cross/w', 'tok-x'] });
    await xs('write', '/cross/w/a', '1');
    await w.waitForLine((l) => l.includes('/cross/w/a'));
    await xs('write', '/cross/w', 'v');
    const r = await w.done;
    assert.equal(r.code, 0, explain('pyxs watch', r));
    assert.deepEqual(jsonLines(r.stdout), [
      { ready: true, first: ['/cross/w', 'tok-x'] },
      { event: ['/cross/w/a', 'tok-x'] },
      { event: ['/cross/w', 'tok-x'] },
    ]);
  } finally {
    w.kill();
  }
});

test('xenstore-watch fires for a write by pyxs', { skip }, async () => {
  const w = spawnLines('/usr/bin/xenstore-watch', ['-n', '2', '/cross/u'], { env: daemon().env });
  try {
    await w.waitForLine((l) => l === '/cross/u');
    await py('write', '/cross/u/b', 'x');
    const r = await w.done;
    assert.equal(r.code, 0, explain('xenstore-watch', r));
    assert.deepEqual(w.lines, ['/cross/u', '/cross/u/b']);
  } finally {
    w.kill();
  }
});
