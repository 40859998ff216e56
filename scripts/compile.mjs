// Compiles the TypeScript (tsc -p tsconfig.json, incremental: dist/.tsbuildinfo),
// saying so when there is something to compile and staying quiet when dist/
// is already up to date with the sources.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Written after each successful compile: not tsc's own .tsbuildinfo, which a
// `tsc --noEmit` run also refreshes without emitting anything.
const stamp = join(root, 'dist', '.compiled');

/** The newest modification time under `dir` (TypeScript sources and configs). */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts') || e.name.startsWith('tsconfig')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const sources = Math.max(newest(join(root, 'src')), newest(join(root, 'test')), newest(join(root, 'bench')), statSync(join(root, 'tsconfig.json')).mtimeMs);
if (existsSync(stamp) && statSync(stamp).mtimeMs >= sources) process.exit(0);
console.error('compile: compiling the TypeScript sources into dist/ (tsc)');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
} catch {
  process.exit(1);
}
writeFileSync(stamp, `${new Date().toISOString()}\n`);
