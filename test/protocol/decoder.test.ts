// FrameDecoder: any chunking of the byte stream (whole, byte by byte, random)
// yields the same frames; split headers, empty payloads, length limit, buffered, reset.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { FrameDecoder, FrameTooLongError, type Frame } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { writeHeader } from '../../src/protocol/header.js';
import { HEADER_SIZE, PAYLOAD_MAX } from '../../src/protocol/limits.js';

interface Plain {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

function encodeAll(frames: readonly Plain[]): Buffer {
  return Buffer.concat(frames.map((f) => encodeFrame(f.type, f.reqId, f.txId, f.payload)));
}

/** Pulls every complete frame, copying payloads (they are views into the input). */
function drain(d: FrameDecoder, out: Plain[]): void {
  for (let f: Frame | undefined = d.next(); f !== undefined; f = d.next()) {
    out.push({ type: f.type, reqId: f.reqId, txId: f.txId, payload: Buffer.from(f.payload) });
  }
}

function decodeChunks(chunks: readonly Buffer[]): { frames: Plain[]; left: number } {
  const d = new FrameDecoder();
  const frames: Plain[] = [];
  for (const c of chunks) {
    d.feed(c);
    drain(d, frames);
  }
  return { frames, left: d.buffered };
}

function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const sorted = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

const u32 = fc.nat({ max: 0xffff_ffff });
const frameArb: fc.Arbitrary<Plain> = fc.record({
  type: u32,
  reqId: u32,
  txId: u32,
  payload: fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 8 },
    { arbitrary: fc.uint8Array({ minLength: PAYLOAD_MAX - 8, maxLength: PAYLOAD_MAX }), weight: 1 },
  ).map((a) => Buffer.from(a)),
}).map((r) => ({ ...r })); // plain prototype, for deepEqual

const sample: Plain[] = [
  { type: 2, reqId: 1, txId: 0, payload: Buffer.from('/local/domain/0/name\0') },
  { type: 11, reqId: 2, txId: 7, payload: Buffer.from('/a\0\x00\x01binary\0') },
  { type: 16, reqId: 0xffff_ffff, txId: 0xffff_ffff, payload: Buffer.alloc(0) },
  { type: 1, reqId: 3, txId: 0, payload: Buffer.alloc(PAYLOAD_MAX, 0x61) },
  { type: 7, reqId: 4, txId: 1, payload: Buffer.from('T\0') },
];

describe('FrameDecoder chunking', () => {
  test('one chunk holding many frames yields them all, in order', () => {
    const { frames, left } = decodeChunks([encodeAll(sample)]);
    assert.deepEqual(frames, sample);
    assert.equal(left, 0);
  });

  test('byte-by-byte feeding yields the same frames', () => {
    const bytes = encodeAll(sample);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
    const { frames, left } = decodeChunks(chunks);
    assert.deepEqual(frames, sample);
    assert.equal(left, 0);
  });

  test('random chunkings of random frames all decode to the frames (property)', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (input, cuts) => {
        const bytes = encodeAll(input);
        const whole = decodeChunks([bytes]);
        const chunked = decodeChunks(splitAt(bytes, cuts));
        assert.deepEqual(whole.frames, input);
        assert.deepEqual(chunked.frames, input);
        assert.equal(chunked.left, 0);
      }),
      { numRuns: 200 },
    );
  });

  test('a header split across chunks is reassembled', () => {
    const bytes = encodeFrame(2, 42, 9, Buffer.from('abc\0'));
    const d = new FrameDecoder();
    d.feed(bytes.subarray(0, 5));
    assert.equal(d.next(), undefined);
    d.feed(bytes.subarray(5, 13));
    assert.equal(d.next(), undefined);
    assert.equal(d.buffered, 13);
    d.feed(bytes.subarray(13));
    const f = d.next();
    assert.ok(f !== undefined);
    assert.equal(f.type, 2);
    assert.equal(f.reqId, 42);
    assert.equal(f.txId, 9);
    assert.equal(f.payload.toString(), 'abc\0');
    assert.equal(d.next(), undefined);
  });

  test('frames with zero-length payloads decode from a bare header', () => {
    const d = new FrameDecoder();
    d.feed(Buffer.concat([encodeFrame(6, 1, 0, Buffer.alloc(0)), encodeFrame(6, 2, 0, Buffer.alloc(0))]));
    const a = d.next();
    const b = d.next();
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(a.payload.length, 0);
    assert.equal(a.reqId, 1);
    assert.equal(b.payload.length, 0);
    assert.equal(b.reqId, 2);
    assert.equal(d.next(), undefined);
  });

  test('the decoder stops between frames: unread frames stay buffered', () => {
    const d = new FrameDecoder();
    d.feed(encodeAll(sample.slice(0, 2)));
    const first = d.next();
    assert.ok(first !== undefined);
    assert.equal(d.buffered, HEADER_SIZE + sample[1]!.payload.length);
    // More bytes arrive before the second frame was pulled.
    d.feed(encodeAll(sample.slice(2, 3)));
    const out: Plain[] = [];
    drain(d, out);
    assert.deepEqual(out, sample.slice(1, 3));
  });
});

describe('FrameDecoder over one reused read buffer (retain)', () => {
  test('random chunkings read into one buffer that is overwritten after each chunk decode to the frames (property)', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (input, cuts) => {
        const bytes = encodeAll(input);
        const arena = Buffer.alloc(bytes.length + 1);
        const d = new FrameDecoder();
        const out: Plain[] = [];
        for (const chunk of splitAt(bytes, cuts)) {
          // As the native transport does: the chunk lives in a shared buffer...
          chunk.copy(arena, 0);
          d.feed(arena.subarray(0, chunk.length));
          drain(d, out);
          d.retain();
          // ...which the next read overwrites.
          arena.fill(0xee);
        }
        assert.deepEqual(out, input);
        assert.equal(d.buffered, 0);
      }),
      { numRuns: 200 },
    );
  });

  test('retain copies only what is unread, and only a borrowed chunk', () => {
    const d = new FrameDecoder();
    const bytes = encodeAll(sample.slice(0, 2));
    const arena = Buffer.from(bytes);
    d.feed(arena.subarray(0, bytes.length - 3));
    const first = d.next();
    assert.ok(first !== undefined);
    d.retain();
    arena.fill(0);
    assert.equal(d.buffered, HEADER_SIZE + sample[1]!.payload.length - 3);
    d.feed(bytes.subarray(bytes.length - 3));
    const second = d.next();
    assert.ok(second !== undefined);
    assert.deepEqual(Buffer.from(second.payload), sample[1]!.payload);
  });
});

describe('FrameDecoder limits', () => {
  function header(len: number): Buffer {
    const h = Buffer.alloc(HEADER_SIZE);
    writeHeader(h, 0, 2, 1, 0, len);
    return h;
  }

  test('a header announcing 4097 bytes throws FrameTooLongError as soon as the header is in', () => {
    const d = new FrameDecoder();
    d.feed(header(PAYLOAD_MAX + 1));
    assert.throws(() => d.next(), (e: unknown) => e instanceof FrameTooLongError && e.len === PAYLOAD_MAX + 1);
  });

  test('a header announcing 0xffffffff bytes throws too', () => {
    const d = new FrameDecoder();
    d.feed(header(0xffff_ffff));
    assert.throws(() => d.next(), FrameTooLongError);
  });

  test('exactly 4096 bytes is accepted once all of it has arrived', () => {
    const d = new FrameDecoder();
    const payload = Buffer.alloc(PAYLOAD_MAX, 7);
    const bytes = encodeFrame(11, 5, 0, payload);
    d.feed(bytes.subarray(0, HEADER_SIZE + PAYLOAD_MAX - 1));
    assert.equal(d.next(), undefined);
    d.feed(bytes.subarray(HEADER_SIZE + PAYLOAD_MAX - 1));
    const f = d.next();
    assert.ok(f !== undefined);
    assert.equal(f.payload.length, PAYLOAD_MAX);
    assert.ok(f.payload.equals(payload));
  });
});

describe('FrameDecoder bookkeeping', () => {
  test('buffered counts received but unreturned bytes', () => {
    const d = new FrameDecoder();
    assert.equal(d.buffered, 0);
    const a = encodeFrame(2, 1, 0, Buffer.from('xy\0'));
    const b = encodeFrame(2, 2, 0, Buffer.from('hello\0'));
    d.feed(a.subarray(0, 10));
    assert.equal(d.buffered, 10);
    d.feed(Buffer.concat([a.subarray(10), b.subarray(0, 4)]));
    assert.equal(d.buffered, a.length + 4);
    assert.ok(d.next() !== undefined);
    assert.equal(d.buffered, 4);
    d.feed(b.subarray(4));
    assert.equal(d.buffered, b.length);
    assert.ok(d.next() !== undefined);
    assert.equal(d.buffered, 0);
  });

  test('feeding an empty chunk changes nothing', () => {
    const d = new FrameDecoder();
    d.feed(Buffer.from([1, 2, 3]));
    d.feed(Buffer.alloc(0));
    assert.equal(d.buffered, 3);
    assert.equal(d.next(), undefined);
  });

  test('reset() drops a partial frame; later frames decode cleanly', () => {
    const d = new FrameDecoder();
    const junk = encodeFrame(2, 1, 0, Buffer.from('partial\0'));
    d.feed(junk.subarray(0, 20));
    d.reset();
    assert.equal(d.buffered, 0);
    assert.equal(d.next(), undefined);
    d.feed(encodeFrame(13, 77, 0, Buffer.from('/x\0')));
    const f = d.next();
    assert.ok(f !== undefined);
    assert.equal(f.type, 13);
    assert.equal(f.reqId, 77);
    assert.equal(f.payload.toString(), '/x\0');
  });

  test('reset() after a FrameTooLongError lets the decoder be reused', () => {
    const d = new FrameDecoder();
    const h = Buffer.alloc(HEADER_SIZE);
    writeHeader(h, 0, 2, 1, 0, PAYLOAD_MAX + 1);
    d.feed(h);
    assert.throws(() => d.next(), FrameTooLongError);
    d.reset();
    d.feed(encodeFrame(2, 3, 0, Buffer.from('ok\0')));
    assert.equal(d.next()?.reqId, 3);
  });
});
