/**
 * Which watches hear a change. Node watches sit in a trie of path components,
 * so a change at depth d visits at most d+1 trie nodes (its ancestors), plus,
 * for a removal, the watches below the removed node. Special watches
 * (@introduceDomain, @releaseDomain, any other @name) are keyed by name.
 */
import type { Caller } from '../store/perms.js';

export interface WatchOwner {
  readonly caller: Caller;
  /** The owner's home, /local/domain/<domid>, against which relative paths resolve. */
  readonly home: string;
}

export interface Watch {
  readonly owner: WatchOwner;
  /** The path exactly as registered (relative, absolute, or @special). */
  readonly path: string;
  readonly token: string;
  /** Absolute components for node watches; undefined for special watches. */
  readonly comps: readonly string[] | undefined;
  /** Deepest level below `path` that still fires (WATCH's optional depth); undefined: unlimited. */
  readonly depth: number | undefined;
  readonly relative: boolean;
}

class TrieNode<W extends Watch> {
  readonly watches: W[] = [];
  readonly kids = new Map<string, TrieNode<W>>();
}

export class WatchIndex<W extends Watch = Watch> {
  private readonly root = new TrieNode<W>();
  private readonly special = new Map<string, W[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: W): void {
    this.count++;
    if (w.comps === undefined) {
      const list = this.special.get(w.path);
      if (list === undefined) this.special.set(w.path, [w]);
      else list.push(w);
      return;
    }
    let n = this.root;
    for (const c of w.comps) {
      let k = n.kids.get(c);
      if (k === undefined) {
        k = new TrieNode();
        n.kids.set(c, k);
      }
      n = k;
    }
    n.watches.push(w);
  }

  remove(w: W): void {
    if (w.comps === undefined) {
      const list = this.special.get(w.path);
      if (list !== undefined && removeFrom(list, w)) {
        this.count--;
        if (list.length === 0) this.special.delete(w.path);
      }
      return;
    }
    const trail: Array<TrieNode<W>> = [this.root];
    let n = this.root;
    for (const c of w.comps) {
      const k = n.kids.get(c);
      if (k === undefined) return;
      trail.push(k);
      n = k;
    }
    if (!removeFrom(n.watches, w)) return;
    this.count--;
    // Prune trie nodes that hold nothing any more.
    for (let i = w.comps.length; i > 0; i--) {
      const node = trail[i]!;
      if (node.watches.length > 0 || node.kids.size > 0) break;
      trail[i - 1]!.kids.delete(w.comps[i - 1]!);
    }
  }

  /**
   * Calls `visit` for each watch that a change at `comps` fires. Watches on the
   * path or above it get the changed path; if `removed`, watches below it get
   * their own path (the spec's rule for recursive removal).
   */
  match(comps: readonly string[], removed: boolean, visit: (w: W, below: boolean) => void): void {
    let n: TrieNode<W> | undefined = this.root;
    for (let d = 0; ; d++) {
      for (const w of n.watches) {
        if (w.depth === undefined || comps.length - d <= w.depth) visit(w, false);
      }
      if (d === comps.length) break;
      n = n.kids.get(comps[d]!);
      if (n === undefined) return;
    }
    if (!removed) return;
    const stack: Array<TrieNode<W>> = [...n.kids.values()];
    while (stack.length > 0) {
      const k = stack.pop()!;
      for (const w of k.watches) visit(w, true);
      for (const c of k.kids.values()) stack.push(c);
    }
  }

  matchSpecial(name: string): readonly W[] {
    return this.special.get(name) ?? [];
  }
}

function removeFrom<W>(list: W[], w: W): boolean {
  const i = list.indexOf(w);
  if (i < 0) return false;
  list.splice(i, 1);
  return true;
}
