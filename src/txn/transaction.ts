/**
 * A transaction is oxenstored's triple (T1, T2, p): `base` is the live root
 * when it started, `root` its private root, `low` the longest path prefix
 * under which every node it read or wrote lies. Because paths under different
 * first components can never overlap, it also keeps p per first component
 * (`regions`): a transaction that reads /vm/... and writes
 * /local/domain/7/... has p = / but the two regions /vm/<...> and
 * /local/domain/7/<...>, which commit by grafting each (txn/merge.ts). It
 * also keeps the per-domain node-count delta, the changes to announce on
 * commit, and a bounded log of requests and answers for replay.
 */
import type { Node } from '../store/node.js';
import { ownerOf } from '../store/perms.js';
import type { Change, TreeState } from '../store/state.js';
import type { Store } from '../store/store.js';
import { commonPrefixLength } from '../store/path.js';
import { XsError } from '../protocol/errno.js';

/** One request of the transaction and the answer the client saw. */
export interface Recorded {
  readonly type: number;
  readonly payload: Buffer;
  readonly replyType: number;
  readonly reply: Buffer;
}

export interface TxnBounds {
  /** Distinct nodes the transaction may touch (undefined: unbounded, privileged). */
  readonly maxNodes: number | undefined;
  /** Requests kept for replay; past this the transaction can only commit by swap or graft. */
  readonly maxLogEntries: number;
  readonly maxLogBytes: number;
}

const ROOT: readonly string[] = Object.freeze([]);

export class Transaction implements TreeState {
  /** T1: the live root the transaction started from (see refresh). */
  base: Node;
  root: Node;
  readonly delta = new Map<number, number>();
  /** Changes to announce on commit, one per path (the latest), in first-change order. */
  private readonly changeMap = new Map<string, Change>();
  readonly log: Recorded[] = [];
  private logBytes = 0;
  replayable = true;
  /** History revision current when the transaction started (for conflict blame). */
  startRev = 0;
  /**
   * Carried over a live update without its starting snapshot: it may still
   * read and write, but a commit of any write answers EAGAIN.
   */
  doomed = false;
  /** Once committed: the changes its commit made to the live store (a replay's may differ from `changes`). */
  committed: readonly Change[] | undefined;
  private readonly touched: Set<string> | undefined;
  /** Per first path component, the common prefix of the touched paths below it. */
  private readonly regionMap = new Map<string, readonly string[]>();
  /** The root itself was touched: no region is narrower than the whole tree. */
  private rootTouched = false;

  constructor(
    readonly id: number,
    private readonly store: Store,
    private readonly bounds: TxnBounds,
  ) {
    this.base = store.root;
    this.root = store.root;
    this.touched = bounds.maxNodes === undefined ? undefined : new Set();
  }

  /**
   * Moves T1 to the live root while the transaction has seen nothing (no
   * node touched, nothing recorded): until its first request it cannot be
   * told from one started now, so commits made in between need not doom it.
   * C xenstored gets the same by taking each node's generation at its first
   * access; without it, every commit between START and the first READ of a
   * busy key is one more EAGAIN. True if T1 moved.
   */
  refresh(): boolean {
    if (this.rootTouched || this.regionMap.size > 0 || this.log.length > 0 || this.doomed || this.root !== this.base || this.store.root === this.base) return false;
    this.base = this.store.root;
    this.root = this.base;
    return true;
  }

  /** Common prefix of all touched paths (p); undefined while nothing was touched. */
  get low(): readonly string[] | undefined {
    if (this.rootTouched || this.regionMap.size > 1) return ROOT;
    for (const r of this.regionMap.values()) return r;
    return undefined;
  }

  /**
   * The touched paths as disjoint subtrees, one per first component (the
   * common prefix of the touched paths under it), never the root; undefined
   * if the root itself was touched.
   */
  get regions(): (readonly string[])[] | undefined {
    return this.rootTouched ? undefined : [...this.regionMap.values()];
  }

  get wrote(): boolean {
    return this.changeMap.size > 0;
  }

  get changes(): Change[] {
    return [...this.changeMap.values()];
  }

  usage(domid: number): number {
    return this.store.usage(domid) + (this.delta.get(domid) ?? 0);
  }

  account(old: Node | undefined, neu: Node | undefined): void {
    const a = old === undefined ? undefined : ownerOf(old.perms);
    const b = neu === undefined ? undefined : ownerOf(neu.perms);
    if (a === b) return;
    if (a !== undefined) this.delta.set(a, (this.delta.get(a) ?? 0) - 1);
    if (b !== undefined) this.delta.set(b, (this.delta.get(b) ?? 0) + 1);
  }

  nextGen(): number {
    return this.store.nextGen();
  }

  touch(comps: readonly string[], depth: number): void {
    if (this.touched !== undefined) {
      const key = comps.slice(0, depth).join('/');
      if (!this.touched.has(key)) {
        if (this.touched.size >= this.bounds.maxNodes!) throw new XsError('ENOSPC', 'transaction-nodes quota reached');
        this.touched.add(key);
      }
    }
    if (this.rootTouched) return;
    if (depth === 0) {
      this.rootTouched = true;
      return;
    }
    const first = comps[0]!;
    const r = this.regionMap.get(first);
    if (r === undefined) {
      this.regionMap.set(first, comps.slice(0, depth));
    } else if (r.length > 1) {
      const k = Math.min(commonPrefixLength(r, comps), depth);
      if (k < r.length) this.regionMap.set(first, r.slice(0, k));
    }
  }

  changed(c: Change): void {
    const prev = this.changeMap.get(c.path.abs);
    // A node removed and later re-created (or removed again) still tells
    // watchers below it, of what existed when it was first removed.
    this.changeMap.set(c.path.abs, prev?.removed === true ? { ...c, removed: true, old: prev.old } : c);
  }

  /** Keeps a request and its answer for replay, within the bounds. */
  record(entry: Recorded): void {
    if (!this.replayable) return;
    this.logBytes += entry.payload.length + entry.reply.length;
    if (this.log.length >= this.bounds.maxLogEntries || this.logBytes > this.bounds.maxLogBytes) {
      this.replayable = false;
      this.log.length = 0;
      return;
    }
    this.log.push(entry);
  }
}
