// Message type numbers (the xs_wire.h ABI) and opName for logs,
// including unknown numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Op, opName } from '../../src/protocol/op.js';

test('message type numbers match xs_wire.h', () => {
  assert.equal(Op.CONTROL, 0);
  assert.equal(Op.READ, 2);
  assert.equal(Op.WATCH_EVENT, 15);
  assert.equal(Op.ERROR, 16);
  assert.equal(Op.RESTRICT, 20);
  assert.equal(Op.DIRECTORY_PART, 22);
  assert.equal(Op.SET_QUOTA, 26);
  // Dense 0..26, no duplicates.
  assert.deepEqual(Object.values(Op).sort((a, b) => a - b), Array.from({ length: 27 }, (_, i) => i));
});

test('opName names every known type and numbers the rest', () => {
  for (const [name, code] of Object.entries(Op)) assert.equal(opName(code), name);
  assert.equal(opName(27), 'OP_27');
  assert.equal(opName(0xffff_ffff), 'OP_4294967295');
});
