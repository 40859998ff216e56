/**
 * What the package ships (`npm pack --dry-run`): the daemon, the client
 * (ESM and its CommonJS build) and the native sources, and no benchmark code
 * (bench/ is a tool of the repository); the client entry of the exports map
 * is in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectRoot, run } from '../helpers/daemon.js';

test('the packed package holds no benchmark code, and holds the client entry and the native sources', async () => {
  const r = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: projectRoot(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  const files = pack!.files.map((f) => f.path);
  assert.ok(files.length > 50, `${files.length} files`);
  assert.deepEqual(files.filter((f) => /(^|\/)bench(\/|$)/.test(f)), []);
  for (const f of ['dist/src/client/index.js', 'dist/src/client/index.d.ts', 'dist/cjs/client/index.js', 'dist/cjs/client/index.d.ts', 'dist/cjs/package.json', 'native/xsxen.cc', 'native/xsxen.h', 'native/binding.gyp']) assert.ok(files.includes(f), f);
});
