/**
 * The size of a tree (its nodes, and the bytes of their names and values),
 * remembered per node object. Trees are immutable and share unchanged
 * subtrees, so after a commit only the nodes on changed paths are new: the
 * size of a new root costs the new nodes and their direct children, not the
 * whole tree. (The first call on a tree walks it once.)
 */
import { childNodes } from './children.js';
import type { Node } from './node.js';

export interface TreeSize {
  readonly nodes: number;
  readonly bytes: number;
}

const memo = new WeakMap<Node, TreeSize>();

export function treeSize(root: Node): TreeSize {
  const known = memo.get(root);
  if (known !== undefined) return known;
  // Iterative post-order, so that a deep tree cannot overflow the stack.
  const stack: Array<{ node: Node; expanded: boolean }> = [{ node: root, expanded: false }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (memo.has(top.node)) {
      stack.pop();
      continue;
    }
    if (!top.expanded) {
      top.expanded = true;
      for (const c of childNodes(top.node.children)) if (!memo.has(c)) stack.push({ node: c, expanded: false });
      continue;
    }
    stack.pop();
    let nodes = 1;
    let bytes = top.node.name.length + top.node.value.length;
    for (const c of childNodes(top.node.children)) {
      const s = memo.get(c)!;
      nodes += s.nodes;
      bytes += s.bytes;
    }
    memo.set(top.node, { nodes, bytes });
  }
  return memo.get(root)!;
}
