// Builds native/xsshm.node (the shared-memory mapping addon used by the
// simulated Xen) with npm's own node-gyp against the installed Node headers,
// never downloading anything. Skips the build when the addon is up to date.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native');
const out = join(dir, 'build', 'Release', 'xsshm.node');
const src = join(dir, 'xsshm.cc');
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);

const prefix = resolve(dirname(process.execPath), '..');
const candidates = [
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
];
const gyp = candidates.find((p) => existsSync(p));
if (gyp === undefined) {
  console.error('build-native: node-gyp not found (looked in npm\'s bundled copy and node_modules)');
  process.exit(1);
}
const args = [gyp, 'rebuild'];
if (existsSync(join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
try {
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
} catch (e) {
  process.stderr.write(String(e.stdout ?? '') + String(e.stderr ?? ''));
  console.error('build-native: building the shared-memory addon failed (needs g++, make, python3)');
  process.exit(1);
}
