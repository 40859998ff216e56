/**
 * Path operations on immutable trees: look up, and rebuild the spine from the
 * root down to one node (path copying). Everything off the spine is shared.
 */
import { childGet, childRemove, childSet } from './children.js';
import { withChildren, type Node } from './node.js';

/** The node at `comps` (first `depth` components), or undefined. */
export function lookup(root: Node, comps: readonly string[], depth: number = comps.length): Node | undefined {
  let n: Node | undefined = root;
  for (let i = 0; i < depth && n !== undefined; i++) n = childGet(n.children, comps[i]!);
  return n;
}

/**
 * Returns a root in which the node at `comps[0..depth)` is replaced by `f(node)`.
 * The node must exist. If `f` returns its argument, the same root comes back.
 */
export function modify(root: Node, comps: readonly string[], depth: number, f: (n: Node) => Node): Node {
  const spine: Node[] = [];
  let n: Node = root;
  for (let i = 0; i < depth; i++) {
    spine.push(n);
    const c = childGet(n.children, comps[i]!);
    if (c === undefined) throw new Error(`modify: no node at component ${i} of /${comps.join('/')}`);
    n = c;
  }
  let cur = f(n);
  if (cur === n) return root;
  for (let i = depth - 1; i >= 0; i--) {
    const parent = spine[i]!;
    cur = withChildren(parent, childSet(parent.children, cur));
  }
  return cur;
}

/**
 * Sets (or with `child` undefined, removes) the child `comps[depth-1]` of the
 * node at `comps[0..depth-1)`, which must exist. Adding or removing a name bumps
 * the parent's generation to `gen`; replacing a child in place does not.
 */
export function putChild(root: Node, comps: readonly string[], depth: number, child: Node | undefined, gen: number): Node {
  const name = comps[depth - 1]!;
  return modify(root, comps, depth - 1, (parent) => {
    const old = childGet(parent.children, name);
    if (child === undefined) return old === undefined ? parent : withChildren(parent, childRemove(parent.children, name), gen);
    if (old === child) return parent;
    return withChildren(parent, childSet(parent.children, child), old === undefined ? gen : parent.gen);
  });
}
