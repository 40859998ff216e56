/**
 * The client can be loaded alone: `import('tsxenstored/client')` resolves
 * through the package's exports map and loads the client and the protocol
 * codec only, no module of the daemon (server/, store/, txn/, watch/,
 * state/, sim/, xen/). Checked at run time, in a fresh process whose module
 * loader reports every file it loads. `require('tsxenstored/client')` loads
 * the CommonJS build (dist/cjs), likewise the client and codec alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot, run } from '../helpers/daemon.js';

const HOOK = 'export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.startsWith("file:")) process.stderr.write("LOADED " + r.url + "\\n"); return r; }';
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;

async function loaded(specifier: string): Promise<{ files: string[]; out: string }> {
  const script = `const m = await import(${JSON.stringify(specifier)}); console.log(Object.keys(m).sort().join(','));`;
  const r = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--input-type=module', '-e', script], { cwd: projectRoot(), timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  const files = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => relative(projectRoot(), fileURLToPath(l.slice('LOADED '.length))));
  return { files, out: r.stdout };
}

test("import('tsxenstored/client') loads the client and the codec, nothing of the daemon", async () => {
  const { files, out } = await loaded('tsxenstored/client');
  assert.match(out, /(^|,)connect(,|$)/);
  assert.match(out, /XenStoreError/);
  assert.ok(files.length > 3, `the hook saw the modules load: ${files.join(' ')}`);
  const areas = new Set(files.map((f) => f.split(sep).slice(0, 3).join('/')));
  assert.deepEqual([...areas].filter((a) => !['dist/src/client', 'dist/src/protocol'].includes(a)), [], files.join('\n'));
});

test("the checker would see the daemon: import('tsxenstored') loads server/", async () => {
  const { files } = await loaded('tsxenstored');
  assert.ok(files.some((f) => f.startsWith(['dist', 'src', 'server'].join(sep))), files.join('\n'));
});

test("require('tsxenstored/client') loads the CommonJS build of the client and the codec only", async () => {
  const script = `const m = require('tsxenstored/client'); console.log(Object.keys(m).sort().join(',')); console.log(JSON.stringify(Object.keys(require.cache)));`;
  const r = await run(process.execPath, ['--input-type=commonjs', '-e', script], { cwd: projectRoot(), timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  const [names, cache] = r.stdout.trim().split('\n');
  assert.match(names ?? '', /(^|,)connect(,|$)/);
  const files = (JSON.parse(cache ?? '[]') as string[]).map((f) => relative(projectRoot(), f)).filter((f) => !f.startsWith('..') && f !== '[eval]');
  const areas = new Set(files.map((f) => f.split(sep).slice(0, 3).join('/')));
  assert.deepEqual([...areas].sort(), ['dist/cjs/client', 'dist/cjs/protocol'], files.join('\n'));
});
