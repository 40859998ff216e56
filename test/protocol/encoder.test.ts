// encodeFrame and FrameBatch: byte layout, round trip through FrameDecoder,
// growth of the batch past its initial buffer, and take() handing over and resetting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame, FrameBatch } from '../../src/protocol/encoder.js';
import { HEADER_SIZE, PAYLOAD_MAX } from '../../src/protocol/limits.js';

interface Plain {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

function decodeAll(bytes: Buffer): Plain[] {
  const d = new FrameDecoder();
  d.feed(bytes);
  const out: Plain[] = [];
  for (let f = d.next(); f !== undefined; f = d.next()) {
    out.push({ type: f.type, reqId: f.reqId, txId: f.txId, payload: Buffer.from(f.payload) });
  }
  assert.equal(d.buffered, 0);
  return out;
}

const u32 = fc.nat({ max: 0xffff_ffff });
const frameArb: fc.Arbitrary<Plain> = fc.record({
  type: u32,
  reqId: u32,
  txId: u32,
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
}).map((r) => ({ ...r })); // plain prototype, for deepEqual

describe('encodeFrame', () => {
  test('writes the four little-endian u32 fields then the payload', () => {
    const out = encodeFrame(0x01020304, 5, 0xffff_ffff, Buffer.from('ab'));
    assert.deepEqual(
      [...out],
      [4, 3, 2, 1, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0x61, 0x62],
    );
  });

  test('round-trips through the decoder (property)', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const bytes = encodeFrame(f.type, f.reqId, f.txId, f.payload);
        assert.equal(bytes.length, HEADER_SIZE + f.payload.length);
        assert.deepEqual(decodeAll(bytes), [f]);
      }),
    );
  });
});

describe('FrameBatch', () => {
  test('a batch decodes back to the frames added, in order (property)', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.integer({ min: 0, max: 64 }), (frames, initial) => {
        const batch = new FrameBatch(initial);
        for (const f of frames) batch.add(f.type, f.reqId, f.txId, f.payload);
        assert.equal(batch.frames, frames.length);
        const expectedBytes = frames.reduce((n, f) => n + HEADER_SIZE + f.payload.length, 0);
        assert.equal(batch.bytes, expectedBytes);
        const out = batch.take();
        assert.equal(out.length, expectedBytes);
        assert.deepEqual(decodeAll(out), frames);
      }),
    );
  });

  test('addTwoStrings writes the same bytes as add() of "a\\0b\\0" in latin1, mixed with add() and growing (property)', () => {
    const latin1 = fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 300 });
    const step = fc.oneof(fc.tuple(latin1, latin1), frameArb);
    fc.assert(
      fc.property(fc.array(step, { maxLength: 20 }), fc.integer({ min: 0, max: 64 }), (steps, initial) => {
        const batch = new FrameBatch(initial);
        const reference = new FrameBatch(initial);
        for (const [i, st] of steps.entries()) {
          if (Array.isArray(st)) {
            const [a, b] = st;
            batch.addTwoStrings(15, i, 7, a, b);
            reference.add(15, i, 7, Buffer.from(`${a}\0${b}\0`, 'latin1'));
          } else {
            batch.add(st.type, st.reqId, st.txId, st.payload);
            reference.add(st.type, st.reqId, st.txId, st.payload);
          }
        }
        assert.equal(batch.frames, reference.frames);
        assert.ok(batch.take().equals(reference.take()));
      }),
    );
  });

  test('grows past its initial size without losing earlier frames', () => {
    const batch = new FrameBatch(32);
    const payloads = [Buffer.alloc(10, 1), Buffer.alloc(100, 2), Buffer.alloc(PAYLOAD_MAX, 3), Buffer.alloc(5, 4)];
    payloads.forEach((p, i) => batch.add(15, i, 0, p));
    const expected = Buffer.concat(payloads.map((p, i) => encodeFrame(15, i, 0, p)));
    assert.equal(batch.bytes, expected.length);
    assert.ok(batch.take().equals(expected));
  });

  test('take() resets the batch and returns a buffer the caller owns', () => {
    const batch = new FrameBatch(64);
    batch.add(2, 1, 0, Buffer.from('first\0'));
    const first = batch.take();
    assert.equal(batch.bytes, 0);
    assert.equal(batch.frames, 0);
    const snapshot = Buffer.from(first);
    // Reusing the batch must not scribble over what was handed out.
    batch.add(2, 2, 0, Buffer.from('second\0'));
    assert.ok(first.equals(snapshot));
    const second = batch.take();
    assert.deepEqual(decodeAll(second), [{ type: 2, reqId: 2, txId: 0, payload: Buffer.from('second\0') }]);
    assert.equal(batch.take().length, 0);
  });

  test('an empty payload adds a bare header', () => {
    const batch = new FrameBatch(0);
    batch.add(16, 9, 3, Buffer.alloc(0));
    assert.equal(batch.bytes, HEADER_SIZE);
    assert.ok(batch.take().equals(encodeFrame(16, 9, 3, Buffer.alloc(0))));
  });
});
