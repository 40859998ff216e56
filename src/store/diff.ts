/**
 * What changed between two roots, found by identity: subtrees that are the
 * same object are skipped, so the cost is proportional to what changed, not
 * to the size of the store. The result lists, parents first, every node whose
 * own value or permissions differ or that appeared (with its whole new
 * subtree) and every node that disappeared (once, for its subtree).
 * Durability logs it, history shows it, Git export commits it.
 */
import { childDiff, childGet, childNodes } from './children.js';
import { EMPTY_VALUE, makeNode, withPerms, withValue, type Node } from './node.js';
import { permsEqual, type Perms } from './perms.js';
import { putChild } from './tree.js';

export type NodeChange =
  | { readonly kind: 'set'; readonly path: string; readonly value: Buffer; readonly perms: Perms }
  | { readonly kind: 'delete'; readonly path: string };

const join = (base: string, name: string): string => (base === '/' ? `/${name}` : `${base}/${name}`);

function emitSubtree(n: Node, path: string, out: NodeChange[]): void {
  const stack: Array<[Node, string]> = [[n, path]];
  while (stack.length > 0) {
    const [cur, p] = stack.pop()!;
    out.push({ kind: 'set', path: p, value: cur.value, perms: cur.perms });
    // Children pushed in reverse so they come out in name order, parents first.
    const kids = [...childNodes(cur.children)];
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i]!, join(p, kids[i]!.name)]);
  }
}

export function diffTrees(a: Node, b: Node, path = '/'): NodeChange[] {
  const out: NodeChange[] = [];
  const walk = (x: Node, y: Node, p: string): void => {
    if (x === y) return;
    if (x.value !== y.value && !x.value.equals(y.value)) out.push({ kind: 'set', path: p, value: y.value, perms: y.perms });
    else if (!permsEqual(x.perms, y.perms)) out.push({ kind: 'set', path: p, value: y.value, perms: y.perms });
    // Deletions first, then additions and changes, each in name order.
    const changed: Array<[Node | undefined, Node]> = [];
    childDiff(x.children, y.children, (name, was, now) => {
      if (now === undefined) out.push({ kind: 'delete', path: join(p, name) });
      else changed.push([was, now]);
    });
    for (const [was, now] of changed) {
      if (was === undefined) emitSubtree(now, join(p, now.name), out);
      else walk(was, now, join(p, now.name));
    }
  };
  walk(a, b, path);
  return out;
}

/**
 * diffTrees(a, b) when every difference is known to lie at or below `within`
 * (a request's path, a transaction's lowest path): above it only the spine is
 * followed, whose nodes changed in their child lists alone.
 */
export function diffTreesWithin(a: Node, b: Node, within: readonly string[]): NodeChange[] {
  let x = a;
  let y = b;
  for (let depth = 0; depth < within.length; depth++) {
    if (x === y) return [];
    const nx = childGet(x.children, within[depth]!);
    const ny = childGet(y.children, within[depth]!);
    if (nx === undefined || ny === undefined) {
      // Created or removed right here (or absent on both sides: nothing).
      const p = `/${within.slice(0, depth + 1).join('/')}`;
      if (ny === undefined) return nx === undefined ? [] : [{ kind: 'delete', path: p }];
      const out: NodeChange[] = [];
      emitSubtree(ny, p, out);
      return out;
    }
    x = nx;
    y = ny;
  }
  return diffTrees(x, y, within.length === 0 ? '/' : `/${within.join('/')}`);
}

function comps(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

/**
 * Applies changes (as produced by diffTrees, parents first) to `root`.
 * A set whose parent is missing is an error in the change list.
 */
export function applyChanges(root: Node, changes: readonly NodeChange[], gen: () => number): Node {
  let r = root;
  for (const ch of changes) {
    const cs = comps(ch.path);
    if (cs.length === 0) {
      if (ch.kind === 'set') r = withPerms(withValue(r, ch.value, gen()), ch.perms, gen());
      continue;
    }
    if (ch.kind === 'delete') {
      r = putChild(r, cs, cs.length, undefined, gen());
      continue;
    }
    let parent: Node | undefined = r;
    for (let i = 0; i < cs.length - 1 && parent !== undefined; i++) parent = childGet(parent.children, cs[i]!);
    if (parent === undefined) throw new Error(`change list sets ${ch.path} before its parent`);
    const old = childGet(parent.children, cs[cs.length - 1]!);
    const g = gen();
    const node = old === undefined ? makeNode(cs[cs.length - 1]!, ch.value.length === 0 ? EMPTY_VALUE : ch.value, ch.perms, g) : withPerms(withValue(old, ch.value, g), ch.perms, g);
    r = putChild(r, cs, cs.length, node, g);
  }
  return r;
}
