/**
 * The package as a Node developer meets it: packed (npm pack, after the
 * build), installed into a fresh project outside the repository, compiled
 * in strict TypeScript with the repository's compiler as ESM (nodenext), as
 * CommonJS (node16 .cts; commonjs with node10 resolution), and type-checked
 * with bundler resolution; each build then runs against a real daemon:
 * connect, write, a 20-way contended counter, a watch ended by its
 * AbortSignal, `await using`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, projectRoot, run, useDaemon } from '../helpers/daemon.js';

const daemon = useDaemon();
const SLOW_MS = 300_000;
let project: string;

function fixture(): string {
  return join(projectRoot(), 'test', 'arch', 'fixtures', 'consumer-main.txt');
}

before(async () => {
  project = await mkdtemp(join(tmpdir(), 'tsxs-consumer-'));
  const packDir = join(project, 'pack');
  mkdirSync(packDir);
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], { cwd: projectRoot(), timeoutMs: SLOW_MS });
  assert.equal(pack.code, 0, explain('npm pack', pack));
  const tgz = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz !== undefined, 'npm pack made no tarball');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2));
  // @types/node from the repository (offline); sorted-btree, the package's dependency, from the registry or npm's cache.
  const types = join(projectRoot(), 'node_modules', '@types', 'node');
  const install = await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, tgz), types], { cwd: project, timeoutMs: SLOW_MS });
  assert.equal(install.code, 0, explain('npm install', install));
  for (const [dir, file, type] of [
    ['esm', 'main.mts', 'module'],
    ['cts', 'main.cts', 'commonjs'],
    ['node10', 'main.ts', 'commonjs'],
    ['bundler', 'main.ts', 'module'],
  ] as const) {
    mkdirSync(join(project, dir));
    copyFileSync(fixture(), join(project, dir, file));
    writeFileSync(join(project, dir, 'package.json'), JSON.stringify({ type }));
  }
});

after(async () => {
  if (project !== undefined) await rm(project, { recursive: true, force: true });
});

const STRICT = ['--strict', '--noUncheckedIndexedAccess', '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'false'];

async function tsc(dir: string, file: string, flags: readonly string[]): Promise<void> {
  const compiler = join(projectRoot(), 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [compiler, ...STRICT, ...flags, join(project, dir, file)];
  const r = await run(process.execPath, args, { cwd: join(project, dir), timeoutMs: SLOW_MS });
  assert.equal(r.code, 0, explain(`tsc ${flags.join(' ')}`, r));
}

async function runs(dir: string, file: string): Promise<void> {
  const r = await run(process.execPath, [join(project, dir, file)], { cwd: join(project, dir), env: daemon().env, timeoutMs: SLOW_MS });
  assert.equal(r.code, 0, explain(file, r));
  assert.deepEqual(JSON.parse(r.stdout.trim()), { counter: '200', first: '/consumer/watched', ended: 'AbortError cancelled', dropped: false });
}

test('ESM: module nodenext compiles in strict mode and runs', { timeout: SLOW_MS * 2 }, async () => {
  await tsc('esm', 'main.mts', ['--module', 'nodenext']);
  await runs('esm', 'main.mjs');
});

test('CommonJS: a .cts with module node16 compiles, requires the CommonJS build, and runs', { timeout: SLOW_MS * 2 }, async () => {
  await tsc('cts', 'main.cts', ['--module', 'node16']);
  assert.match(readFileSync(join(project, 'cts', 'main.cjs'), 'utf8'), /require\("tsxenstored\/client"\)/);
  await runs('cts', 'main.cjs');
});

test('CommonJS: module commonjs with node10 resolution finds the declarations and runs', { timeout: SLOW_MS * 2 }, async () => {
  await tsc('node10', 'main.ts', ['--module', 'commonjs', '--moduleResolution', 'node10']);
  await runs('node10', 'main.js');
});

test('bundler resolution type-checks', { timeout: SLOW_MS }, async () => {
  await tsc('bundler', 'main.ts', ['--module', 'esnext', '--moduleResolution', 'bundler', '--noEmit']);
});
