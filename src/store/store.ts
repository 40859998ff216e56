/**
 * The live store: the current root, node counts per owning domain, and the
 * generation counter. Direct (non-transactional) requests run on it; their
 * changes are collected for the watch layer to drain.
 */
import type { Node } from './node.js';
import { emptyRoot } from './node.js';
import { ownerOf } from './perms.js';
import type { Change, TreeState } from './state.js';

export class Store implements TreeState {
  root: Node;
  private readonly counts = new Map<number, number>();
  /** The sum of `counts`: every node has an owner. */
  private total = 0;
  private gen = 0;
  private pending: Change[] = [];

  constructor(root: Node = emptyRoot()) {
    this.root = root;
  }

  /** Nodes in the store (O(1): kept with the per-owner counts). */
  get nodes(): number {
    return this.total;
  }

  usage(domid: number): number {
    return this.counts.get(domid) ?? 0;
  }

  /** Every domain that owns at least one node, with its count. */
  usageTable(): ReadonlyMap<number, number> {
    return this.counts;
  }

  account(old: Node | undefined, neu: Node | undefined): void {
    const a = old === undefined ? undefined : ownerOf(old.perms);
    const b = neu === undefined ? undefined : ownerOf(neu.perms);
    if (a === b) return;
    if (a !== undefined) this.add(a, -1);
    if (b !== undefined) this.add(b, 1);
  }

  /** Applies a transaction's per-domain count changes at commit. */
  applyDelta(delta: ReadonlyMap<number, number>): void {
    for (const [domid, d] of delta) this.add(domid, d);
  }

  private add(domid: number, d: number): void {
    const n = (this.counts.get(domid) ?? 0) + d;
    this.total += d;
    if (n === 0) this.counts.delete(domid);
    else this.counts.set(domid, n);
  }

  /** Replaces the whole state (restore, recovery): the root and its per-owner counts. */
  reset(root: Node, counts: ReadonlyMap<number, number>): void {
    this.root = root;
    this.counts.clear();
    this.total = 0;
    for (const [d, n] of counts) this.add(d, n);
    this.pending = [];
  }

  nextGen(): number {
    return ++this.gen;
  }

  get generation(): number {
    return this.gen;
  }

  touch(): void {
    // Direct requests need no access tracking.
  }

  changed(c: Change): void {
    this.pending.push(c);
  }

  /** Changes made since the last call, oldest first. */
  takeChanges(): Change[] {
    if (this.pending.length === 0) return NONE;
    const out = this.pending;
    this.pending = [];
    return out;
  }
}

const NONE: Change[] = [];
