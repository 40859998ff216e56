/**
 * Access to the native addon that maps a shared-memory file as a
 * SharedArrayBuffer (native/xsshm.cc). Loaded on first use, so that only the
 * simulated Xen needs it.
 */
import { loadAddon } from '../server/native-addon.js';

export { AddonMissingError } from '../server/native-addon.js';

interface Addon {
  map(path: string, size: number, create: boolean): SharedArrayBuffer;
}

let addon: Addon | undefined;

function load(): Addon {
  addon ??= loadAddon<Addon>('xsshm', 'shared-memory');
  return addon;
}

/** Maps `size` bytes of the file at `path` shared with every other mapper; `create` makes it if missing. */
export function mapShared(path: string, size: number, create: boolean): SharedArrayBuffer {
  return load().map(path, size, create);
}
