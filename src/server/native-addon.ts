/**
 * Finding and loading the package's native addons (native/build/Release/
 * NAME.node, built by scripts/build-native.mjs in a checkout and at package
 * install). Each is loaded on first use, so that what does not need it (the
 * client, the CLI, the daemon with --backend none) works without it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's file, whether or not it is built. */
export function addonFile(name: string): string {
  // dist/src/server/native-addon.js or src/server/native-addon.ts -> <root>/native/build/Release/NAME.node
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5 && !existsSync(join(dir, 'native')); i++) dir = dirname(dir);
  return join(dir, 'native', 'build', 'Release', `${name}.node`);
}

/** The addon was never built (no compiler at install, or installed with --ignore-scripts). */
export class AddonMissingError extends Error {
  constructor(
    readonly file: string,
    what: string,
  ) {
    super(`the ${what} addon is not built (${file}): in a checkout, run npm run build; in an installed package, run npm rebuild tsxenstored where g++, make and python3 are installed`);
    this.name = 'AddonMissingError';
  }
}

/** Loads addon `name`; `what` names it in the error when it is not built. */
export function loadAddon<T>(name: string, what: string): T {
  const file = addonFile(name);
  if (!existsSync(file)) throw new AddonMissingError(file, what);
  return createRequire(import.meta.url)(file) as T;
}
