/**
 * Irmin-style history: the last N committed roots, each with who committed
 * it. Keeping a root costs only the nodes its successor replaced (the rest is
 * shared with its neighbours), so a thousand revisions of a large store cost
 * about a thousand commits' worth of nodes. That is still unbounded in bytes
 * when commits are large (a guest may rewrite a thousand 2 KiB nodes in one
 * transaction), so retention has two bounds: a number of revisions and an
 * estimate of the bytes only old revisions hold (store/cost.ts); the oldest
 * revisions go first. Pure: the caller supplies times.
 */
import { replacedBytes } from './cost.js';
import type { Node } from './node.js';
import { lookup } from './tree.js';

export interface CommitInfo {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly domid: number;
  /** Connection id (0 for the daemon itself). */
  readonly conn: number;
  /** Transaction id, 0 for a single request. */
  readonly txId: number;
  /** What made the commit: a request name or an event ("RELEASE 5"). */
  readonly op: string;
  /** For a transaction: the revision it started from. */
  readonly baseRev?: number;
}

export interface Revision extends CommitInfo {
  readonly rev: number;
  readonly root: Node;
}

export class History {
  /** A ring: revision r lives at slot r % capacity while retained. */
  private readonly slots: Array<Revision | undefined>;
  /** held[r % capacity]: bytes that revision r - 1 alone keeps alive because r replaced them. */
  private readonly held: number[];
  private readonly capacity: number;
  private next = 0;
  private first = 0;
  private heldTotal = 0;

  /**
   * @param limit revisions kept (at least the newest is always kept)
   * @param byteLimit estimated bytes the revisions before the newest may hold
   */
  constructor(
    readonly limit: number,
    initial: Node,
    time: number,
    readonly byteLimit: number = Infinity,
  ) {
    this.capacity = Math.max(1, limit);
    this.slots = new Array<Revision | undefined>(this.capacity);
    this.held = new Array<number>(this.capacity).fill(0);
    this.push({ time, domid: 0, conn: 0, txId: 0, op: 'start' }, initial, 0);
  }

  private push(info: CommitInfo, root: Node, held: number): Revision {
    const r: Revision = { time: info.time, domid: info.domid, conn: info.conn, txId: info.txId, op: info.op, baseRev: info.baseRev, rev: this.next++, root };
    // When the ring is full this overwrites the oldest revision, which is
    // dropped just below (the oldest always holds nothing: see dropOldest).
    this.slots[r.rev % this.capacity] = r;
    this.held[r.rev % this.capacity] = held;
    this.heldTotal += held;
    while (this.next - this.first > this.capacity || (this.heldTotal > this.byteLimit && this.first < r.rev)) this.dropOldest();
    return r;
  }

  /** Forgets the oldest revision: what only it held is freed. */
  private dropOldest(): void {
    // Let go of its root (unless a newer revision already took the slot).
    const slot = this.first % this.capacity;
    if (this.slots[slot]?.rev === this.first) this.slots[slot] = undefined;
    this.first++;
    // The new oldest revision's predecessor is gone: nothing is held for it any more.
    this.heldTotal -= this.held[this.first % this.capacity]!;
    this.held[this.first % this.capacity] = 0;
  }

  /**
   * Forgets every revision after `rev` (their commits were undone; `root`
   * is revision `rev`'s). If `rev` itself was already dropped, the history
   * starts again from it.
   */
  rollback(rev: number, root: Node, time: number): void {
    if (rev >= this.head) return;
    if (rev < this.first) {
      this.slots.fill(undefined);
      this.held.fill(0);
      this.first = rev;
      this.next = rev;
      this.heldTotal = 0;
      this.push({ time, domid: 0, conn: 0, txId: 0, op: 'start' }, root, 0);
      return;
    }
    for (let r = rev + 1; r < this.next; r++) {
      this.heldTotal -= this.held[r % this.capacity]!;
      this.held[r % this.capacity] = 0;
      this.slots[r % this.capacity] = undefined;
    }
    this.next = rev + 1;
  }

  /**
   * Records `root` as the newest revision, committed as `info` says, from
   * `before`; `within`: a path below which every change from `before` lies,
   * if known. (If the store moved without a revision, e.g. was reloaded, the
   * newest revision is not `before` and the difference is searched for whole.)
   */
  record(info: CommitInfo, root: Node, before?: Node, within?: readonly string[]): Revision {
    const head = this.get(this.head)!.root;
    return this.push(info, root, replacedBytes(head, root, head === before ? within : undefined));
  }

  /** Estimated bytes held by the revisions before the newest. */
  get heldBytes(): number {
    return this.heldTotal;
  }

  /** heldBytes computed afresh by diffing every retained pair (a check: it must agree). */
  recountHeldBytes(): number {
    let total = 0;
    for (let r = this.first + 1; r < this.next; r++) total += replacedBytes(this.get(r - 1)!.root, this.get(r)!.root);
    return total;
  }

  /** The newest revision number. */
  get head(): number {
    return this.next - 1;
  }

  get oldest(): number {
    return this.first;
  }

  get(rev: number): Revision | undefined {
    if (rev < this.first || rev >= this.next) return undefined;
    return this.slots[rev % this.capacity];
  }

  /** Retained revisions, oldest first. */
  all(): Revision[] {
    const out: Revision[] = [];
    for (let r = this.oldest; r < this.next; r++) out.push(this.get(r)!);
    return out;
  }

  /**
   * Revisions (newest first) in which the subtree at `comps` changed: O(path
   * length) per revision, because an unchanged subtree is the same object.
   */
  touching(comps: readonly string[]): Revision[] {
    const out: Revision[] = [];
    for (let rev = this.head; rev > this.oldest; rev--) {
      const r = this.get(rev)!;
      if (lookup(r.root, comps) !== lookup(this.get(rev - 1)!.root, comps)) out.push(r);
    }
    return out;
  }

  /** The first revision after `since` that changed the subtree at `comps` (conflict blame). */
  firstChangeAfter(since: number, comps: readonly string[]): Revision | undefined {
    for (let rev = since + 1; rev <= this.head; rev++) {
      const prev = this.get(rev - 1);
      const cur = this.get(rev);
      if (prev === undefined || cur === undefined) continue;
      if (lookup(cur.root, comps) !== lookup(prev.root, comps)) return cur;
    }
    return undefined;
  }
}
