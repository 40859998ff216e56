// readHeader/writeHeader: the 16-byte little-endian header, at any offset,
// including inside a Buffer that is itself a view at a non-zero byteOffset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { readHeader, readU32, writeHeader } from '../../src/protocol/header.js';
import { HEADER_SIZE } from '../../src/protocol/limits.js';

test('writeHeader lays out type, req_id, tx_id, len as little-endian u32', () => {
  const b = Buffer.alloc(HEADER_SIZE);
  writeHeader(b, 0, 1, 0x100, 0x10000, 0x1000000);
  assert.deepEqual([...b], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
});

test('readHeader reads back what writeHeader wrote, at any offset of a view (property)', () => {
  const u32 = fc.nat({ max: 0xffff_ffff });
  fc.assert(
    fc.property(u32, u32, u32, u32, fc.nat({ max: 40 }), fc.nat({ max: 40 }), (type, reqId, txId, len, pre, off) => {
      const backing = Buffer.alloc(pre + off + HEADER_SIZE + 3, 0xaa);
      const view = backing.subarray(pre);
      writeHeader(view, off, type, reqId, txId, len);
      assert.deepEqual(readHeader(view, off), { type, reqId, txId, len });
      // Bytes around the header are untouched.
      assert.equal(view[off + HEADER_SIZE], 0xaa);
      if (off > 0) assert.equal(view[off - 1], 0xaa);
    }),
  );
});

test('readU32 reads all 32 bits as an unsigned number; readHeader refuses a header that does not fit', () => {
  const b = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x80, 0x78, 0x56, 0x34, 0x12]);
  assert.equal(readU32(b, 0), 0xffff_ffff);
  assert.equal(readU32(b, 4), 0x8000_0000);
  assert.equal(readU32(b, 8), 0x1234_5678);
  assert.throws(() => readHeader(Buffer.alloc(HEADER_SIZE - 1), 0), RangeError);
  assert.throws(() => readHeader(Buffer.alloc(HEADER_SIZE + 4), 5), RangeError);
  assert.throws(() => readHeader(Buffer.alloc(HEADER_SIZE), -1), RangeError);
});
