/**
 * The immutable node. Updates build a new node; an update that changes nothing
 * returns the very same object, which is what transaction merging relies on.
 */
import { childCount, childNodes, NO_CHILDREN, type Children } from './children.js';
import { DEFAULT_PERMS, permsEqual, type Perms } from './perms.js';

export interface Node {
  readonly name: string;
  /** Binary-safe value. Never mutated once stored. */
  readonly value: Buffer;
  readonly perms: Perms;
  readonly children: Children;
  /**
   * Generation: bumped when this node's value, perms or child list changes
   * (not when a descendant further down changes). DIRECTORY_PART reports it.
   */
  readonly gen: number;
}

export const EMPTY_VALUE: Buffer = Buffer.alloc(0);

export function makeNode(name: string, value: Buffer, perms: Perms, gen: number, children: Children = NO_CHILDREN): Node {
  return { name, value, perms, children, gen };
}

export function emptyRoot(): Node {
  return makeNode('', EMPTY_VALUE, DEFAULT_PERMS, 0);
}

/** Byte equality; short values (most of a store's) compared here rather than by a call into C++. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  if (a.length > 64) return a.equals(b);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function withValue(n: Node, value: Buffer, gen: number): Node {
  if (n.value === value || sameBytes(n.value, value)) return n;
  return { name: n.name, value, perms: n.perms, children: n.children, gen };
}

export function withPerms(n: Node, perms: Perms, gen: number): Node {
  if (permsEqual(n.perms, perms)) return n;
  return { name: n.name, value: n.value, perms, children: n.children, gen };
}

/** Replaces the child list. `gen` is given when the set of names changed. */
export function withChildren(n: Node, children: Children, gen: number = n.gen): Node {
  if (n.children === children) return n;
  return { name: n.name, value: n.value, perms: n.perms, children, gen };
}

export function hasChildren(n: Node): boolean {
  return childCount(n.children) > 0;
}

/** Number of nodes in the subtree rooted at `n` (iterative: trees can be deep). */
export function subtreeSize(n: Node): number {
  let count = 0;
  const stack: Node[] = [n];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    count++;
    for (const c of childNodes(cur.children)) stack.push(c);
  }
  return count;
}
