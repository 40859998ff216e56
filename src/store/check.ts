/**
 * Consistency check of a tree: names valid and sorted, perms non-empty, and
 * the node count per owner recomputed from scratch (to compare with the
 * running counts). Used by CONTROL check and by the tests' invariants.
 */
import { childNodes } from './children.js';
import type { Node } from './node.js';
import { ownerOf } from './perms.js';

const NAME = /^[A-Za-z0-9\-_@]+$/;

export interface TreeReport {
  readonly nodes: number;
  readonly counts: Map<number, number>;
  readonly problems: string[];
}

export function checkTree(root: Node): TreeReport {
  const counts = new Map<number, number>();
  const problems: string[] = [];
  let nodes = 0;
  const stack: Array<[Node, string]> = [[root, '']];
  while (stack.length > 0) {
    const [n, path] = stack.pop()!;
    nodes++;
    if (n.perms.length === 0) problems.push(`${path || '/'}: no permissions`);
    else if (path !== '') {
      const o = ownerOf(n.perms);
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    let prev: string | undefined;
    for (const c of childNodes(n.children)) {
      if (!NAME.test(c.name)) problems.push(`${path}/${c.name}: bad name`);
      if (prev !== undefined && prev >= c.name) problems.push(`${path || '/'}: children out of order at ${c.name}`);
      prev = c.name;
      stack.push([c, `${path}/${c.name}`]);
    }
  }
  return { nodes, counts, problems };
}

/** Differences between recounted and running per-owner counts. */
export function compareCounts(recount: ReadonlyMap<number, number>, running: ReadonlyMap<number, number>): string[] {
  const out: string[] = [];
  const ids = new Set([...recount.keys(), ...running.keys()]);
  for (const id of ids) {
    const a = recount.get(id) ?? 0;
    const b = running.get(id) ?? 0;
    if (a !== b) out.push(`domain ${id} owns ${a} nodes but is charged for ${b}`);
  }
  return out;
}
