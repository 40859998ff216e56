/**
 * What a node costs in memory, as an estimate good enough to bound what old
 * revisions keep alive. A node object, its permission list and its slot in
 * its parent's child list take about NODE_OVERHEAD bytes on V8 (the scale
 * benchmark measures ~520 B per node for a whole store, child lists and
 * B+ tree blocks included); its name and value come on top.
 */
import { childDiff, childGet, childNodes } from './children.js';
import { commonPrefixLength } from './path.js';
import type { Change } from './state.js';
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
 *
 * `within`: a path below which every difference lies (the caller knows it:
 * the path a request changed, a transaction's lowest path). Above it only the
 * spine is walked, so a write next to thousands of siblings costs O(depth),
 * not a diff of their child maps.
 */
export function replacedBytes(before: Node, after: Node | undefined, within: readonly string[] = []): number {
  let b: Node | undefined = before;
  let a = after;
  let total = 0;
  for (const name of within) {
    if (b === undefined || b === a) return total;
    if (a === undefined) return total + subtreeBytes(b);
    total += spineBytes(b, a);
    b = childGet(b.children, name);
    a = childGet(a.children, name);
  }
  return b === undefined ? total : total + diffBytes(b, a);
}

/** A node replaced by `a`: itself, and its value unless `a` shares it. */
function spineBytes(b: Node, a: Node): number {
  return nodeBytes(b) - (b.value === a.value ? b.value.length : 0);
}

function diffBytes(before: Node, after: Node | undefined): number {
  if (before === after) return 0;
  if (after === undefined) return subtreeBytes(before);
  let total = spineBytes(before, after);
  childDiff(before.children, after.children, (_name, was, now) => {
    if (was !== undefined) total += diffBytes(was, now);
  });
  return total;
}

/** The lowest path holding every change of a list (the root if the list is empty). */
export function changeScope(changes: readonly Change[]): readonly string[] {
  let scope: readonly string[] | undefined;
  for (const c of changes) {
    if (scope === undefined) {
      scope = c.path.comps;
      continue;
    }
    const k = commonPrefixLength(scope, c.path.comps);
    if (k === 0) return [];
    if (k < scope.length) scope = scope.slice(0, k);
  }
  return scope ?? [];
}
