// Usage: node scripts/build-native.mjs [--optional]
// (--optional, at package install: a failed build warns and exits 0; the
// package then works without the addons and says so where they are needed.)
//
// Builds the native addons with npm's own node-gyp against the installed Node
// headers, never downloading anything: native/xsshm.node (shared memory for
// the simulated Xen), native/xsio.node (the Unix-socket connections' I/O
// without Node's stream layer) and native/xsxen.node (event channels, grant and foreign
// mappings, and the domain list for the real Xen). Skips the build when both
// are newer than their sources and binding.gyp.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native');
const built = (name) => {
  const out = join(dir, 'build', 'Release', `${name}.node`);
  if (!existsSync(out)) return false;
  const t = statSync(out).mtimeMs;
  const sources = readdirSync(dir).filter((f) => f.startsWith(name) && (f.endsWith('.cc') || f.endsWith('.h')));
  return sources.every((f) => t >= statSync(join(dir, f)).mtimeMs) && t >= statSync(join(dir, 'binding.gyp')).mtimeMs;
};
if (built('xsshm') && built('xsxen') && built('xsio')) process.exit(0);
const optional = process.argv.includes('--optional');
const giveUp = (why) => {
  console.error(`build-native: ${why}`);
  if (optional) {
    console.error('build-native: tsxenstored is installed without its native addons: the simulated Xen and the real Xen backend will say they are missing (the daemon with --backend none, the client and the CLI work)');
    process.exit(0);
  }
  process.exit(1);
};
console.error('build-native: building the native addons (native/*.cc, with node-gyp; about a minute)');

const prefix = resolve(dirname(process.execPath), '..');
const candidates = [
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
];
const gyp = candidates.find((p) => existsSync(p));
if (gyp === undefined) giveUp('node-gyp not found (looked in npm\'s bundled copy and node_modules)');
const args = [gyp, 'rebuild'];
if (existsSync(join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
try {
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
} catch (e) {
  process.stderr.write(String(e.stdout ?? '') + String(e.stderr ?? ''));
  giveUp('building the native addons failed (needs g++, make, python3)');
}
