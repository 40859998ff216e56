/**
 * Committing a transaction (T1 = base, T2 = root, p = low) into the live store,
 * cheapest test first:
 *  1. nothing written: succeed (a read-only transaction never conflicts);
 *  2. the live root is still T1: swap in T2;
 *  3. coalesce: for every region of the transaction (p, or where p is the
 *     root because it touched paths under several first components, p per
 *     first component: Transaction.regions), the live node there is the same
 *     object as T1's node there, and every ancestor still exists with the same
 *     permissions: graft T2's node of each region it changed into the live tree;
 *  4. replay: re-run the recorded requests on the live store; if every answer
 *     is what the client saw, the result is committed;
 *  else EAGAIN. In strict mode only 1 and 2 apply (the old C daemon's rule).
 * See docs/design.md for worked examples.
 */
import { childGet } from '../store/children.js';
import type { Node } from '../store/node.js';
import { lookup, putChild } from '../store/tree.js';
import { permsEqual } from '../store/perms.js';
import type { Change } from '../store/state.js';
import type { Store } from '../store/store.js';
import type { Transaction } from './transaction.js';

export type ConflictMode = 'coalesce' | 'strict';

export type CommitOutcome =
  | { readonly ok: true; readonly how: 'read-only' | 'swap' | 'coalesce' | 'replay'; readonly changes: readonly Change[] }
  | { readonly ok: false };

/**
 * Re-runs `txn`'s log against the current live root and returns the new
 * transaction if every answer matched, else undefined. Supplied by the server,
 * which owns request dispatch.
 */
export type Replayer = (txn: Transaction) => Transaction | undefined;

/** True if the live node at `low` is T1's very node and p's ancestors kept their perms. */
export function canCoalesce(store: Store, txn: Transaction, low: readonly string[]): boolean {
  let live: Node | undefined = store.root;
  let base: Node | undefined = txn.base;
  for (let i = 0; i < low.length; i++) {
    // live and base are the ancestors of p at depth i.
    if (live === base) return true; // same object: everything below is untouched
    if (live === undefined || base === undefined) return false; // an ancestor vanished
    if (!permsEqual(live.perms, base.perms)) return false;
    live = childGet(live.children, low[i]!);
    base = childGet(base.children, low[i]!);
  }
  return live === base;
}

export function commit(store: Store, txn: Transaction, mode: ConflictMode, replay: Replayer): CommitOutcome {
  if (txn.doomed && (txn.wrote || txn.root !== txn.base)) return { ok: false };
  if (!txn.wrote) return { ok: true, how: 'read-only', changes: [] };
  if (store.root === txn.base) {
    store.root = txn.root;
    store.applyDelta(txn.delta);
    return { ok: true, how: 'swap', changes: txn.changes };
  }
  if (mode === 'strict') return { ok: false };
  const regions = txn.regions;
  if (regions !== undefined && regions.every((r) => canCoalesce(store, txn, r))) {
    // Regions are disjoint subtrees: grafting one leaves the others' nodes as they were.
    const gen = store.nextGen();
    let root = store.root;
    for (const r of regions) {
      const mine = lookup(txn.root, r);
      if (mine !== lookup(txn.base, r)) root = putChild(root, r, r.length, mine, gen);
    }
    store.root = root;
    store.applyDelta(txn.delta);
    return { ok: true, how: 'coalesce', changes: txn.changes };
  }
  if (!txn.replayable) return { ok: false };
  const redo = replay(txn);
  if (redo === undefined) return { ok: false };
  store.root = redo.root;
  store.applyDelta(redo.delta);
  return { ok: true, how: 'replay', changes: redo.changes };
}
