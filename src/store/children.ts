/**
 * A node's children: a persistent map from name to child node, iterated in
 * name order. Small lists (most nodes) are sorted arrays, never mutated once
 * built (not frozen: that would cost every update), searched by
 * bisection; past SMALL_MAX entries a persistent B+ tree (sorted-btree, whose
 * with/without share unchanged blocks) keeps updates O(log n) so that a
 * directory such as /local/domain with thousands of guests stays cheap.
 * Every update returns a new value and leaves the old one intact.
 */
import btree from 'sorted-btree';
import diffAgainstModule from 'sorted-btree/extended/diffAgainst.js';

import type { Node } from './node.js';

// sorted-btree is CommonJS: from ESM its class is the `default` property.
const BTree = btree.default;
const diffAgainst = diffAgainstModule.default;
type Big = InstanceType<typeof BTree<string, Node>>;

export type Children = readonly Node[] | Big;

export const SMALL_MAX = 32;
export const NO_CHILDREN: Children = Object.freeze([]) as readonly Node[];

function isSmall(c: Children): c is readonly Node[] {
  return Array.isArray(c);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of `name` in a sorted array, or -(insertion point) - 1. */
function bisect(a: readonly Node[], name: string): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = a[mid]!.name;
    if (m < name) lo = mid + 1;
    else if (m > name) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

export function childCount(c: Children): number {
  return isSmall(c) ? c.length : c.size;
}

export function childGet(c: Children, name: string): Node | undefined {
  if (isSmall(c)) {
    const i = bisect(c, name);
    return i >= 0 ? c[i] : undefined;
  }
  return c.get(name);
}

/** Adds or replaces the child named `child.name`. */
export function childSet(c: Children, child: Node): Children {
  if (isSmall(c)) {
    const i = bisect(c, child.name);
    if (i >= 0) {
      if (c[i] === child) return c;
      const copy = c.slice();
      copy[i] = child;
      return copy;
    }
    const at = -i - 1;
    if (c.length < SMALL_MAX) {
      const copy = c.slice();
      copy.splice(at, 0, child);
      return copy;
    }
    const big = new BTree<string, Node>(c.map((n) => [n.name, n] as [string, Node]), cmp);
    big.set(child.name, child);
    return big;
  }
  if (c.get(child.name) === child) return c;
  return c.with(child.name, child, true);
}

export function childRemove(c: Children, name: string): Children {
  if (isSmall(c)) {
    const i = bisect(c, name);
    if (i < 0) return c;
    const copy = c.slice();
    copy.splice(i, 1);
    return copy;
  }
  if (!c.has(name)) return c;
  const next = c.without(name);
  return next.size <= SMALL_MAX / 2 ? Array.from(next.values()) : next;
}

export function childNodes(c: Children): Iterable<Node> {
  return isSmall(c) ? c : c.values();
}

/**
 * Calls `visit(name, before, after)` for every name whose child in `a` is not
 * the very same object as in `b` (`undefined` where a side has none), in name
 * order. Two B+ trees are compared by sorted-btree's diff, which skips the
 * blocks they share: the cost follows the difference, not the directory size.
 */
export function childDiff(a: Children, b: Children, visit: (name: string, before: Node | undefined, after: Node | undefined) => void): void {
  if (a === b) return;
  if (isSmall(a) && isSmall(b)) {
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const x = a[i];
      const y = b[j];
      if (y === undefined || (x !== undefined && x.name < y.name)) {
        visit(x!.name, x, undefined);
        i++;
      } else if (x === undefined || y.name < x.name) {
        visit(y.name, undefined, y);
        j++;
      } else {
        if (x !== y) visit(x.name, x, y);
        i++;
        j++;
      }
    }
    return;
  }
  if (!isSmall(a) && !isSmall(b)) {
    // diffAgainst does not report in key order: collect, then sort.
    const found: Array<[string, Node | undefined, Node | undefined]> = [];
    diffAgainst(
      a,
      b,
      (name, x) => void found.push([name, x, undefined]),
      (name, y) => void found.push([name, undefined, y]),
      (name, x, y) => void found.push([name, x, y]),
    );
    found.sort((p, q) => cmp(p[0], q[0]));
    for (const [name, x, y] of found) visit(name, x, y);
    return;
  }
  // One list and one tree: only around the switch between the two forms.
  const names = new Set<string>();
  for (const n of childNodes(a)) names.add(n.name);
  for (const n of childNodes(b)) names.add(n.name);
  for (const name of [...names].sort(cmp)) {
    const x = childGet(a, name);
    const y = childGet(b, name);
    if (x !== y) visit(name, x, y);
  }
}
