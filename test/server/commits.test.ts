/**
 * server/commits.ts alone, on a real store and history, with a host that
 * records what it is told: how each commit is decided (read-only, swap,
 * coalesce, replay, EAGAIN), the conflict charged to the domain whose commit
 * caused it, the node quota checked again at commit (XSA-326), and a
 * transaction adopted from a live update doomed to EAGAIN if it writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame } from '../../src/protocol/decoder.js';
import { XsError } from '../../src/protocol/errno.js';
import { Op } from '../../src/protocol/op.js';
import { Commits, type CommitHost, type CommitStats } from '../../src/server/commits.js';
import { defaultSettings, type QuotaName } from '../../src/server/config.js';
import { Connection } from '../../src/server/connection.js';
import { Logger } from '../../src/server/log.js';
import { History } from '../../src/store/history.js';
import { emptyRoot } from '../../src/store/node.js';
import * as ops from '../../src/store/ops.js';
import type { Change } from '../../src/store/state.js';
import { Store } from '../../src/store/store.js';
import type { Transaction } from '../../src/txn/transaction.js';
import { decodeStrings, errorName, Harness, MemorySink, payload } from '../helpers/inproc.js';
import { B, ctxOf, DOM0, guest, P } from '../support/fixtures.js';

function setup(rerun?: CommitHost['rerun']): { c: Commits; store: Store; stats: CommitStats; charged: number[]; announced: Change[][]; history: History; quotas: Map<QuotaName, number> } {
  const store = new Store(emptyRoot());
  const stats: CommitStats = { started: 0, commits: { 'read-only': 0, swap: 0, coalesce: 0, replay: 0 }, conflicts: 0 };
  const charged: number[] = [];
  const announced: Change[][] = [];
  const history = new History(100, store.root, 0);
  const quotas = new Map<QuotaName, number>();
  const host: CommitHost = {
    store,
    settings: defaultSettings(),
    conflict: 'coalesce',
    stats,
    history,
    logger: new Logger('error'),
    requestLog: false,
    quota: (_d, name) => quotas.get(name) ?? defaultSettings()[name],
    charge: (d) => void charged.push(d),
    announce: (ch) => void announced.push([...ch]),
    rerun: rerun ?? (() => undefined),
  };
  return { c: new Commits(host), store, stats, charged, announced, history, quotas };
}

const conn = (id: number, domid: number): Connection => new Connection(id, domid, domid === 0, new MemorySink());
/** Writes in `txn` as `who` would, recording the request for replay. */
function write(txn: Transaction, who = DOM0, path = '/a', value = 'v'): void {
  ops.write(ctxOf(txn, who), P(path), B(value));
  txn.record({ type: Op.WRITE, payload: Buffer.from(`${path}\0${value}`), replyType: Op.WRITE, reply: Buffer.from('OK\0') });
}

test('read-only, swap and coalesce: each counted, each commit announced', () => {
  const { c, stats, announced, store } = setup();
  const d0 = conn(1, 0);
  const ro = c.newTransaction(d0);
  assert.equal(c.commit(d0, ro), true);
  const t1 = c.newTransaction(d0);
  const t2 = c.newTransaction(d0);
  write(t1, DOM0, '/x/a');
  write(t2, DOM0, '/y/b');
  assert.equal(c.commit(d0, t1), true);
  assert.equal(c.commit(d0, t2), true, 'disjoint: grafted onto the live tree');
  assert.deepEqual(stats.commits, { 'read-only': 1, swap: 1, coalesce: 1, replay: 0 });
  assert.equal(stats.conflicts, 0);
  assert.equal(announced.length, 3);
  assert.equal(ops.read(ctxOf(store), P('/x/a')).toString(), 'v');
  assert.equal(ops.read(ctxOf(store), P('/y/b')).toString(), 'v');
});

test('an overlapping transaction commits by replay when every answer is the same, else EAGAIN charged to the other domain', () => {
  let same = true;
  const rerun = (_conn: Connection, frame: Frame, t: Transaction): Uint8Array => {
    const [path, value] = frame.payload.toString().split('\0') as [string, string];
    ops.write(ctxOf(t), P(path), B(value));
    if (!same) throw new XsError('EACCES');
    return Buffer.from('OK\0');
  };
  const { c, stats, charged, history, store } = setup(rerun);
  const d0 = conn(1, 0);
  // Another domain's commit lands in /s after the transaction began (recorded in the history).
  const t = c.newTransaction(d0);
  write(t, DOM0, '/s/mine');
  const before = store.root;
  ops.write(ctxOf(store), P('/s/theirs'), B('x'));
  history.record({ time: 1, domid: 7, conn: 2, txId: 0, op: 'WRITE /s/theirs' }, store.root, before);
  assert.equal(c.commit(d0, t), true);
  assert.equal(stats.commits.replay, 1);

  same = false;
  const t3 = c.newTransaction(d0);
  write(t3, DOM0, '/s/d0');
  const before3 = store.root;
  ops.write(ctxOf(store), P('/s/d0'), B('z')); // the same node: no graft, only a replay could save it
  history.record({ time: 3, domid: 7, conn: 2, txId: 0, op: 'WRITE /s/d0' }, store.root, before3);
  assert.equal(c.commit(d0, t3), false, 'a replayed answer differs: EAGAIN');
  assert.equal(stats.conflicts, 1);
  assert.deepEqual(charged, [7], 'the domain whose commit caused it is charged');
});

test('a transaction over two regions is blamed on the commit that changed one of them, not on an earlier one elsewhere', () => {
  const { c, stats, charged, history, store } = setup();
  const d0 = conn(1, 0);
  let before = store.root;
  for (const p of ['/vm/x', '/local/domain/1/a', '/local/domain/2/b']) ops.write(ctxOf(store), P(p), B('1'));
  history.record({ time: 0, domid: 0, conn: 1, txId: 0, op: 'setup' }, store.root, before);
  const t = c.newTransaction(d0);
  assert.equal(ops.read(ctxOf(t), P('/vm/x')).toString(), '1');
  write(t, DOM0, '/local/domain/1/a');
  // First a commit outside both regions (domain 8), then one that changes the read (domain 9).
  before = store.root;
  ops.write(ctxOf(store), P('/local/domain/2/b'), B('y'));
  history.record({ time: 1, domid: 8, conn: 2, txId: 0, op: 'WRITE /local/domain/2/b' }, store.root, before);
  before = store.root;
  ops.write(ctxOf(store), P('/vm/x'), B('2'));
  history.record({ time: 2, domid: 9, conn: 3, txId: 0, op: 'WRITE /vm/x' }, store.root, before);
  assert.equal(c.commit(d0, t), false, 'the read of /vm/x is stale and the default rerun refuses');
  assert.equal(stats.conflicts, 1);
  assert.deepEqual(charged, [9]);
});

test('XSA-326: the node quota is checked again against the live store at commit', () => {
  const { c, store, quotas } = setup();
  quotas.set('nodes', 3);
  const g5 = conn(1, 5);
  ops.mkdir(ctxOf(store), P('/local/domain/5'));
  ops.setPerms(ctxOf(store), P('/local/domain/5'), [{ kind: 'n', domid: 5 }]);
  const t = c.newTransaction(g5);
  write(t, guest(5), '/local/domain/5/a');
  write(t, guest(5), '/local/domain/5/b');
  ops.write(ctxOf(store, guest(5)), P('/local/domain/5/c'), B('meanwhile'));
  assert.throws(() => c.commit(g5, t), (e: XsError) => e.errno === 'ENOSPC');
});

test('a transaction adopted from a live update can read and write, but a write commits as EAGAIN', () => {
  const { c, store } = setup();
  ops.write(ctxOf(store), P('/a'), B('live'));
  const d0 = conn(1, 0);
  c.adopt(d0, 9, [{ kind: 'set', path: '/pending', value: B('p'), perms: [{ kind: 'n', domid: 0 }] }]);
  const t = d0.transactions.get(9)!;
  assert.equal(ops.read(ctxOf(t), P('/pending')).toString(), 'p');
  assert.equal(c.commit(d0, t), false);
  assert.equal(c.newTransaction(d0).id, 10, 'later ids start after the adopted one');
});

test('TRANSACTION_END takes T or F, NUL-terminated or not; anything else is EINVAL and the transaction stays open', () => {
  const c = new Harness().connect();
  const start = (): number => Number(decodeStrings(c.ok(Op.TRANSACTION_START, payload('')))[0]);
  for (const bad of [Buffer.alloc(0), Buffer.from('\0'), Buffer.from('TT'), Buffer.from('T\0\0'), Buffer.from('t\0'), Buffer.from('X')]) {
    const tx = start();
    assert.equal(errorName(c.call(Op.TRANSACTION_END, bad, tx).reply), 'EINVAL', JSON.stringify(bad.toString('latin1')));
    // Still open: it can be ended properly.
    assert.equal(c.call(Op.TRANSACTION_END, Buffer.from('F\0'), tx).reply.type, Op.TRANSACTION_END);
  }
  for (const good of ['T', 'T\0', 'F', 'F\0']) {
    const tx = start();
    assert.equal(c.call(Op.TRANSACTION_END, Buffer.from(good, 'latin1'), tx).reply.type, Op.TRANSACTION_END, JSON.stringify(good));
  }
});
