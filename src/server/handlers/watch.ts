/**
 * WATCH, UNWATCH, RESET_WATCHES. A new watch fires once at once with its own
 * path, after the OK. Watches are keyed by canonical path and token, so "a"
 * and "/local/domain/N/a" name the same watch.
 */
import { XsError } from '../../protocol/errno.js';
import { parseUint, strings } from '../../protocol/payload.js';
import { checkSpecial, isSpecial, resolvePath } from '../../store/path.js';
import { OK, type Request } from '../request.js';

/** How a watch on `path` (as the client wrote it) is keyed and where it sits in the trie. */
export function watchSpec(path: string, token: string, domid: number): { key: string; comps: readonly string[] | undefined } {
  if (isSpecial(path)) return { key: `${checkSpecial(path)}\0${token}`, comps: undefined };
  const p = resolvePath(path, domid);
  return { key: `${p.abs}\0${token}`, comps: p.comps };
}

/** The key, path and components of a WATCH/UNWATCH request. */
function parse(r: Request): { key: string; path: string; token: string; comps: readonly string[] | undefined; depth: number | undefined } {
  const args = strings(r.frame.payload);
  if (args.length < 2 || args.length > 3) throw new XsError('EINVAL', 'WATCH takes a path, a token and an optional depth');
  const [path, token, depthArg] = args as [string, string, string | undefined];
  const depth = depthArg === undefined || depthArg === '' ? undefined : parseUint(depthArg, 0xffff);
  return { ...watchSpec(path, token, r.conn.caller.domid), path, token, depth };
}

export function watch(r: Request): Uint8Array {
  const { conn, services: daemon } = r;
  const w = parse(r);
  if (conn.watches.has(w.key)) throw new XsError('EEXIST');
  const n = conn.watches.size;
  if ((!conn.caller.privileged && n >= daemon.quota(conn.caller.domid, 'watches')) || n >= daemon.settings['connection-watches']) {
    throw new XsError('ENOSPC', 'too many watches');
  }
  const entry = daemon.addWatch(conn, w.key, { path: w.path, token: w.token, comps: w.comps, depth: w.depth, relative: w.comps !== undefined && !w.path.startsWith('/') });
  if (entry === undefined) throw new XsError('EEXIST');
  r.afterReply.push(() => conn.event(entry.path, entry.token));
  return OK;
}

export function unwatch(r: Request): Uint8Array {
  const args = strings(r.frame.payload);
  if (args.length < 2 || args.length > 3) throw new XsError('EINVAL', 'UNWATCH takes a path and a token');
  // A path that could never have been watched names no watch: ENOENT, as both
  // of Xen's daemons answer (they do not validate UNWATCH's path).
  let key: string;
  try {
    key = watchSpec(args[0]!, args[1]!, r.conn.caller.domid).key;
  } catch (e) {
    if (e instanceof XsError) throw new XsError('ENOENT', `no watch on ${args[0]!.slice(0, 64)}`);
    throw e;
  }
  const entry = r.conn.watches.get(key);
  if (entry === undefined) throw new XsError('ENOENT');
  r.services.removeWatch(r.conn, key, entry);
  return OK;
}

export function resetWatches(r: Request): Uint8Array {
  r.services.dropWatches(r.conn);
  r.conn.transactions.clear();
  return OK;
}
