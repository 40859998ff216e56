/**
 * What a node costs in memory, as an estimate good enough to bound what old
 * revisions keep alive. A node object, its permission list and its slot in
 * its parent's child list take about NODE_OVERHEAD bytes on V8 (the scale
 * benchmark measures ~520 B per node for a whole store, child lists and
 * B+ tree blocks included); its name and value come on top.
 */
import { childDiff, childNodes } from './children.js';
import type { Node } from './node.js';

export const NODE_OVERHEAD = 256;

/** One node, its value included. */
export function nodeBytes(n: Node): number {
  return NODE_OVERHEAD + n.name.length + n.value.length;
}

/** The whole subtree at `n` (iterative: trees can be deep). */
export function subtreeBytes(n: Node): number {
  let total = 0;
  const stack: Node[] = [n];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    total += nodeBytes(cur);
    for (const c of childNodes(cur.children)) stack.push(c);
  }
  return total;
}

/**
 * The bytes held by `before` and no longer by `after`: what keeping `before`
 * alive costs once `after` has replaced it. Subtrees that are the same object
 * cost nothing, so this follows the size of the change, not of the store. A
 * node replaced only for its children or permissions still shares its value
 * Buffer with its successor: the value is not counted then.
 */
export function replacedBytes(before: Node, after: Node | undefined): number {
  if (before === after) return 0;
  if (after === undefined) return subtreeBytes(before);
  let total = nodeBytes(before) - (before.value === after.value ? before.value.length : 0);
  childDiff(before.children, after.children, (_name, was, now) => {
    if (was !== undefined) total += replacedBytes(was, now);
  });
  return total;
}
