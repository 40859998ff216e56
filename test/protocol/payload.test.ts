// Payload field parsers: oneString, strings, pathAndValue (binary values),
// encodeStrings round trip, and parseUint's strict syntax and bounds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { encodeStrings, nulAt, oneString, parseUint, pathAndValue, strings } from '../../src/protocol/payload.js';
import { xs } from '../support/fixtures.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

test('nulAt finds the first NUL from `from`, before `end`, as indexOf does (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat({ max: 90 }), fc.nat({ max: 90 }), (a, from, endRaw) => {
      const p = Buffer.from(a);
      const end = Math.min(endRaw, p.length);
      const i = p.subarray(0, end).indexOf(0, from);
      assert.equal(nulAt(p, from, end), from >= end ? -1 : i);
      if (endRaw >= p.length) assert.equal(nulAt(p, from), from >= p.length ? -1 : p.indexOf(0, from));
    }),
  );
});

describe('oneString', () => {
  test('returns the string before the single trailing NUL', () => {
    assert.equal(oneString(B('/local/domain/0\0')), '/local/domain/0');
    assert.equal(oneString(B('\0')), '');
  });

  test('rejects a missing NUL, bytes after the NUL, and an empty payload', () => {
    assert.throws(() => oneString(B('/a')), xs('EINVAL'));
    assert.throws(() => oneString(B('/a\0x')), xs('EINVAL'));
    assert.throws(() => oneString(B('/a\0\0')), xs('EINVAL'));
    assert.throws(() => oneString(Buffer.alloc(0)), xs('EINVAL'));
  });
});

describe('strings', () => {
  test('splits NUL-terminated strings, keeping empty ones', () => {
    assert.deepEqual(strings(B('a\0bc\0\0d\0')), ['a', 'bc', '', 'd']);
    assert.deepEqual(strings(Buffer.alloc(0)), []);
  });

  test('an unterminated tail is EINVAL unless allowed', () => {
    assert.throws(() => strings(B('a\0tail')), xs('EINVAL'));
    assert.deepEqual(strings(B('a\0tail'), true), ['a', 'tail']);
    assert.deepEqual(strings(B('T'), true), ['T']);
  });

  test('encodeStrings round-trips through strings (property)', () => {
    const item = fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 20 });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 10 }), (items) => {
        const enc = encodeStrings(items);
        assert.equal(enc.length, items.reduce((n, s) => n + s.length + 1, 0));
        assert.deepEqual(strings(enc), items);
      }),
    );
  });
});

describe('pathAndValue', () => {
  test('splits at the first NUL; the value is raw bytes and may hold NULs', () => {
    const value = Buffer.from([0, 1, 0, 255, 0]);
    const r = pathAndValue(Buffer.concat([B('/a/b\0'), value]));
    assert.equal(r.path, '/a/b');
    assert.ok(r.value.equals(value));
  });

  test('an empty value is allowed', () => {
    const r = pathAndValue(B('/a\0'));
    assert.equal(r.path, '/a');
    assert.equal(r.value.length, 0);
  });

  test('a path without its NUL is EINVAL', () => {
    assert.throws(() => pathAndValue(B('/a')), xs('EINVAL'));
    assert.throws(() => pathAndValue(Buffer.alloc(0)), xs('EINVAL'));
  });

  test('any binary value survives (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (v) => {
        const r = pathAndValue(Buffer.concat([B('/p\0'), Buffer.from(v)]));
        assert.equal(r.path, '/p');
        assert.deepEqual([...r.value], [...v]);
      }),
    );
  });
});

describe('parseUint', () => {
  test('accepts plain decimals up to max inclusive', () => {
    assert.equal(parseUint('0', 10), 0);
    assert.equal(parseUint('10', 10), 10);
    assert.equal(parseUint('007', 10), 7);
    assert.equal(parseUint('4294967295', 0xffff_ffff), 0xffff_ffff);
  });

  test('rejects values above max', () => {
    assert.throws(() => parseUint('11', 10), xs('EINVAL'));
    assert.throws(() => parseUint('4294967296', 0xffff_ffff), xs('EINVAL'));
    assert.throws(() => parseUint('9999999999', 0xffff_ffff), xs('EINVAL'));
  });

  test('rejects junk: empty, signs, spaces, hex, exponents, too many digits', () => {
    for (const s of ['', '-1', '+1', ' 1', '1 ', '0x10', '1e3', '1.0', 'abc', '12345678901', '١']) {
      assert.throws(() => parseUint(s, 0xffff_ffff), xs('EINVAL'), JSON.stringify(s));
    }
  });

  test('agrees with Number() on every in-range decimal (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff }), (n, max) => {
        if (n <= max) assert.equal(parseUint(String(n), max), n);
        else assert.throws(() => parseUint(String(n), max), xs('EINVAL'));
      }),
    );
  });
});
