/**
 * Irmin-style history: the last N committed roots, each with who committed
 * it. Keeping a root costs only the nodes that commit changed (the rest is
 * shared with its neighbours), so a thousand revisions of a large store cost
 * about a thousand commits' worth of nodes. Pure: the caller supplies times.
 */
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
  private readonly capacity: number;
  private next = 0;
  private first = 0;

  constructor(
    readonly limit: number,
    initial: Node,
    time: number,
  ) {
    this.capacity = Math.max(1, limit);
    this.slots = new Array<Revision | undefined>(this.capacity);
    this.push({ time, domid: 0, conn: 0, txId: 0, op: 'start' }, initial);
  }

  private push(info: CommitInfo, root: Node): Revision {
    const r: Revision = { time: info.time, domid: info.domid, conn: info.conn, txId: info.txId, op: info.op, baseRev: info.baseRev, rev: this.next++, root };
    this.slots[r.rev % this.capacity] = r;
    if (this.next - this.first > this.capacity) this.first = this.next - this.capacity;
    return r;
  }

  /** Forgets every revision after `rev` (their commits were undone). */
  rollback(rev: number): void {
    if (rev >= this.head || rev < this.first) return;
    // The undone revisions overwrote the slots of the oldest ones.
    this.first = Math.max(this.first, this.next - this.capacity);
    this.next = rev + 1;
  }

  record(info: CommitInfo, root: Node): Revision {
    return this.push(info, root);
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
