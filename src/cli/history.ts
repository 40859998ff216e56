/**
 * tsxenstore log / diff / read --at / history export: the daemon's retained
 * history, through CONTROL history (paged replies are followed here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { XenStoreClient } from '../client/client.js';
import { XenStoreError } from '../client/errors.js';
import { sanitise, strerror } from './escape.js';
import { exportToGit } from './git-export.js';
import type { Io } from './xs-tools.js';

/** All lines of a paged CONTROL history answer. */
async function paged(xs: XenStoreClient, args: string[]): Promise<string[]> {
  const lines: string[] = [];
  for (let skip = 0, guard = 0; guard < 100_000; guard++) {
    const text = await xs.control('history', ...args, String(skip));
    const got = text.split('\n').filter((l) => l !== '');
    const last = got[got.length - 1];
    if (last !== undefined && /^more [0-9]+$/.test(last)) {
      lines.push(...got.slice(0, -1));
      skip = Number(last.slice(5));
      continue;
    }
    lines.push(...got);
    return lines;
  }
  return lines;
}

const fail = (io: Io, what: string, e: unknown): number => {
  io.err(`${what}: ${e instanceof XenStoreError ? (e.detail ?? strerror(e.code)) : String(e)}`);
  return 1;
};

export async function log(xs: XenStoreClient, io: Io, path: string): Promise<number> {
  try {
    const lines = await paged(xs, ['log', path]);
    if (io.json) {
      io.out(`${JSON.stringify(lines.map((l) => {
        const m = /^r([0-9]+) (\S+) dom([0-9]+) conn([0-9]+) tx([0-9]+)(?: base r([0-9]+))? (.*)$/.exec(l);
        return m === null ? { line: l } : { rev: Number(m[1]), time: m[2], domid: Number(m[3]), conn: Number(m[4]), txId: Number(m[5]), baseRev: m[6] === undefined ? undefined : Number(m[6]), op: m[7] };
      }))}\n`);
    } else for (const l of lines) io.out(`${l}\n`);
    return 0;
  } catch (e) {
    return fail(io, `log ${path}`, e);
  }
}

/**
 * The revisions among `revs` the daemon does not hold, as an error line
 * ("no revision 999 (history holds r0..r3)"), or undefined if it holds all.
 */
async function missingRevision(xs: XenStoreClient, revs: readonly string[]): Promise<string | undefined> {
  const [oldest, head] = (await xs.control('history', 'range')).split(' ').map(Number) as [number, number];
  for (const r of revs) {
    const n = /^r?[0-9]+$/.test(r) ? Number(r.replace(/^r/, '')) : NaN;
    if (Number.isNaN(n)) return `${JSON.stringify(r)} is not a revision (a number, or rN)`;
    if (n < oldest || n > head) return `no revision ${n} (history holds r${oldest}..r${head})`;
  }
  return undefined;
}

export async function diff(xs: XenStoreClient, io: Io, r1: string, r2: string, path: string): Promise<number> {
  try {
    const lines = await paged(xs, ['diff', r1, r2, path]);
    for (const l of lines) {
      if (l.startsWith('- ')) {
        io.out(`${l}\n`);
        continue;
      }
      const m = /^\+ (\S+) (\S*) ([0-9a-f]*)$/.exec(l);
      if (m === null) continue;
      io.out(`+ ${m[1]} = "${sanitise(Buffer.from(m[3]!, 'hex'))}"  (${m[2]})\n`);
    }
    return 0;
  } catch (e) {
    const missing = await missingRevision(xs, [r1, r2]).catch(() => undefined);
    if (missing !== undefined) {
      io.err(`diff ${r1} ${r2}: ${missing}`);
      return 1;
    }
    return fail(io, `diff ${r1} ${r2}`, e);
  }
}

export async function readAt(xs: XenStoreClient, io: Io, rev: string, keys: string[], prefix: boolean, raw: boolean): Promise<number> {
  for (const k of keys) {
    let v: Buffer;
    try {
      v = Buffer.from(await xs.control('history', 'read', rev, k), 'hex');
    } catch (e) {
      const missing = await missingRevision(xs, [rev]).catch(() => undefined);
      const why = missing ?? (e instanceof XenStoreError ? strerror(e.code) : String(e));
      io.err(`couldn't read path ${k} at ${rev}: ${why}`);
      return 1;
    }
    if (prefix) io.out(`${k}: `);
    io.out(raw ? v : `${sanitise(v)}\n`);
  }
  return 0;
}

export async function exportGit(xs: XenStoreClient, io: Io, dir: string): Promise<number> {
  // The daemon writes the history file: it must be able to reach a shared temp directory.
  const tmp = mkdtempSync(join(tmpdir(), 'tsxs-history-'));
  try {
    const file = join(tmp, 'history.jsonl');
    await xs.control('history', 'export', file);
    const n = exportToGit(file, dir);
    io.out(`exported ${n} revisions to ${dir} (branch main)\n`);
    return 0;
  } catch (e) {
    return fail(io, 'history export', e);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
