/**
 * Who must hear about a change, and with which path: a pure function of the
 * changes, the watch index and permissions, with no I/O (the daemon only
 * queues what it returns). A watcher hears about a node it may read; a
 * relative watch hears the path relative to its owner's home; a watch below
 * a removed node hears its own path, if its node existed in the removed
 * subtree and the watcher may read it (C xenstored's rule; oxenstored also
 * fires for absent nodes one level below the removed one: see the README).
 */
import { relativeTo } from '../store/path.js';
import { canRead, type Perms } from '../store/perms.js';
import type { Change } from '../store/state.js';
import { lookup } from '../store/tree.js';
import type { Watch, WatchIndex } from './watch-index.js';

/** One watch event to send: to `watch`'s owner, (path, token). */
export interface WatchEvent<W extends Watch> {
  readonly watch: W;
  readonly path: string;
  readonly token: string;
}

const NONE: readonly never[] = [];

/** The events `changes` fire, in change order; `live(w)` says whether a watch's owner still listens. */
export function changeEvents<W extends Watch>(changes: readonly Change[], index: WatchIndex<W>, live: (w: W) => boolean): ReadonlyArray<WatchEvent<W>> {
  if (changes.length === 0 || index.size === 0) return NONE;
  const out: Array<WatchEvent<W>> = [];
  for (const c of changes) {
    const abs = c.path.abs;
    const depth = c.path.comps.length;
    index.match(c.path.comps, c.removed, (w, below) => {
      if (!live(w)) return;
      // Below a removed node, a watch hears of its own node only if that node
      // existed (and by that node's permissions), as the C xenstored does.
      const perms = below && c.old !== undefined ? lookup(c.old, w.comps!.slice(depth))?.perms : c.perms;
      if (perms === undefined || !canRead(perms, w.owner.caller)) return;
      out.push({ watch: w, path: below ? w.path : w.relative ? relativeTo(abs, w.owner.home) : abs, token: w.token });
    });
  }
  return out;
}

/** The events a special watch (@introduceDomain, @releaseDomain) fires, for those whom `perms` let read it. */
export function specialEvents<W extends Watch>(name: string, perms: Perms, index: WatchIndex<W>, live: (w: W) => boolean): ReadonlyArray<WatchEvent<W>> {
  const out: Array<WatchEvent<W>> = [];
  for (const w of index.matchSpecial(name)) {
    if (live(w) && canRead(perms, w.owner.caller)) out.push({ watch: w, path: w.path, token: w.token });
  }
  return out;
}
