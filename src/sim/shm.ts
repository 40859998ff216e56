/**
 * Access to the native addon that maps a shared-memory file as a
 * SharedArrayBuffer (native/xsshm.cc). Loaded on first use, so that only the
 * simulated Xen needs it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Addon {
  map(path: string, size: number, create: boolean): SharedArrayBuffer;
}

let addon: Addon | undefined;

/** The addon was never built (a package installed with --ignore-scripts, or no compiler). */
export class AddonMissingError extends Error {
  constructor(readonly file: string, readonly buildScript: string) {
    super(`the shared-memory addon is not built (${file}); build it with: node ${buildScript} (needs g++, make, python3)`);
    this.name = 'AddonMissingError';
  }
}

function load(): Addon {
  if (addon !== undefined) return addon;
  // dist/src/sim/shm.js or src/sim/shm.ts -> <root>/native/build/Release/xsshm.node
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5 && !existsSync(join(dir, 'native')); i++) dir = dirname(dir);
  const file = join(dir, 'native', 'build', 'Release', 'xsshm.node');
  if (!existsSync(file)) throw new AddonMissingError(file, join(dir, 'scripts', 'build-native.mjs'));
  addon = createRequire(import.meta.url)(file) as Addon;
  return addon;
}

/** Maps `size` bytes of the file at `path` shared with every other mapper; `create` makes it if missing. */
export function mapShared(path: string, size: number, create: boolean): SharedArrayBuffer {
  return load().map(path, size, create);
}
