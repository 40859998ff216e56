/**
 * T1 is taken at a transaction's first request, not at START: commits made
 * between START and the first request do not doom it (as in C xenstored,
 * which takes a node's generation at its first access). Once the
 * transaction has seen anything, T1 stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyRoot } from '../../src/store/node.js';
import { Store } from '../../src/store/store.js';
import { Transaction } from '../../src/txn/transaction.js';
import { commit } from '../../src/txn/merge.js';
import * as ops from '../../src/store/ops.js';
import { resolvePath } from '../../src/store/path.js';
import type { OpContext, TreeState } from '../../src/store/state.js';

const bounds = { maxNodes: undefined, maxLogEntries: 100, maxLogBytes: 1 << 20 };
const ctx = (state: TreeState): OpContext => ({ state, caller: { domid: 0, privileged: true, target: undefined }, limits: undefined, home: '/local/domain/0' });
const p = (s: string) => resolvePath(s, 0);

function store(): Store {
  const s = new Store(emptyRoot());
  ops.write(ctx(s), p('/counter'), Buffer.from('0'));
  s.takeChanges();
  return s;
}

test('a commit between START and the first request: the transaction reads the new value and commits', () => {
  const s = store();
  const t = new Transaction(1, s, bounds);
  ops.write(ctx(s), p('/counter'), Buffer.from('1'));
  assert.equal(t.refresh(), true);
  assert.equal(t.base, s.root);
  assert.equal(ops.read(ctx(t), p('/counter')).toString(), '1');
  ops.write(ctx(t), p('/counter'), Buffer.from('2'));
  const out = commit(s, t, 'strict', () => undefined);
  assert.equal(out.ok, true);
  assert.equal(ops.read(ctx(s), p('/counter')).toString(), '2');
});

test('once the transaction has read anything, T1 stays: a later commit is a conflict', () => {
  const s = store();
  const t = new Transaction(1, s, bounds);
  t.refresh();
  assert.equal(ops.read(ctx(t), p('/counter')).toString(), '0');
  ops.write(ctx(s), p('/counter'), Buffer.from('1'));
  assert.equal(t.refresh(), false);
  ops.write(ctx(t), p('/counter'), Buffer.from('1'));
  assert.equal(commit(s, t, 'strict', () => undefined).ok, false);
});

test('nor after a request that touched nothing but was recorded, nor for a transaction carried over a live update', () => {
  const s = store();
  const t = new Transaction(1, s, bounds);
  t.record({ type: 2, payload: Buffer.from('bad\0'), replyType: 16, reply: Buffer.from('EINVAL\0') });
  ops.write(ctx(s), p('/counter'), Buffer.from('1'));
  assert.equal(t.refresh(), false);
  const d = new Transaction(2, s, bounds);
  d.doomed = true;
  ops.write(ctx(s), p('/counter'), Buffer.from('2'));
  assert.equal(d.refresh(), false);
});
