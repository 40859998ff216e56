// The state stream codec (docs/designs/xenstore-migration.md, version 2):
// round trips of every record type (fast-check), byte-exact layouts checked
// against the spec for hand-built records, and refusal of malformed streams
// with a StreamError whose message names the byte offset.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { restoreState } from '../../src/state/snapshot.js';
import {
  decodeStream,
  encodeRecord,
  encodeStream,
  RecType,
  STREAM_VERSION,
  StreamError,
  type Record as StreamRecord,
} from '../../src/state/stream.js';
import type { Perm } from '../../src/store/perms.js';
import { offsetOf } from '../helpers/persist.js';

// ---- arbitraries ----------------------------------------------------------------------

/** fc.record with ordinary objects (deepStrictEqual compares prototypes). */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const i32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
/** latin1 text without NUL (what the stream's C strings can carry). */
const cText = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength });
const bytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const perm: fc.Arbitrary<Perm> = rec({ kind: fc.constantFrom('n' as const, 'r' as const, 'w' as const, 'b' as const), domid: u16 });
const quotaList = fc.array(fc.tuple(cText(24), u32), { maxLength: 6 });

const globalArb: fc.Arbitrary<StreamRecord> = rec({ type: fc.constant('global' as const), rwSocketFd: i32, evtchnFd: i32 });
const connectionArb: fc.Arbitrary<StreamRecord> = rec({
  type: fc.constant('connection' as const),
  connId: fc.integer({ min: 1, max: 0xffff_ffff }),
  flags: u16,
  spec: fc.oneof(
    rec({ kind: fc.constant('ring' as const), domid: u16, tdomid: u16, evtchn: u32 }),
    rec({ kind: fc.constant('socket' as const), fd: i32 }),
  ),
  inData: bytes(300),
  outRespLen: u16,
  outData: bytes(300),
});
const watchArb: fc.Arbitrary<StreamRecord> = rec({
  type: fc.constant('watch' as const),
  connId: u32,
  path: cText(80),
  token: cText(40),
  // 0xffff means "unlimited" on the wire, i.e. no depth: see the dedicated test.
  depth: fc.option(fc.integer({ min: 0, max: 0xfffe }), { nil: undefined }),
});
const transactionArb: fc.Arbitrary<StreamRecord> = rec({ type: fc.constant('transaction' as const), connId: u32, txId: u32 });
const nodeArb: fc.Arbitrary<StreamRecord> = fc
  .record({ connId: fc.oneof(fc.constant(0), u32), txId: u32, path: cText(80).map((p) => `/${p}`), value: bytes(400), access: u16, perms: fc.array(perm, { maxLength: 6 }) })
  .map((r) => ({
    type: 'node' as const,
    ...r,
    // A committed node always has perms; a pending one has none when deleted.
    perms: r.connId === 0 && r.perms.length === 0 ? [{ kind: 'n' as const, domid: 0 }] : r.perms,
  }));
const globalQuotaArb: fc.Arbitrary<StreamRecord> = rec({ type: fc.constant('global-quota' as const), perDomain: quotaList, global: quotaList });
const domainArb: fc.Arbitrary<StreamRecord> = rec({ type: fc.constant('domain' as const), domid: u16, features: u32, quotas: quotaList });

const ARBS: ReadonlyArray<[string, fc.Arbitrary<StreamRecord>]> = [
  ['GLOBAL_DATA', globalArb],
  ['CONNECTION_DATA', connectionArb],
  ['WATCH_DATA / WATCH_DATA_EXTENDED', watchArb],
  ['TRANSACTION_DATA', transactionArb],
  ['NODE_DATA', nodeArb],
  ['GLOBAL_QUOTA_DATA', globalQuotaArb],
  ['DOMAIN_DATA', domainArb],
];
const anyRecord = fc.oneof(...ARBS.map(([, a]) => a));

// ---- hand-built bytes ---------------------------------------------------------------------

const le16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const be32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const str = (s: string): Buffer => Buffer.from(s, 'latin1');
const cat = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

function header(version = 2, flags = 0): Buffer {
  return cat(str('xenstore'), be32(version), be32(flags));
}
/** A record as the spec frames it: type, len (LE), body, zero padding to 8. */
function frame(type: number, body: Buffer): Buffer {
  const pad = (8 - (body.length % 8)) % 8;
  return cat(le32(type), le32(body.length), body, Buffer.alloc(pad));
}
const END = frame(0, Buffer.alloc(0));
const ROOT_NODE = frame(RecType.NODE_DATA, cat(le32(0), le32(0), le16(2), le16(0), le16(0), le16(1), str('n\0'), le16(0), str('/\0')));

/** decodeStream must refuse `buf` with a StreamError at `offset` (when given) naming that offset. */
function refused(buf: Buffer, offset: number | undefined, reason: RegExp): StreamError {
  let err: unknown;
  try {
    decodeStream(buf);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StreamError, `expected a StreamError, got ${err === undefined ? 'success' : String(err)}`);
  assert.match(err.message, reason);
  assert.equal(offsetOf(err.message), err.offset, `the message names the offset: ${err.message}`);
  if (offset !== undefined) assert.equal(err.offset, offset, err.message);
  return err;
}

// ---- round trips ---------------------------------------------------------------------------------

describe('state stream: round trips', () => {
  for (const [name, arb] of ARBS) {
    test(`${name} records survive encode/decode unchanged`, () => {
      fc.assert(
        fc.property(arb, (r) => {
          const framed = encodeRecord(r);
          assert.equal(framed.length % 8, 0, 'records are padded to 8 bytes');
          const { version, records } = decodeStream(encodeStream([r]));
          assert.equal(version, STREAM_VERSION);
          assert.deepEqual(records, [r]);
        }),
        { numRuns: 150 },
      );
    });
  }

  test('whole streams of mixed records decode to the same records in order', () => {
    fc.assert(
      fc.property(fc.array(anyRecord, { maxLength: 25 }), (recs) => {
        assert.deepEqual(decodeStream(encodeStream(recs)).records, recs);
      }),
      { numRuns: 150 },
    );
  });

  test('any byte corruption of a valid stream is either decoded or refused with a StreamError (never another exception)', () => {
    fc.assert(
      fc.property(fc.array(anyRecord, { minLength: 1, maxLength: 8 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (recs, at, byte) => {
        const buf = encodeStream(recs);
        const i = at % buf.length;
        buf[i] = byte;
        try {
          decodeStream(buf);
        } catch (e) {
          assert.ok(e instanceof StreamError, `byte ${i} := ${byte}: ${String(e)}`);
          assert.equal(offsetOf(e.message), e.offset);
          assert.ok(e.offset >= 0 && e.offset <= buf.length, `offset ${e.offset} within the ${buf.length}-byte stream`);
        }
      }),
      { numRuns: 400 },
    );
  });
});

// ---- byte-exact layouts ---------------------------------------------------------------------------

describe('state stream: byte layout as in the spec', () => {
  test('header: "xenstore", version 2 and flags 0 big-endian; an empty stream is the header and END', () => {
    const buf = encodeStream([]);
    assert.equal(buf.toString('hex'), '78656e73746f7265' + '00000002' + '00000000' + '00000000' + '00000000');
    assert.deepEqual(buf, cat(header(), END));
  });

  test('record header: type and len little-endian, body, zero padding to a multiple of 8', () => {
    const tx = encodeRecord({ type: 'transaction', connId: 0x01020304, txId: 0x0a0b0c0d });
    assert.equal(tx.toString('hex'), '04000000' + '08000000' + '04030201' + '0d0c0b0a');
    // WATCH_DATA: 4 + 2 + 2 + "/a\0" + "t\0" = 13 bytes, then 3 bytes of zero padding.
    const w = encodeRecord({ type: 'watch', connId: 7, path: '/a', token: 't', depth: undefined });
    assert.deepEqual(w, cat(le32(RecType.WATCH_DATA), le32(13), le32(7), le16(3), le16(2), str('/a\0t\0'), Buffer.alloc(3)));
    assert.equal(w.length, 24);
  });

  test('GLOBAL_DATA: rw-socket-fd, evtchn-fd (signed: -1 = none)', () => {
    assert.deepEqual(encodeRecord({ type: 'global', rwSocketFd: 3, evtchnFd: -1 }), frame(RecType.GLOBAL_DATA, cat(le32(3), le32(0xffff_ffff))));
  });

  test('NODE_DATA: conn-id, tx-id, path-len, value-len, access, perm-count, perms (letter, pad, domid), path NUL, value', () => {
    const perms: Perm[] = [
      { kind: 'n', domid: 0 },
      { kind: 'r', domid: 5 },
      { kind: 'w', domid: 0x1234 },
      { kind: 'b', domid: 7 },
    ];
    const got = encodeRecord({ type: 'node', connId: 0, txId: 0, path: '/ab', value: Buffer.from([0x78, 0x00, 0x79]), access: 0, perms });
    const body = cat(
      le32(0), // conn-id
      le32(0), // tx-id
      le16(4), // path-len, NUL included
      le16(3), // value-len
      le16(0), // access
      le16(4), // perm-count
      Buffer.from([0x6e, 0, 0x00, 0x00]), // n0
      Buffer.from([0x72, 0, 0x05, 0x00]), // r5
      Buffer.from([0x77, 0, 0x34, 0x12]), // w0x1234
      Buffer.from([0x62, 0, 0x07, 0x00]), // b7
      str('/ab\0'),
      Buffer.from([0x78, 0x00, 0x79]),
    );
    assert.deepEqual(got, frame(RecType.NODE_DATA, body));
    // A node deleted in a pending transaction: no perms, no value, access 0.
    const del = encodeRecord({ type: 'node', connId: 9, txId: 4, path: '/d', value: Buffer.alloc(0), access: 0, perms: [] });
    assert.deepEqual(del, frame(RecType.NODE_DATA, cat(le32(9), le32(4), le16(3), le16(0), le16(0), le16(0), str('/d\0'))));
  });

  test('WATCH_DATA_EXTENDED: depth and pad after the lengths; no depth is a plain WATCH_DATA; 0xffff on the wire is unlimited', () => {
    const ext = encodeRecord({ type: 'watch', connId: 2, path: 'data', token: 'tok', depth: 3 });
    assert.deepEqual(ext, frame(RecType.WATCH_DATA_EXTENDED, cat(le32(2), le16(5), le16(4), le16(3), le16(0), str('data\0tok\0'))));
    const plain = encodeRecord({ type: 'watch', connId: 2, path: 'data', token: 'tok', depth: undefined });
    assert.equal(plain.readUInt32LE(0), RecType.WATCH_DATA);
    const unlimited = cat(header(), frame(RecType.WATCH_DATA_EXTENDED, cat(le32(2), le16(2), le16(2), le16(0xffff), le16(0), str('/\0t\0'))), END);
    assert.deepEqual(decodeStream(unlimited).records, [{ type: 'watch', connId: 2, path: '/', token: 't', depth: undefined }]);
    const zero = cat(header(), frame(RecType.WATCH_DATA_EXTENDED, cat(le32(2), le16(2), le16(2), le16(0), le16(0), str('/\0t\0'))), END);
    assert.deepEqual(decodeStream(zero).records, [{ type: 'watch', connId: 2, path: '/', token: 't', depth: 0 }]);
  });

  test('GLOBAL_QUOTA_DATA: counts, values (per-domain first, then global), then the NUL-delimited names in the same order', () => {
    const got = encodeRecord({ type: 'global-quota', perDomain: [['nodes', 1000], ['watches', 128]], global: [['history', 7]] });
    const body = cat(le16(2), le16(1), le32(1000), le32(128), le32(7), str('nodes\0watches\0history\0'));
    assert.deepEqual(got, frame(RecType.GLOBAL_QUOTA_DATA, body));
    assert.deepEqual(decodeStream(cat(header(), frame(RecType.GLOBAL_QUOTA_DATA, body), END)).records, [
      { type: 'global-quota', perDomain: [['nodes', 1000], ['watches', 128]], global: [['history', 7]] },
    ]);
  });

  test('DOMAIN_DATA: domain-id, n-quota, features, values, names', () => {
    const got = encodeRecord({ type: 'domain', domid: 0x0105, features: 0x0000_0007, quotas: [['nodes', 42], ['node-size', 0x0102_0304]] });
    const body = cat(le16(0x0105), le16(2), le32(7), le32(42), le32(0x0102_0304), str('nodes\0node-size\0'));
    assert.deepEqual(got, frame(RecType.DOMAIN_DATA, body));
  });

  test('CONNECTION_DATA: conn-id, conn-type, flags, conn-spec (ring or socket), in/out lengths, data', () => {
    const ring = encodeRecord({
      type: 'connection',
      connId: 3,
      flags: 0,
      spec: { kind: 'ring', domid: 5, tdomid: 0x7ff4, evtchn: 37 },
      inData: Buffer.from('in'),
      outRespLen: 0,
      outData: Buffer.from('out'),
    });
    assert.deepEqual(ring, frame(RecType.CONNECTION_DATA, cat(le32(3), le16(0), le16(0), le16(5), le16(0x7ff4), le32(37), le16(2), le16(0), le32(3), str('inout'))));
    const sock = encodeRecord({ type: 'connection', connId: 4, flags: 1, spec: { kind: 'socket', fd: 9 }, inData: Buffer.alloc(0), outRespLen: 0, outData: Buffer.alloc(0) });
    assert.deepEqual(sock, frame(RecType.CONNECTION_DATA, cat(le32(4), le16(1), le16(1), le32(9), le32(0), le16(0), le16(0), le32(0))));
  });

  test('records of reserved (unknown) types are skipped', () => {
    const buf = cat(header(), frame(0x1234, str('future stuff')), ROOT_NODE, END);
    const recs = decodeStream(buf).records;
    assert.equal(recs.length, 1);
    assert.equal(recs[0]?.type, 'node');
  });
});

// ---- refusals -------------------------------------------------------------------------------------

describe('state stream: malformed input is refused with the byte offset', () => {
  const sample: StreamRecord[] = [
    { type: 'global', rwSocketFd: -1, evtchnFd: -1 },
    { type: 'global-quota', perDomain: [['nodes', 1000]], global: [['history', 10]] },
    { type: 'domain', domid: 5, features: 7, quotas: [['nodes', 77]] },
    { type: 'connection', connId: 1, flags: 0, spec: { kind: 'ring', domid: 5, tdomid: 0x7ff4, evtchn: 3 }, inData: Buffer.from('abc'), outRespLen: 0, outData: Buffer.alloc(0) },
    { type: 'watch', connId: 1, path: 'data', token: 'w1', depth: 2 },
    { type: 'transaction', connId: 1, txId: 4 },
    { type: 'node', connId: 1, txId: 4, path: '/local/domain/5/data/x', value: Buffer.from('p\0q'), access: 3, perms: [{ kind: 'n', domid: 5 }] },
    { type: 'node', connId: 0, txId: 0, path: '/', value: Buffer.alloc(0), access: 0, perms: [{ kind: 'n', domid: 0 }] },
    { type: 'node', connId: 0, txId: 0, path: '/a', value: Buffer.from('v\0'), access: 0, perms: [{ kind: 'r', domid: 0 }, { kind: 'w', domid: 5 }] },
  ];

  test('every proper prefix of a valid stream (truncation anywhere) is refused, at an offset inside the prefix', () => {
    const full = encodeStream(sample);
    assert.deepEqual(decodeStream(full).records, sample);
    for (let len = 0; len < full.length; len++) {
      const err = refused(full.subarray(0, len), undefined, /./);
      assert.ok(err.offset <= len, `prefix ${len}: offset ${err.offset} past the end`);
    }
  });

  test('truncation at a record boundary or inside a record names that record', () => {
    const full = encodeStream(sample);
    const first = 16; // the first record starts after the header
    refused(full.subarray(0, first), first, /truncated: no END record/);
    refused(full.subarray(0, first + 10), first, /truncated record of type 1/);
    refused(full.subarray(0, 8), 0, /shorter than the 16-byte header/);
  });

  test('wrong ident', () => {
    const buf = encodeStream(sample);
    buf.write('xenstorf', 0, 'latin1');
    refused(buf, 0, /"xenstore" ident/);
  });

  test('wrong version (0 and 3)', () => {
    for (const v of [0, 3, 0x0200_0000]) {
      const buf = encodeStream(sample);
      buf.writeUInt32BE(v, 8);
      refused(buf, 8, new RegExp(`unsupported version ${v}`));
    }
  });

  test('version 1 streams are read, but WATCH_DATA_EXTENDED needs version 2', () => {
    const v1 = cat(header(1), ROOT_NODE, END);
    assert.equal(decodeStream(v1).version, 1);
    const ext = frame(RecType.WATCH_DATA_EXTENDED, cat(le32(1), le16(2), le16(2), le16(1), le16(0), str('/\0t\0')));
    refused(cat(header(1), ext, END), 24, /WATCH_DATA_EXTENDED needs stream version 2/);
  });

  test('big-endian flag and reserved flag bits', () => {
    refused(cat(header(2, 1), END), 12, /big-endian/);
    refused(cat(header(2, 2), END), 12, /reserved flag bits/);
  });

  test('a record body with trailing garbage', () => {
    const body = cat(le32(1), le32(2), str('junk'));
    refused(cat(header(), frame(RecType.TRANSACTION_DATA, body), END), 16 + 8 + 8, /4 unexplained trailing bytes/);
    // The same inside a NODE_DATA: one byte more than path and value explain.
    const node = cat(le32(0), le32(0), le16(2), le16(1), le16(0), le16(1), str('n\0'), le16(0), str('/\0'), str('v'), str('!'));
    refused(cat(header(), frame(RecType.NODE_DATA, node), END), 16 + 8 + node.length - 1, /1 unexplained trailing bytes/);
  });

  test('END with a body', () => {
    refused(cat(header(), frame(0, str('x'))), 16, /END record with a body/);
  });

  test('a node path without its NUL (or with one inside)', () => {
    const pathAt = 16 + 8 + 16 + 4; // header, record header, fixed fields, one perm
    const noNul = cat(le32(0), le32(0), le16(3), le16(0), le16(0), le16(1), str('n\0'), le16(0), str('/ab'));
    refused(cat(header(), frame(RecType.NODE_DATA, noNul), END), pathAt, /path is not one NUL-terminated string/);
    const inner = cat(le32(0), le32(0), le16(4), le16(0), le16(0), le16(1), str('n\0'), le16(0), str('/a\0b'));
    refused(cat(header(), frame(RecType.NODE_DATA, inner), END), pathAt, /path is not one NUL-terminated string/);
    const zeroLen = cat(le32(0), le32(0), le16(0), le16(0), le16(0), le16(1), str('n\0'), le16(0));
    refused(cat(header(), frame(RecType.NODE_DATA, zeroLen), END), pathAt, /path has length 0/);
  });

  test('a relative node path', () => {
    const rel = cat(le32(0), le32(0), le16(3), le16(0), le16(0), le16(1), str('n\0'), le16(0), str('ab\0'));
    refused(cat(header(), frame(RecType.NODE_DATA, rel), END), 16 + 8 + 16 + 4, /not absolute/);
  });

  test('a committed node without permissions (and a bad permission letter)', () => {
    const noPerms = cat(le32(0), le32(0), le16(4), le16(0), le16(0), le16(0), str('/ab\0'));
    refused(cat(header(), frame(RecType.NODE_DATA, noPerms), END), 16 + 8 + 16, /committed node \/ab has no permissions/);
    const badLetter = cat(le32(0), le32(0), le16(2), le16(0), le16(0), le16(1), str('x\0'), le16(0), str('/\0'));
    refused(cat(header(), frame(RecType.NODE_DATA, badLetter), END), 16 + 8 + 16, /bad permission letter "x"/);
  });

  test('a value longer than its record', () => {
    const body = cat(le32(0), le32(0), le16(2), le16(50), le16(0), le16(1), str('n\0'), le16(0), str('/\0'), str('short'));
    refused(cat(header(), frame(RecType.NODE_DATA, body), END), 16 + 8 + 16 + 4 + 2, /record too short for value/);
  });

  test('a quota name list without its final NUL', () => {
    const body = cat(le16(0), le16(2), le32(1), le32(2), str('nodes\0watch'));
    refused(cat(header(), frame(RecType.GLOBAL_QUOTA_DATA, body), END), 16 + 8 + 4 + 8 + 6, /quota name 2 is not NUL-terminated/);
  });

  test('conn-id 0 and unknown connection types', () => {
    const zero = cat(le32(0), le16(1), le16(0), le32(5), le32(0), le16(0), le16(0), le32(0));
    refused(cat(header(), frame(RecType.CONNECTION_DATA, zero), END), undefined, /conn-id 0 is reserved/);
    const kind = cat(le32(1), le16(7), le16(0), le32(5), le32(0), le16(0), le16(0), le32(0));
    refused(cat(header(), frame(RecType.CONNECTION_DATA, kind), END), 16 + 8 + 4, /unknown connection type 7/);
  });

  test('a watch for an unknown connection is refused', () => {
    const recs = decodeStream(encodeStream([{ type: 'watch', connId: 42, path: '/a', token: 't', depth: undefined }, ...sample.slice(-2)])).records;
    assert.throws(() => restoreState(recs), (e: unknown) => e instanceof StreamError && /watch for unknown connection 42/.test(e.message));
    const txn = decodeStream(encodeStream([{ type: 'transaction', connId: 42, txId: 1 }, ...sample.slice(-2)])).records;
    assert.throws(() => restoreState(txn), (e: unknown) => e instanceof StreamError && /transaction for unknown connection 42/.test(e.message));
  });

  test(
    'a watch for an unknown connection is refused with the byte offset of that watch record',
    () => {
      const good: StreamRecord[] = [{ type: 'global', rwSocketFd: -1, evtchnFd: -1 }];
      const at = encodeStream(good).length - 8; // where the next record starts (before END)
      const buf = encodeStream([...good, { type: 'watch', connId: 42, path: '/a', token: 't', depth: undefined }, ...sample.slice(-2)]);
      let err: unknown;
      try {
        restoreState(decodeStream(buf).records);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof StreamError);
      assert.equal(err.offset, at, err.message);
    },
  );
});
