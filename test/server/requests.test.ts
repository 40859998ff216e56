/**
 * server/requests.ts: the history's one-line summary of a committed
 * transaction (its writing requests that succeeded, the first three named).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorPayload } from '../../src/protocol/errno.js';
import { Op } from '../../src/protocol/op.js';
import { transactionSummary } from '../../src/server/requests.js';
import { Store } from '../../src/store/store.js';
import { Transaction } from '../../src/txn/transaction.js';
import { B, ctxOf, P } from '../support/fixtures.js';
import { write } from '../../src/store/ops.js';

const OK = B('OK\0');
const bounds = (entries: number) => ({ maxNodes: undefined, maxLogEntries: entries, maxLogBytes: 1 << 20 });

function logged(t: Transaction, type: number, arg: string, failed = false): void {
  t.record({ type, payload: B(`${arg}\0`), replyType: failed ? Op.ERROR : type, reply: failed ? errorPayload('EACCES') : OK });
}

test('the first three successful writing requests are named, the rest counted', () => {
  const t = new Transaction(4, new Store(), bounds(100));
  logged(t, Op.READ, '/vm/name');
  logged(t, Op.WRITE, '/a');
  logged(t, Op.WRITE, '/refused', true);
  logged(t, Op.MKDIR, '/b');
  logged(t, Op.RM, '/c');
  logged(t, Op.SET_PERMS, '/d');
  logged(t, Op.WRITE, '/e');
  assert.equal(transactionSummary(t), 'transaction 4: WRITE /a, MKDIR /b, RM /c and 2 more');
});

test('three or fewer: all named, nothing counted; none: no change', () => {
  const t = new Transaction(5, new Store(), bounds(100));
  assert.equal(transactionSummary(t), 'transaction 5: no change');
  logged(t, Op.WRITE, '/a');
  logged(t, Op.READ, '/b');
  logged(t, Op.WRITE, '/c');
  assert.equal(transactionSummary(t), 'transaction 5: WRITE /a, WRITE /c');
});

test('a log too long to keep: the changed paths instead', () => {
  const s = new Store();
  const t = new Transaction(6, s, bounds(0));
  for (const p of ['/x/1', '/x/2', '/x/3', '/x/4']) {
    write(ctxOf(t), P(p), B('v'));
    logged(t, Op.WRITE, p);
  }
  assert.equal(t.replayable, false);
  assert.equal(transactionSummary(t), 'transaction 6: WRITE /x/1, WRITE /x/2, WRITE /x/3 and 1 more');
});
