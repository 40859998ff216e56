/**
 * xenstore-ls's tree listing, line for line (docs/cli-compat.md §6): one
 * space of indent per level, values escaped and cut to the line width, and
 * with -p a dot leader up to column 60 followed by the permissions.
 */
import { XenStoreError } from '../client/errors.js';
import type { Operations } from '../client/operations.js';
import { formatPermission } from '../client/perms.js';
import { sanitise, strerror } from './escape.js';

export interface LsOptions {
  readonly flat: boolean;
  readonly perms: boolean;
  /** Terminal columns if stdout is a terminal. */
  readonly ttyColumns: number | undefined;
}

export interface LsSink {
  out(s: string): void;
  err(s: string): void;
}

/** Thrown for the fatal DIRECTORY failures: the message is already formatted. */
export class LsFatal extends Error {}

export async function ls(xs: Operations, path: string, opts: LsOptions, sink: LsSink): Promise<void> {
  const maxWidth = opts.ttyColumns !== undefined ? opts.ttyColumns - 2 : opts.flat ? 1073741823 : 80;
  const desired = opts.flat ? 0 : 60;
  const cut = (s: string, k: number): string => (k < 0 ? s : s.slice(0, k));

  const list = async (p: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = await xs.directory(p);
    } catch (e) {
      const code = e instanceof XenStoreError ? e.code : 'EINVAL';
      if (depth > 0 && code === 'ENOENT') return;
      throw new LsFatal(`xs_directory (${p}): ${strerror(code)}`);
    }
    for (const name of names) {
      const full = p.endsWith('/') ? p + name : `${p}/${name}`;
      let line: string;
      let col: number;
      if (opts.flat) {
        line = full;
        col = 0;
      } else {
        const shown = cut(name, maxWidth - 8 - depth);
        line = ' '.repeat(depth) + shown;
        col = depth + shown.length;
      }
      let value: Buffer | undefined;
      try {
        value = await xs.read(full);
      } catch {
        value = undefined;
      }
      if (value === undefined) {
        line += ':\n';
      } else {
        const s = sanitise(value);
        if (maxWidth >= 0 && maxWidth < col + value.length + 8) {
          line += ` = "${cut(s, maxWidth - 8 - col)}\\..."`;
        } else {
          line += ` = "${s}"`;
          col += 5 + s.length;
          if (opts.perms) {
            line += ' ';
            col += 1;
            const stop = Math.min(desired, maxWidth);
            for (; col < stop; col++) line += col % 2 === 1 ? '.' : ' ';
          }
        }
      }
      if (opts.perms) {
        try {
          const perms = await xs.getPerms(full);
          line += `  (${perms.map(formatPermission).join(',')})`;
        } catch (e) {
          sink.err(`\ncould not access permissions for ${name}: ${strerror(e instanceof XenStoreError ? e.code : 'EINVAL')}`);
        }
      }
      sink.out(`${line}\n`);
      await list(full, depth + 1);
    }
  };
  await list(path, 0);
}
