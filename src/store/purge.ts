/**
 * Forgetting a domain (RELEASE or its death): every node it owns is removed
 * with its subtree, and it is struck from every other node's permissions, so
 * that a new domain reusing the id inherits nothing (the XSA-322 class).
 * Untouched subtrees keep their identity; the walk is O(store size).
 */
import { childNodes, childRemove, childSet, type Children } from './children.js';
import { withChildren, withPerms, type Node } from './node.js';
import { forEachNode } from './ops.js';
import { pathOf } from './path.js';
import { ownerOf, withoutDomain } from './perms.js';
import type { TreeState } from './state.js';

export function purgeDomain(state: TreeState, domid: number, keepOwned: boolean): void {
  const gen = state.nextGen();
  const comps: string[] = [];

  const visit = (node: Node): Node | undefined => {
    if (comps.length > 0 && !keepOwned && ownerOf(node.perms) === domid) {
      forEachNode(node, (n) => state.account(n, undefined));
      state.changed({ path: pathOf(comps.slice()), perms: node.perms, removed: true, old: node });
      return undefined;
    }
    let out = node;
    const perms = withoutDomain(node.perms, domid);
    if (perms !== node.perms) {
      out = withPerms(node, perms, gen);
      if (comps.length > 0) state.account(node, out); // the root is nobody's node
      state.changed({ path: pathOf(comps.slice()), perms, removed: false });
    }
    let children: Children = out.children;
    let namesChanged = false;
    for (const child of [...childNodes(node.children)]) {
      comps.push(child.name);
      const next = visit(child);
      comps.pop();
      if (next === child) continue;
      if (next === undefined) {
        children = childRemove(children, child.name);
        namesChanged = true;
      } else {
        children = childSet(children, next);
      }
    }
    return children === out.children ? out : withChildren(out, children, namesChanged ? gen : out.gen);
  };

  const root = visit(state.root);
  state.root = root ?? state.root;
}

/** True if any node of the tree names `domid` (owner or ACL). For checks and tests. */
export function mentionsDomain(root: Node, domid: number): boolean {
  let found = false;
  forEachNode(root, (n) => {
    if (n.perms.some((p) => p.domid === domid)) found = true;
  });
  return found;
}

