// watch/fire: which watchers hear a change and with which path, with the
// permission filter, relative paths, removals, closed owners and special watches.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { domainHome, isSpecial, resolvePath } from '../../src/store/path.js';
import { parsePerms, type Caller } from '../../src/store/perms.js';
import type { Change } from '../../src/store/state.js';
import { changeEvents, specialEvents } from '../../src/watch/fire.js';
import { WatchIndex, type Watch } from '../../src/watch/watch-index.js';
import { emptyRoot } from '../../src/store/node.js';
import * as ops from '../../src/store/ops.js';
import { Store } from '../../src/store/store.js';
import { lookup } from '../../src/store/tree.js';
import { B, ctxOf, DOM0, guest, P } from '../support/fixtures.js';

interface W extends Watch {
  readonly open: boolean;
}

function watch(caller: Caller, path: string, token: string, open = true): W {
  const special = isSpecial(path);
  return {
    owner: { caller, home: domainHome(caller.domid) },
    path,
    token,
    comps: special ? undefined : resolvePath(path, caller.domid).comps,
    depth: undefined,
    relative: !special && !path.startsWith('/'),
    open,
  };
}

const live = (w: W): boolean => w.open;
const change = (abs: string, perms: string[], removed = false): Change => ({ path: P(abs), perms: parsePerms(perms), removed });
const fired = (changes: Change[], idx: WatchIndex<W>): string[] => [...changeEvents(changes, idx, live)].map((e) => `${e.token}:${e.path}`);

test('a watcher hears a change it may read, at the path it registered in its own terms', () => {
  const idx = new WatchIndex<W>();
  const g5 = guest(5);
  idx.add(watch(DOM0, '/local/domain/5', 'dom0'));
  idx.add(watch(g5, 'data', 'rel')); // relative: /local/domain/5/data
  idx.add(watch(g5, '/local/domain/5/data', 'abs'));
  const events = fired([change('/local/domain/5/data/x', ['n5'])], idx);
  assert.deepEqual(events.sort(), ['abs:/local/domain/5/data/x', 'dom0:/local/domain/5/data/x', 'rel:data/x'].sort());
});

test('the permission filter: a guest hears nothing of a node it may not read', () => {
  const idx = new WatchIndex<W>();
  idx.add(watch(guest(6), '/local/domain/5', 'spy'));
  idx.add(watch(guest(7), '/local/domain/5', 'granted'));
  const events = fired([change('/local/domain/5/secret', ['n5', 'r7'])], idx);
  assert.deepEqual(events, ['granted:/local/domain/5/secret']);
});

test('a removal reaches watches below the removed node with their own path; closed owners hear nothing', () => {
  const idx = new WatchIndex<W>();
  idx.add(watch(DOM0, '/a/b/c', 'below'));
  idx.add(watch(DOM0, '/a', 'above'));
  idx.add(watch(DOM0, '/a/b', 'closed', false));
  const events = fired([change('/a/b', ['n0'], true)], idx);
  assert.deepEqual(events.sort(), ['above:/a/b', 'below:/a/b/c']);
});

test('events come in change order', () => {
  const idx = new WatchIndex<W>();
  idx.add(watch(DOM0, '/', 'root'));
  assert.deepEqual(fired([change('/z', ['n0']), change('/a', ['n0'])], idx), ['root:/z', 'root:/a']);
});

test('special watches fire for those the special node\'s permissions let read', () => {
  const idx = new WatchIndex<W>();
  idx.add(watch(DOM0, '@releaseDomain', 'd0'));
  idx.add(watch(guest(5), '@releaseDomain', 'g5'));
  idx.add(watch(guest(6), '@releaseDomain', 'g6'));
  idx.add(watch(DOM0, '@introduceDomain', 'other'));
  const ev = (perms: string[]): string[] => [...specialEvents('@releaseDomain', parsePerms(perms), idx, live)].map((e) => `${e.token}:${e.path}`).sort();
  assert.deepEqual(ev(['n0']), ['d0:@releaseDomain']);
  assert.deepEqual(ev(['n0', 'r5']), ['d0:@releaseDomain', 'g5:@releaseDomain']);
});

test('below a removed node, only watches on nodes that existed hear of it, by those nodes\' permissions (C xenstored\'s rule, probed: RM /u with watches on /u/x/y, /u/nothere, /u/c/c/a)', () => {
  const idx = new WatchIndex<W>();
  idx.add(watch(DOM0, '/u/x/y', 'existed'));
  idx.add(watch(DOM0, '/u/nothere', 'absent-child'));
  idx.add(watch(DOM0, '/u/c/c/a', 'absent-deep'));
  idx.add(watch(guest(5), '/u/x/secret', 'not-readable'));
  idx.add(watch(guest(5), '/u/x/open', 'readable'));
  // The removed subtree: /u/x/y, /u/x/secret (dom0's), /u/x/open (readable by 5).
  const store = new Store(emptyRoot());
  const c0 = ctxOf(store);
  ops.write(c0, P('/u/x/y'), B('1'));
  ops.write(c0, P('/u/x/secret'), B('s'));
  ops.write(c0, P('/u/x/open'), B('o'));
  ops.setPerms(c0, P('/u/x/open'), parsePerms(['n0', 'r5']));
  const old = lookup(store.root, ['u'])!;
  const events = fired([{ path: P('/u'), perms: parsePerms(['n0']), removed: true, old }], idx);
  assert.deepEqual(events.sort(), ['existed:/u/x/y', 'readable:/u/x/open']);
});
