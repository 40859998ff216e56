/**
 * What the store operations need from whoever owns the tree they work on: the
 * live store (direct requests) or a transaction (its private root). Ops read
 * and replace `root`, report accounting, accesses and changes through this.
 */
import type { NodePath } from './path.js';
import type { Node } from './node.js';
import type { Caller, Perms } from './perms.js';

/** One modification, for watches: the path changed and the perms that decide who may hear of it. */
export interface Change {
  readonly path: NodePath;
  readonly perms: Perms;
  /** The node and everything below it were removed. */
  readonly removed: boolean;
  /**
   * For a removal: the node as it was, with its subtree, so that watchers
   * below it hear only of nodes that existed (and may be read by them).
   */
  readonly old?: Node;
}

export interface TreeState {
  root: Node;
  /** Nodes currently owned by `domid` as seen from this state. */
  usage(domid: number): number;
  /** Accounts one node replaced (old→neu), created (undefined→neu) or removed (old→undefined). */
  account(old: Node | undefined, neu: Node | undefined): void;
  /** A fresh generation number. */
  nextGen(): number;
  /** The operation read or wrote the subtree at comps[0..depth). */
  touch(comps: readonly string[], depth: number): void;
  changed(c: Change): void;
}

/** Per-caller limits; undefined for privileged callers, which Xen exempts. */
export interface Limits {
  readonly nodes: number;
  readonly nodeSize: number;
  readonly nodePerms: number;
  readonly pathMax: number;
}

export interface OpContext {
  readonly state: TreeState;
  readonly caller: Caller;
  readonly limits: Limits | undefined;
  /** Home of the caller, for path-length limits relative to it. */
  readonly home: string;
}
