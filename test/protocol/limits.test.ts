// The protocol constants of xs_wire.h that the codec and path checks rely on:
// header size, payload max, path lengths, ring size, u32 max.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ABS_PATH_MAX, HEADER_SIZE, PAYLOAD_MAX, REL_PATH_MAX, RING_SIZE, U32_MAX } from '../../src/protocol/limits.js';

test('limits have the xs_wire.h values', () => {
  assert.equal(HEADER_SIZE, 16);
  assert.equal(PAYLOAD_MAX, 4096);
  assert.equal(ABS_PATH_MAX, 3072);
  assert.equal(REL_PATH_MAX, 2048);
  assert.equal(RING_SIZE, 1024);
  assert.equal(U32_MAX, 2 ** 32 - 1);
});
