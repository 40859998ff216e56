/**
 * The data operations of the protocol (READ, WRITE, MKDIR, RM, DIRECTORY,
 * DIRECTORY_PART, GET_PERMS, SET_PERMS) on a TreeState. Pure: no I/O, no clock;
 * every failure is an XsError with Xen's errno.
 */
import { XsError } from '../protocol/errno.js';
import { PAYLOAD_MAX } from '../protocol/limits.js';
import { childCount, childGet, childNodes, type Children } from './children.js';
import { EMPTY_VALUE, makeNode, withPerms, withValue, type Node } from './node.js';
import { relativeTo, type NodePath } from './path.js';
import { canRead, canWrite, inheritPerms, isOwner, ownerOf, type Perms } from './perms.js';
import type { OpContext } from './state.js';
import { lookup, modify, putChild } from './tree.js';

/** Deepest existing node on the path and its depth. */
function deepest(root: Node, comps: readonly string[]): { node: Node; depth: number } {
  let node = root;
  let depth = 0;
  for (; depth < comps.length; depth++) {
    const c = childGet(node.children, comps[depth]!);
    if (c === undefined) break;
    node = c;
  }
  return { node, depth };
}

/** ENOENT, or EACCES when an unprivileged caller could not even read the nearest existing parent. */
function missing(ctx: OpContext, nearest: Node): XsError {
  return canRead(nearest.perms, ctx.caller) ? new XsError('ENOENT') : new XsError('EACCES');
}

/** The readable node at `p`; records the access. */
function readable(ctx: OpContext, p: NodePath): Node {
  const { node, depth } = deepest(ctx.state.root, p.comps);
  ctx.state.touch(p.comps, p.comps.length);
  if (depth < p.comps.length) throw missing(ctx, node);
  if (!canRead(node.perms, ctx.caller)) throw new XsError('EACCES');
  return node;
}

export function read(ctx: OpContext, p: NodePath): Buffer {
  return readable(ctx, p).value;
}

export function getPerms(ctx: OpContext, p: NodePath): Perms {
  return readable(ctx, p).perms;
}

export function exists(ctx: OpContext, p: NodePath): boolean {
  return lookup(ctx.state.root, p.comps) !== undefined;
}

const listCache = new WeakMap<Children, Buffer>();

/** Children's names, each NUL-terminated, cached per (immutable) child list. */
function encodedNames(children: Children): Buffer {
  let b = listCache.get(children);
  if (b === undefined) {
    const names: string[] = [];
    let n = 0;
    for (const c of childNodes(children)) {
      names.push(c.name);
      n += c.name.length + 1;
    }
    b = Buffer.allocUnsafe(n);
    let o = 0;
    for (const name of names) {
      o += b.write(name, o, 'latin1');
      b[o++] = 0;
    }
    listCache.set(children, b);
  }
  return b;
}

export function directory(ctx: OpContext, p: NodePath): Buffer {
  const node = readable(ctx, p);
  if (childCount(node.children) === 0) return EMPTY_VALUE;
  const b = encodedNames(node.children);
  if (b.length > PAYLOAD_MAX) throw new XsError('E2BIG', 'child list too long: use DIRECTORY_PART');
  return b;
}

/**
 * DIRECTORY_PART: "<gen>\0" then whole child names starting at byte `offset` of
 * the full list, as many as fit; an extra "\0" marks that the list ended.
 */
export function directoryPart(ctx: OpContext, p: NodePath, offset: number): Buffer {
  const node = readable(ctx, p);
  const all = encodedNames(node.children);
  const head = `${node.gen}\0`;
  if (offset > all.length) throw new XsError('EINVAL', 'offset past the end of the list');
  const room = PAYLOAD_MAX - head.length - 1;
  let end = offset;
  while (end < all.length) {
    const nul = all.indexOf(0, end);
    if (nul + 1 - offset > room) break;
    end = nul + 1;
  }
  const done = end === all.length;
  const out = Buffer.allocUnsafe(head.length + (end - offset) + (done ? 1 : 0));
  out.write(head, 0, 'latin1');
  all.copy(out, head.length, offset, end);
  if (done) out[out.length - 1] = 0;
  return out;
}

function checkCreate(ctx: OpContext, p: NodePath, owner: number, count: number): void {
  const l = ctx.limits;
  if (l === undefined) return;
  if (relativeTo(p.abs, ctx.home).length > l.pathMax) throw new XsError('E2BIG', 'path longer than the path-max quota');
  if (ctx.state.usage(owner) + count > l.nodes) throw new XsError('ENOSPC', `domain ${owner} is at its node quota`);
}

/** Creates the missing nodes of `p` below the existing `parent` at `depth`; the leaf gets `value`. */
function create(ctx: OpContext, p: NodePath, parent: Node, depth: number, value: Buffer): void {
  const { state, caller } = ctx;
  // Touch first: even a refusal depends on what the transaction saw here (the
  // parent's perms are covered by the merge's ancestor check).
  state.touch(p.comps, depth + 1);
  if (!canWrite(parent.perms, caller)) throw new XsError('EACCES');
  const perms = inheritPerms(parent.perms, caller);
  const count = p.comps.length - depth;
  checkCreate(ctx, p, ownerOf(perms), count);
  const gen = state.nextGen();
  let top = makeNode(p.comps[p.comps.length - 1]!, value, perms, gen);
  state.account(undefined, top);
  for (let i = p.comps.length - 2; i >= depth; i--) {
    top = makeNode(p.comps[i]!, EMPTY_VALUE, perms, gen, [top]);
    state.account(undefined, top);
  }
  state.root = putChild(state.root, p.comps, depth + 1, top, gen);
  state.changed({ path: p, perms, removed: false });
}

export function write(ctx: OpContext, p: NodePath, value: Buffer): void {
  const { state, caller, limits } = ctx;
  if (limits !== undefined && value.length > limits.nodeSize) throw new XsError('E2BIG', 'value larger than the node-size quota');
  const { node, depth } = deepest(state.root, p.comps);
  if (depth < p.comps.length) return create(ctx, p, node, depth, value);
  state.touch(p.comps, depth);
  if (!canWrite(node.perms, caller)) throw new XsError('EACCES');
  const neu = withValue(node, value, state.nextGen());
  if (neu !== node) {
    state.account(node, neu);
    state.root = modify(state.root, p.comps, depth, () => neu);
  }
  state.changed({ path: p, perms: node.perms, removed: false });
}

export function mkdir(ctx: OpContext, p: NodePath): void {
  const { node, depth } = deepest(ctx.state.root, p.comps);
  if (depth < p.comps.length) return create(ctx, p, node, depth, EMPTY_VALUE);
  ctx.state.touch(p.comps, depth);
  if (!canWrite(node.perms, ctx.caller)) throw new XsError('EACCES');
}

/** Calls f on every node of the subtree (iteratively). */
export function forEachNode(n: Node, f: (n: Node) => void): void {
  const stack: Node[] = [n];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    f(cur);
    for (const c of childNodes(cur.children)) stack.push(c);
  }
}

export function rm(ctx: OpContext, p: NodePath): void {
  const { state, caller } = ctx;
  if (p.comps.length === 0) throw new XsError('EINVAL', 'cannot remove the root');
  const { node, depth } = deepest(state.root, p.comps);
  state.touch(p.comps, p.comps.length);
  if (depth < p.comps.length - 1) throw missing(ctx, node);
  if (depth === p.comps.length - 1) {
    // Absent, parent present: nothing to do; as for any missing node, a caller
    // who cannot read the parent is told EACCES rather than learning anything.
    if (!canRead(node.perms, caller)) throw new XsError('EACCES');
    return;
  }
  if (!canWrite(node.perms, caller)) throw new XsError('EACCES');
  forEachNode(node, (n) => state.account(n, undefined));
  state.root = putChild(state.root, p.comps, depth, undefined, state.nextGen());
  state.changed({ path: p, perms: node.perms, removed: true, old: node });
}

export function setPerms(ctx: OpContext, p: NodePath, perms: Perms): void {
  const { state, caller, limits } = ctx;
  if (limits !== undefined && perms.length > limits.nodePerms) throw new XsError('ENOSPC', 'more entries than the permissions quota');
  const { node, depth } = deepest(state.root, p.comps);
  state.touch(p.comps, p.comps.length);
  if (depth < p.comps.length) throw missing(ctx, node);
  if (!isOwner(node.perms, caller) || !canWrite(node.perms, caller)) throw new XsError('EACCES');
  if (!caller.privileged && ownerOf(perms) !== ownerOf(node.perms)) throw new XsError('EPERM', 'only dom0 may change the owner');
  const neu = withPerms(node, perms, state.nextGen());
  if (neu !== node) {
    if (limits !== undefined && ownerOf(perms) !== ownerOf(node.perms)) {
      if (state.usage(ownerOf(perms)) + 1 > limits.nodes) throw new XsError('ENOSPC');
    }
    // The root belongs to nobody's quota: only other nodes are counted.
    if (p.comps.length > 0) state.account(node, neu);
    state.root = modify(state.root, p.comps, depth, () => neu);
  }
  state.changed({ path: p, perms: neu.perms, removed: false });
}
