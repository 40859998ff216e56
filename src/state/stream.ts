/**
 * The XenStore state stream of docs/designs/xenstore-migration.md (version 2):
 * an 8-byte "xenstore" ident, version and flags (big-endian), then records
 * {type, len, body, padding to 8} in little-endian. Pure encode/decode; a
 * malformed stream is refused with the byte offset and the reason.
 */
import type { Perm, PermKind } from '../store/perms.js';

export const STREAM_VERSION = 2;
const IDENT = Buffer.from('xenstore', 'latin1');

export const RecType = {
  END: 0,
  GLOBAL_DATA: 1,
  CONNECTION_DATA: 2,
  WATCH_DATA: 3,
  TRANSACTION_DATA: 4,
  NODE_DATA: 5,
  GLOBAL_QUOTA_DATA: 6,
  DOMAIN_DATA: 7,
  WATCH_DATA_EXTENDED: 8,
} as const;

export const DOMID_INVALID = 0x7ff4;
export const ACCESS_READ = 1;
export const ACCESS_WRITE = 2;

export type Record =
  | { readonly type: 'global'; readonly rwSocketFd: number; readonly evtchnFd: number }
  | {
      readonly type: 'connection';
      readonly connId: number;
      readonly flags: number;
      readonly spec: { readonly kind: 'ring'; readonly domid: number; readonly tdomid: number; readonly evtchn: number } | { readonly kind: 'socket'; readonly fd: number };
      readonly inData: Buffer;
      readonly outRespLen: number;
      readonly outData: Buffer;
    }
  | { readonly type: 'watch'; readonly connId: number; readonly path: string; readonly token: string; readonly depth: number | undefined }
  | { readonly type: 'transaction'; readonly connId: number; readonly txId: number }
  | {
      readonly type: 'node';
      readonly connId: number;
      readonly txId: number;
      readonly path: string;
      readonly value: Buffer;
      readonly access: number;
      /** Empty for a node deleted in a pending transaction. */
      readonly perms: readonly Perm[];
    }
  | { readonly type: 'global-quota'; readonly perDomain: ReadonlyArray<[string, number]>; readonly global: ReadonlyArray<[string, number]> }
  | { readonly type: 'domain'; readonly domid: number; readonly features: number; readonly quotas: ReadonlyArray<[string, number]> };

/** The stream is not a valid state stream: `offset` is where reading failed. */
export class StreamError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(`state stream, byte ${offset}: ${reason}`);
    this.name = 'StreamError';
  }
}

// ---- encoding ----------------------------------------------------------------

class Writer {
  private chunks: Buffer[] = [];
  private len = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.len += b.length;
  }
  get length(): number {
    return this.len;
  }
  take(): Buffer {
    return Buffer.concat(this.chunks, this.len);
  }
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v & 0xffff);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v | 0);
  return b;
}
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');

function quotaBody(entries: ReadonlyArray<[string, number]>): Buffer[] {
  return [...entries.map(([, v]) => u32(v)), ...entries.map(([n]) => cstr(n))];
}

function encodeBody(r: Record): { type: number; body: Buffer } {
  const parts: Buffer[] = [];
  let type: number;
  switch (r.type) {
    case 'global':
      type = RecType.GLOBAL_DATA;
      parts.push(i32(r.rwSocketFd), i32(r.evtchnFd));
      break;
    case 'connection': {
      type = RecType.CONNECTION_DATA;
      parts.push(u32(r.connId), u16(r.spec.kind === 'ring' ? 0 : 1), u16(r.flags));
      if (r.spec.kind === 'ring') parts.push(u16(r.spec.domid), u16(r.spec.tdomid), u32(r.spec.evtchn));
      else parts.push(i32(r.spec.fd), u32(0));
      parts.push(u16(r.inData.length), u16(r.outRespLen), u32(r.outData.length), r.inData, r.outData);
      break;
    }
    case 'watch':
      type = r.depth === undefined ? RecType.WATCH_DATA : RecType.WATCH_DATA_EXTENDED;
      parts.push(u32(r.connId), u16(r.path.length + 1), u16(r.token.length + 1));
      if (r.depth !== undefined) parts.push(u16(Math.min(r.depth, 0xffff)), u16(0));
      parts.push(cstr(r.path), cstr(r.token));
      break;
    case 'transaction':
      type = RecType.TRANSACTION_DATA;
      parts.push(u32(r.connId), u32(r.txId));
      break;
    case 'node': {
      type = RecType.NODE_DATA;
      parts.push(u32(r.connId), u32(r.txId), u16(r.path.length + 1), u16(r.value.length), u16(r.access), u16(r.perms.length));
      for (const p of r.perms) {
        const b = Buffer.alloc(4);
        b[0] = p.kind.charCodeAt(0);
        b.writeUInt16LE(p.domid, 2);
        parts.push(b);
      }
      parts.push(cstr(r.path), r.value);
      break;
    }
    case 'global-quota':
      type = RecType.GLOBAL_QUOTA_DATA;
      parts.push(u16(r.perDomain.length), u16(r.global.length), ...quotaBody([...r.perDomain, ...r.global]));
      break;
    case 'domain':
      type = RecType.DOMAIN_DATA;
      parts.push(u16(r.domid), u16(r.quotas.length), u32(r.features), ...quotaBody(r.quotas));
      break;
  }
  return { type, body: Buffer.concat(parts) };
}

function header(): Buffer {
  const h = Buffer.alloc(16);
  IDENT.copy(h, 0);
  h.writeUInt32BE(STREAM_VERSION, 8);
  h.writeUInt32BE(0, 12); // little-endian records
  return h;
}

function frame(type: number, body: Buffer): Buffer {
  const pad = (8 - (body.length % 8)) % 8;
  const out = Buffer.alloc(8 + body.length + pad);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(body.length, 4);
  body.copy(out, 8);
  return out;
}

export function encodeRecord(r: Record): Buffer {
  const { type, body } = encodeBody(r);
  return frame(type, body);
}

/** A whole stream: header, the records, END. */
export function encodeStream(records: Iterable<Record>): Buffer {
  const w = new Writer();
  w.push(header());
  for (const r of records) w.push(encodeRecord(r));
  w.push(frame(RecType.END, Buffer.alloc(0)));
  return w.take();
}

// ---- decoding ----------------------------------------------------------------

class Reader {
  constructor(
    private readonly b: Buffer,
    private pos: number,
    private readonly end: number,
  ) {}
  get offset(): number {
    return this.pos;
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new StreamError(this.pos, `record too short for ${what}`);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.b.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.b.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.b.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = Buffer.from(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return v;
  }
  cstr(n: number, what: string): string {
    if (n === 0) throw new StreamError(this.pos, `${what} has length 0 (the NUL must be counted)`);
    const v = this.bytes(n, what);
    if (v[n - 1] !== 0 || v.indexOf(0) !== n - 1) throw new StreamError(this.pos - n, `${what} is not one NUL-terminated string`);
    return v.toString('latin1', 0, n - 1);
  }
  names(count: number, what: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const rest = this.b.subarray(this.pos, this.end);
      const nul = rest.indexOf(0);
      if (nul < 0) throw new StreamError(this.pos, `${what} ${i + 1} is not NUL-terminated`);
      out.push(this.cstr(nul + 1, what));
    }
    return out;
  }
}

const KINDS = new Set(['n', 'r', 'w', 'b']);

function decodeBody(type: number, r: Reader, version: number): Record | undefined {
  switch (type) {
    case RecType.GLOBAL_DATA:
      return { type: 'global', rwSocketFd: r.i32('rw-socket-fd'), evtchnFd: r.i32('evtchn-fd') };
    case RecType.CONNECTION_DATA: {
      const connId = r.u32('conn-id');
      const kind = r.u16('conn-type');
      const flags = r.u16('flags');
      let spec: Extract<Record, { type: 'connection' }>['spec'];
      if (kind === 0) spec = { kind: 'ring', domid: r.u16('domid'), tdomid: r.u16('tdomid'), evtchn: r.u32('evtchn') };
      else if (kind === 1) {
        spec = { kind: 'socket', fd: r.i32('socket-fd') };
        r.u32('pad');
      } else throw new StreamError(r.offset - 4, `unknown connection type ${kind}`);
      const inLen = r.u16('in-data-len');
      const outRespLen = r.u16('out-resp-len');
      const outLen = r.u32('out-data-len');
      if (connId === 0) throw new StreamError(r.offset, 'conn-id 0 is reserved');
      return { type: 'connection', connId, flags, spec, inData: r.bytes(inLen, 'in-data'), outRespLen, outData: r.bytes(outLen, 'out-data') };
    }
    case RecType.WATCH_DATA:
    case RecType.WATCH_DATA_EXTENDED: {
      if (type === RecType.WATCH_DATA_EXTENDED && version < 2) throw new StreamError(r.offset, 'WATCH_DATA_EXTENDED needs stream version 2');
      const connId = r.u32('conn-id');
      const pl = r.u16('wpath-len');
      const tl = r.u16('token-len');
      let depth: number | undefined;
      if (type === RecType.WATCH_DATA_EXTENDED) {
        const d = r.u16('depth');
        r.u16('pad');
        depth = d === 0xffff ? undefined : d;
      }
      return { type: 'watch', connId, path: r.cstr(pl, 'wpath'), token: r.cstr(tl, 'token'), depth };
    }
    case RecType.TRANSACTION_DATA:
      return { type: 'transaction', connId: r.u32('conn-id'), txId: r.u32('tx-id') };
    case RecType.NODE_DATA: {
      const connId = r.u32('conn-id');
      const txId = r.u32('tx-id');
      const pl = r.u16('path-len');
      const vl = r.u16('value-len');
      const access = r.u16('access');
      const n = r.u16('perm-count');
      const perms: Perm[] = [];
      for (let i = 0; i < n; i++) {
        const at = r.offset;
        const kind = String.fromCharCode(r.u16('perm') & 0xff);
        if (!KINDS.has(kind)) throw new StreamError(at, `bad permission letter ${JSON.stringify(kind)}`);
        perms.push({ kind: kind as PermKind, domid: r.u16('perm domid') });
      }
      const path = r.cstr(pl, 'path');
      if (!path.startsWith('/')) throw new StreamError(r.offset - pl, `node path ${JSON.stringify(path)} is not absolute`);
      if (connId === 0 && perms.length === 0) throw new StreamError(r.offset - pl, `committed node ${path} has no permissions`);
      return { type: 'node', connId, txId, path, value: r.bytes(vl, 'value'), access, perms };
    }
    case RecType.GLOBAL_QUOTA_DATA: {
      const nd = r.u16('n-dom-quota');
      const ng = r.u16('n-glob-quota');
      const vals: number[] = [];
      for (let i = 0; i < nd + ng; i++) vals.push(r.u32('quota-val'));
      const names = r.names(nd + ng, 'quota name');
      const pairs = names.map((nm, i): [string, number] => [nm, vals[i]!]);
      return { type: 'global-quota', perDomain: pairs.slice(0, nd), global: pairs.slice(nd) };
    }
    case RecType.DOMAIN_DATA: {
      const domid = r.u16('domain-id');
      const nq = r.u16('n-quota');
      const features = r.u32('features');
      const vals: number[] = [];
      for (let i = 0; i < nq; i++) vals.push(r.u32('quota-val'));
      const names = r.names(nq, 'quota name');
      return { type: 'domain', domid, features, quotas: names.map((nm, i): [string, number] => [nm, vals[i]!]) };
    }
    default:
      return undefined; // unknown types are reserved for future use: skipped
  }
}

const offsets = new WeakMap<Record, number>();

/** Where a record decoded by decodeStream started in its stream (for error messages). */
export function recordOffset(r: Record): number | undefined {
  return offsets.get(r);
}

/** Decodes a whole stream; throws StreamError unless it is complete and well formed. */
export function decodeStream(buf: Buffer): { version: number; records: Record[] } {
  if (buf.length < 16) throw new StreamError(0, 'shorter than the 16-byte header');
  if (!buf.subarray(0, 8).equals(IDENT)) throw new StreamError(0, 'missing the "xenstore" ident: not a state stream');
  const version = buf.readUInt32BE(8);
  if (version !== 1 && version !== 2) throw new StreamError(8, `unsupported version ${version} (1 or 2 expected)`);
  const flags = buf.readUInt32BE(12);
  if ((flags & 1) !== 0) throw new StreamError(12, 'big-endian streams are not supported');
  if ((flags & ~1) !== 0) throw new StreamError(12, `reserved flag bits set (0x${flags.toString(16)})`);
  const records: Record[] = [];
  let pos = 16;
  for (;;) {
    if (pos + 8 > buf.length) throw new StreamError(pos, 'truncated: no END record');
    const type = buf.readUInt32LE(pos);
    const len = buf.readUInt32LE(pos + 4);
    const bodyStart = pos + 8;
    const next = bodyStart + len + ((8 - (len % 8)) % 8);
    if (bodyStart + len > buf.length) throw new StreamError(pos, `truncated record of type ${type} (${len} bytes announced)`);
    if (type === RecType.END) {
      if (len !== 0) throw new StreamError(pos, 'END record with a body');
      return { version, records };
    }
    const r = new Reader(buf, bodyStart, bodyStart + len);
    const rec = decodeBody(type, r, version);
    if (rec !== undefined) {
      if (r.offset !== bodyStart + len) throw new StreamError(r.offset, `record of type ${type} has ${bodyStart + len - r.offset} unexplained trailing bytes`);
      offsets.set(rec, pos);
      records.push(rec);
    }
    pos = Math.min(next, buf.length);
  }
}
