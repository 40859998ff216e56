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

import type { Node } from './node.js';

// sorted-btree is CommonJS: from ESM its class is the `default` property.
const BTree = btree.default;
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
