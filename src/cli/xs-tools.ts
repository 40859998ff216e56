/**
 * The xenstore-* tools, one function each, with Xen 4.17's semantics
 * (docs/cli-compat.md): which run in a transaction, what they print, the
 * wording of every error, and the exit codes. Each returns the exit code.
 */
import type { XenStoreClient } from '../client/client.js';
import { XenStoreError } from '../client/errors.js';
import type { Operations } from '../client/operations.js';
import { formatPermission, type Access, type Permission } from '../client/perms.js';
import { atoi, sanitise, strerror, unsanitise } from './escape.js';
import { ls, LsFatal } from './ls.js';

export interface Io {
  /** stdout (already buffered by the caller where Xen buffers). */
  out(s: string | Uint8Array): void;
  /** One stderr message; the "prog: " prefix is added. */
  err(msg: string): void;
  readonly json: boolean;
  /** --verbose: failures also say why (the errno's name and text). */
  readonly verbose?: boolean;
  readonly ttyColumns: number | undefined;
}

/**
 * A failure line: Xen's wording as it is (so that output stays byte for byte
 * what xenstore-* print), and with --verbose or --json the reason after it.
 */
export function failure(io: Io, msg: string, e: unknown): string {
  if (io.verbose !== true && !io.json) return msg;
  const code = e instanceof XenStoreError ? e.code : undefined;
  return code === undefined ? `${msg}: ${String(e)}` : `${msg}: ${code} (${strerror(code)})`;
}

/** A key failed: message already printed; abort the transaction, exit 1. */
class KeyFailed extends Error {}
/** A fatal error: print this and exit 1 at once (no commit). */
class Fatal extends Error {}

const codeOf = (e: unknown): string => (e instanceof XenStoreError ? e.code : 'EINVAL');

/**
 * Runs `body` as Xen's tools do: in a transaction if `inTxn`, output buffered
 * and only written at the end, the whole thing redone after an EAGAIN commit.
 */
async function withTransaction(xs: XenStoreClient, io: Io, inTxn: boolean, body: (ops: Operations, out: (s: string | Uint8Array) => void) => Promise<void>): Promise<number> {
  for (let attempt = 0; attempt < 64; attempt++) {
    const chunks: Array<string | Uint8Array> = [];
    const out = (s: string | Uint8Array): void => void chunks.push(s);
    let tx;
    if (inTxn) {
      try {
        tx = await xs.startTransaction();
      } catch {
        io.err("couldn't start transaction");
        return 1;
      }
    }
    let failed = false;
    try {
      await body(tx ?? xs, out);
    } catch (e) {
      if (e instanceof Fatal) {
        io.err(e.message);
        return 1;
      }
      if (!(e instanceof KeyFailed)) throw e;
      failed = true;
    }
    if (tx !== undefined) {
      try {
        if (failed) await tx.abort();
        else await tx.commit();
      } catch (e) {
        if (!failed && codeOf(e) === 'EAGAIN') continue;
        io.err("couldn't end transaction");
        return 1;
      }
    }
    for (const c of chunks) io.out(c);
    return failed ? 1 : 0;
  }
  io.err("couldn't end transaction");
  return 1;
}

export async function read(xs: XenStoreClient, io: Io, keys: string[], prefix: boolean, raw: boolean): Promise<number> {
  const values: Record<string, string> = {};
  const rc = await withTransaction(xs, io, keys.length > 1, async (ops, out) => {
    for (const k of keys) {
      let v: Buffer;
      try {
        v = await ops.read(k);
      } catch (e) {
        io.err(failure(io, `couldn't read path ${k}`, e));
        throw new KeyFailed();
      }
      if (io.json) {
        values[k] = v.toString('utf8');
        continue;
      }
      if (prefix) out(`${k}: `);
      out(raw ? v : `${sanitise(v)}\n`);
    }
  });
  if (io.json && rc === 0) io.out(`${JSON.stringify(values)}\n`);
  return rc;
}

export async function write(xs: XenStoreClient, io: Io, pairs: string[], raw: boolean): Promise<number> {
  return withTransaction(xs, io, pairs.length > 2, async (ops) => {
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const k = pairs[i]!;
      const arg = Buffer.from(pairs[i + 1]!, 'utf8');
      try {
        await ops.write(k, raw ? arg : unsanitise(arg));
      } catch (e) {
        io.err(failure(io, `could not write path ${k}`, e));
        throw new KeyFailed();
      }
    }
  });
}

async function isEmptyLeaf(ops: Operations, p: string): Promise<boolean> {
  try {
    if ((await ops.read(p)).length !== 0) return false;
    return (await ops.directory(p)).length === 0;
  } catch {
    return false;
  }
}

export async function rm(xs: XenStoreClient, io: Io, keys: string[], tidy: boolean): Promise<number> {
  return withTransaction(xs, io, true, async (ops) => {
    for (const k of keys) {
      const remove = async (p: string): Promise<void> => {
        try {
          await ops.rm(p);
        } catch (e) {
          io.err(failure(io, `could not remove path ${p}`, e));
          throw new KeyFailed();
        }
      };
      await remove(k);
      if (!tidy) continue;
      let p = k;
      for (;;) {
        const slash = p.lastIndexOf('/');
        if (slash < 0) break;
        p = p.slice(0, slash);
        if (p === '' || !(await isEmptyLeaf(ops, p))) break;
        await remove(p);
      }
    }
  });
}

export async function exists(xs: XenStoreClient, io: Io, keys: string[]): Promise<number> {
  const found: Record<string, boolean> = {};
  const rc = await withTransaction(xs, io, true, async (ops) => {
    for (const k of keys) {
      try {
        await ops.read(k);
        found[k] = true;
      } catch {
        found[k] = false;
        if (!io.json) throw new KeyFailed();
      }
    }
  });
  if (io.json) {
    io.out(`${JSON.stringify(found)}\n`);
    return Object.values(found).every((x) => x) ? rc : 1;
  }
  return rc;
}

export async function list(xs: XenStoreClient, io: Io, keys: string[], prefix: boolean): Promise<number> {
  const lists: Record<string, string[]> = {};
  const rc = await withTransaction(xs, io, true, async (ops, out) => {
    for (const k of keys) {
      let names: string[];
      try {
        names = await ops.directory(k);
      } catch (e) {
        io.err(failure(io, `could not list path ${k}`, e));
        throw new KeyFailed();
      }
      lists[k] = names;
      if (!io.json) for (const n of names) out(prefix ? `${k}/${n}\n` : `${n}\n`);
    }
  });
  if (io.json && rc === 0) io.out(`${JSON.stringify(lists)}\n`);
  return rc;
}

export async function lsTree(xs: XenStoreClient, io: Io, paths: string[], flat: boolean, perms: boolean): Promise<number> {
  if (io.json) return lsJson(xs, io, paths);
  try {
    for (const p of paths.length === 0 ? ['/'] : paths) {
      await ls(xs, p, { flat, perms, ttyColumns: io.ttyColumns }, { out: io.out, err: io.err });
    }
    return 0;
  } catch (e) {
    if (!(e instanceof LsFatal)) throw e;
    io.err(e.message);
    return 1;
  }
}

/** ls --json: one object per node below each path: {path, value, perms}. */
async function lsJson(xs: XenStoreClient, io: Io, paths: string[]): Promise<number> {
  const nodes: Array<{ path: string; value: string; perms: string[] }> = [];
  const walk = async (p: string): Promise<void> => {
    for (const name of await xs.directory(p)) {
      const full = p.endsWith('/') ? p + name : `${p}/${name}`;
      const [value, perms] = await Promise.all([xs.read(full), xs.getPerms(full)]);
      nodes.push({ path: full, value: value.toString('utf8'), perms: perms.map(formatPermission) });
      await walk(full);
    }
  };
  try {
    for (const p of paths.length === 0 ? ['/'] : paths) await walk(p);
  } catch (e) {
    io.err(`xs_directory: ${strerror(codeOf(e))}`);
    return 1;
  }
  io.out(`${JSON.stringify(nodes)}\n`);
  return 0;
}

const ACCESS: Record<string, Access> = { n: 'none', r: 'read', w: 'write', b: 'both' };

export async function chmod(xs: XenStoreClient, io: Io, key: string, modes: string[], recurse: boolean, upto: boolean): Promise<number> {
  const perms: Permission[] = [];
  for (const m of modes) {
    const access = ACCESS[m.charAt(0)];
    if (access === undefined) {
      io.err(`Invalid permission specification: '${m.length === 0 ? '\0' : m.charAt(0)}'`);
      return 1;
    }
    perms.push({ access, domid: atoi(m.slice(1)) });
  }
  return withTransaction(xs, io, true, async (ops) => {
    const set = async (p: string): Promise<void> => {
      try {
        await ops.setPerms(p, perms);
      } catch (e) {
        throw new Fatal(`Error occurred setting permissions on '${p}': ${strerror(codeOf(e))}`);
      }
    };
    await set(key);
    if (upto) {
      let p = key;
      for (;;) {
        const slash = p.lastIndexOf('/');
        if (slash < 0) throw new Fatal(`Unable to locate path separator '/' in '${p}'`);
        p = p.slice(0, slash);
        if (p === '') break;
        await set(p);
      }
    }
    if (recurse) {
      const down = async (p: string): Promise<void> => {
        let names: string[];
        try {
          names = await ops.directory(p);
        } catch {
          return;
        }
        for (const n of names) {
          const child = `${p}/${n}`.slice(0, 255);
          await set(child);
          await down(child);
        }
      };
      await down(key);
    }
  });
}

export async function watch(xs: XenStoreClient, io: Io, keys: string[], count: number, depth: number | undefined): Promise<number> {
  const streams = [];
  for (const k of keys) {
    try {
      streams.push(await xs.watch(k, { token: k, depth }));
    } catch {
      io.err(`Unable to add watch on ${k}\n`);
      return 1;
    }
  }
  // One queue of events across all watches, in arrival order.
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  for (const s of streams) {
    void (async () => {
      try {
        for await (const ev of s) {
          queue.push(ev.path);
          wake?.();
        }
      } catch {
        // connection lost
      }
      ended = true;
      wake?.();
    })();
  }
  for (let seen = 0; count === -1 || seen < count; ) {
    const ev = queue.shift();
    if (ev !== undefined) {
      io.out(io.json ? `${JSON.stringify({ path: ev })}\n` : `${ev}\n`);
      seen++;
      continue;
    }
    if (ended) return count === -1 ? 1 : 0;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  return 0;
}
