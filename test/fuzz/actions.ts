/**
 * The fuzzer's input language and its generators.
 *
 * A fuzz case is a JSON-serialisable list of steps, each fed to one of the
 * in-process daemon's connections. Steps are symbolic where the daemon's state
 * matters (a transaction id is "the k-th live transaction of this connection",
 * "a live one of another connection", "one it ended before" or a raw number),
 * so that generated sequences keep hitting live transactions; they are resolved
 * when the case runs, deterministically, so a saved case replays exactly.
 *
 * Structure-aware: most steps are valid requests (every message type, with
 * arguments drawn from small vocabularies of paths, values, tokens and
 * permissions so that they collide) whose bytes are then maybe mutated (a byte
 * flipped, the payload truncated, the header's length or type changed, the
 * final NUL dropped, junk appended). Some steps are raw random bytes. Every
 * step's bytes are split at random chunk boundaries, and part of them may be
 * held back and sent with the connection's next step, so frames straddle
 * chunks and interleave with other connections' traffic.
 */
import fc from 'fast-check';
import { Op } from '../../src/protocol/op.js';

/** Connections of a fuzz world: two dom0 sockets, and three guest domains (1, 2, 3). */
export const CONNS = [
  { domid: 0, privileged: true },
  { domid: 0, privileged: true },
  { domid: 1, privileged: false },
  { domid: 2, privileged: false },
  { domid: 3, privileged: false },
] as const;

export type TxRef =
  | { readonly t: 'zero' }
  /** The i-th (mod count) live transaction of the sending connection; 0 if none. */
  | { readonly t: 'live'; readonly i: number }
  /** A transaction id the sending connection used before (maybe ended); 0 if none. */
  | { readonly t: 'stale'; readonly i: number }
  /** A live transaction id of another connection; 0 if none. */
  | { readonly t: 'other'; readonly i: number }
  /** The sending connection's most recently started live transaction; 0 if none. */
  | { readonly t: 'newest' }
  | { readonly t: 'raw'; readonly v: number };

export type Mutation =
  /** XOR the byte at permille position `at` of the whole frame (header included) with `x`. */
  | { readonly m: 'flip'; readonly at: number; readonly x: number }
  /** Cut the payload to permille `to` of its length (the header announces the cut length). */
  | { readonly m: 'trunc'; readonly to: number }
  /** The header announces `delta` more (or fewer) payload bytes than follow. */
  | { readonly m: 'len'; readonly delta: number }
  | { readonly m: 'type'; readonly v: number }
  /** Remove the payload's last byte if it is a NUL. */
  | { readonly m: 'dropnul' }
  /** Append bytes to the payload (the header says so). */
  | { readonly m: 'append'; readonly hex: string };

export type Step =
  | {
      readonly k: 'frame';
      readonly c: number;
      readonly op: number;
      readonly tx: TxRef;
      /** NUL-terminated string arguments (latin1). */
      readonly args: readonly string[];
      /** Raw bytes after the arguments, hex (WRITE's value). */
      readonly raw?: string;
      readonly req: number;
      readonly mut?: Mutation;
      /** Cut points, permille of the step's bytes. */
      readonly split: readonly number[];
      /** Permille of the bytes held back for the connection's next step. */
      readonly hold: number;
    }
  | { readonly k: 'bytes'; readonly c: number; readonly hex: string; readonly split: readonly number[]; readonly hold: number }
  /**
   * A transaction's worth of requests in one go: maybe TRANSACTION_START, then
   * data requests in the newest transaction, then maybe TRANSACTION_END (T or F).
   * Left open, it meets other connections' commits before a later end.
   */
  | { readonly k: 'batch'; readonly c: number; readonly start: boolean; readonly ops: readonly BatchOp[]; readonly end: 'T' | 'F' | 'none' }
  /** The peer stops reading its output (the transport's backlog grows) for the next `n` steps. */
  | { readonly k: 'stall'; readonly c: number; readonly n: number }
  /** The peer reads everything again. */
  | { readonly k: 'unstall'; readonly c: number }
  /** The peer closes its connection (a socket closed; a guest resetting its ring) and comes back. */
  | { readonly k: 'reconnect'; readonly c: number };

export interface BatchOp {
  readonly op: number;
  readonly args: readonly string[];
  readonly raw?: string;
}

export interface FuzzCase {
  readonly version: 1;
  readonly steps: readonly Step[];
}

// ---- vocabularies ------------------------------------------------------------

const SEGMENTS = ['a', 'b', 'c', 'data', 'device', 'x', 'vif', '0', '1', 'state', 'name'];

/** Where guests may write: their data/ and device/ (absolute or relative) and /tool/shared. */
const WRITABLE = ['data', 'device', '/tool/shared', '/local/domain/1/data', '/local/domain/2/data', '/local/domain/3/data', '/local/domain/1/device'];

const pathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...WRITABLE), fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 3 })).map(([base, rest]) => [base, ...rest].join('/')) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('/local/domain/0', '/local/domain/1', '/local/domain/2', '/local/domain/3', '/tool', '/vm', '/local'), fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 4 })).map(([base, rest]) => [base, ...rest].join('/')) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 4 }).map((s) => s.join('/')) },
  { weight: 1, arbitrary: fc.constantFrom('/', '/local/domain', '@introduceDomain', '@releaseDomain', '@other', '/local/domain/1/data', 'data') },
  { weight: 1, arbitrary: fc.constantFrom('', '//', 'a/', '/a//b', '/a/', 'a b', '/\u00e9', '@', '/@x', '/local/domain/1/data/' + 'q'.repeat(130)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

const valueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('', '0', '1', 'x', 'hello', 'Initialising') },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('hex')).map((h) => Buffer.from(h, 'hex').toString('latin1')) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 300 }).map((n) => 'v'.repeat(n)) },
);

const tokenArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('t0', 't1', 't2', 'tok', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  // Long tokens: with long paths, watch events near the protocol's 4096-byte limit.
  { weight: 1, arbitrary: fc.integer({ min: 3800, max: 4070 }).map((n) => 'T'.repeat(n)) },
);

const domidArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('0', '1', '2', '3', '4') },
  { weight: 1, arbitrary: fc.constantFrom('', '-1', '32752', '65535', '99999', 'x', '01') },
);

const permArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(fc.constantFrom('n', 'r', 'w', 'b'), fc.constantFrom('0', '1', '2', '3', '4')).map(([k, d]) => k + d) },
  { weight: 1, arbitrary: fc.constantFrom('x1', 'r', 'n65536', 'b-1', '', 'r01') },
);

/** Quota names dom0 may change: not the counting quotas (nodes, watches, transactions) the invariants check. */
const settableQuota = fc.constantFrom('outstanding', 'node-size', 'path-max', 'permissions', 'node-permissions', 'transaction-nodes');
const anyQuota = fc.constantFrom('nodes', 'watches', 'transactions', 'outstanding', 'transaction-nodes', 'permissions', 'node-permissions', 'path-max', 'node-size', 'bogus');

/** CONTROL commands that neither write files nor change global settings. */
const controlArgs: fc.Arbitrary<readonly string[]> = fc.oneof<fc.Arbitrary<readonly string[]>[]>(
  fc.constant(['check']),
  fc.constant(['help']),
  fc.constant(['quota']),
  domidArb.map((d) => ['quota', d]),
  fc.constant(['memreport']),
  fc.constant(['quota-soft']),
  fc.constant(['log', 'off']),
  fc.string({ maxLength: 6 }).map((s) => ['print', s]),
  pathArb.map((p) => ['history', 'log', p]),
  fc.constantFrom(['history', 'diff', '0', '1'], ['history', 'read', '0', '/'], ['nonsense'], ['log', 'maybe'], []),
);

/** Arguments (and raw tail) for each message type: mostly what the type expects, sometimes anything. */
function argsFor(op: number): fc.Arbitrary<{ args: readonly string[]; raw?: string }> {
  const a = (arb: fc.Arbitrary<readonly string[]>): fc.Arbitrary<{ args: readonly string[] }> => arb.map((args) => ({ args }));
  switch (op) {
    case Op.READ:
    case Op.MKDIR:
    case Op.RM:
    case Op.DIRECTORY:
    case Op.GET_PERMS:
      return a(pathArb.map((p) => [p]));
    case Op.WRITE:
      return fc.tuple(pathArb, valueArb).map(([p, v]) => ({ args: [p], raw: Buffer.from(v, 'latin1').toString('hex') }));
    case Op.DIRECTORY_PART:
      return a(fc.tuple(pathArb, fc.constantFrom('0', '1', '2', '5', '4095', 'x')).map(([p, o]) => [p, o]));
    case Op.SET_PERMS:
      return a(fc.tuple(pathArb, fc.array(permArb, { minLength: 1, maxLength: 6 })).map(([p, ps]) => [p, ...ps]));
    case Op.WATCH:
      return a(fc.tuple(pathArb, tokenArb, fc.option(fc.constantFrom('0', '1', '2', 'x'), { nil: undefined })).map(([p, t, d]) => (d === undefined ? [p, t] : [p, t, d])));
    case Op.UNWATCH:
      return a(fc.tuple(pathArb, tokenArb).map(([p, t]) => [p, t]));
    case Op.TRANSACTION_START:
      return a(fc.constantFrom([''], [], ['x']));
    case Op.TRANSACTION_END:
      return a(fc.constantFrom(['T'], ['T'], ['T'], ['F'], ['X'], []));
    case Op.INTRODUCE:
      return a(fc.tuple(domidArb, fc.constantFrom('1', '0', '-5', '123456789012'), fc.constantFrom('1', '2', '0', '7')).map(([d, m, p]) => [d, m, p]));
    case Op.RELEASE:
    case Op.GET_DOMAIN_PATH:
    case Op.IS_DOMAIN_INTRODUCED:
    case Op.RESUME:
      return a(domidArb.map((d) => [d]));
    case Op.SET_TARGET:
      return a(fc.tuple(domidArb, domidArb).map(([d, t]) => [d, t]));
    case Op.RESET_WATCHES:
      return a(fc.constant([]));
    case Op.GET_FEATURE:
      return a(fc.oneof<fc.Arbitrary<readonly string[]>[]>(fc.constant([]), domidArb.map((d) => [d])));
    case Op.SET_FEATURE:
      return a(fc.tuple(domidArb, fc.constantFrom('0', '1', '7', '8')).map(([d, m]) => [d, m]));
    case Op.GET_QUOTA:
      return a(fc.oneof<fc.Arbitrary<readonly string[]>[]>(fc.constant([]), anyQuota.map((q) => [q]), fc.tuple(domidArb, anyQuota).map(([d, q]) => [d, q])));
    case Op.SET_QUOTA:
      return a(fc.tuple(domidArb, settableQuota, fc.constantFrom('0', '1', '3', '100', '5000')).map(([d, q, v]) => [d, q, v]));
    case Op.CONTROL:
      return a(controlArgs);
    default:
      return a(fc.array(fc.oneof(pathArb, valueArb), { maxLength: 3 }));
  }
}

/** Transaction references: `zero` and `live` weighted as given, the odd ones rarely. */
function txArb(zero: number, live: number): fc.Arbitrary<TxRef> {
  return fc.oneof(
    { weight: zero, arbitrary: fc.constant<TxRef>({ t: 'zero' }) },
    { weight: live, arbitrary: fc.nat(7).map((i): TxRef => ({ t: 'live', i })) },
    { weight: 1, arbitrary: fc.nat(7).map((i): TxRef => ({ t: 'stale', i })) },
    { weight: 1, arbitrary: fc.nat(7).map((i): TxRef => ({ t: 'other', i })) },
    { weight: 1, arbitrary: fc.constantFrom(1, 2, 0xffff_ffff, 0x8000_0000).map((v): TxRef => ({ t: 'raw', v })) },
  );
}

/** TRANSACTION_START wants tx 0, TRANSACTION_END a live one; data operations either. */
function txFor(op: number): fc.Arbitrary<TxRef> {
  if (op === Op.TRANSACTION_START) return txArb(20, 1);
  if (op === Op.TRANSACTION_END) return txArb(1, 20);
  return txArb(10, 8);
}

/** Mutations; those that desynchronise the stream (a wrong length) are rarer, as they end a connection's usefulness. */
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ m: fc.constant('flip' as const), at: fc.integer({ min: 400, max: 999 }), x: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('flip' as const), at: fc.nat(399), x: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('trunc' as const), to: fc.nat(999) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('len' as const), delta: fc.oneof(fc.integer({ min: -8, max: 8 }), fc.constantFrom(4097, 100_000, -100_000)) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('type' as const), v: fc.oneof(fc.nat(30), fc.constantFrom(255, 0xffff_ffff)) }) },
  { weight: 2, arbitrary: fc.constant<Mutation>({ m: 'dropnul' }) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b): Mutation => ({ m: 'append', hex: Buffer.from(b).toString('hex') })) },
);

/** Every message type, weighted towards the data operations and transactions. */
const opArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(Op.WRITE) },
  { weight: 6, arbitrary: fc.constantFrom(Op.RM, Op.MKDIR, Op.SET_PERMS) },
  { weight: 3, arbitrary: fc.constantFrom(Op.READ, Op.DIRECTORY, Op.GET_PERMS) },
  { weight: 6, arbitrary: fc.constantFrom(Op.TRANSACTION_START, Op.TRANSACTION_START, Op.TRANSACTION_START, Op.TRANSACTION_END, Op.TRANSACTION_END) },
  { weight: 4, arbitrary: fc.constantFrom(Op.WATCH, Op.WATCH, Op.UNWATCH, Op.WATCH, Op.UNWATCH, Op.RESET_WATCHES) },
  { weight: 2, arbitrary: fc.constantFrom(Op.INTRODUCE, Op.RELEASE, Op.SET_TARGET, Op.GET_DOMAIN_PATH, Op.IS_DOMAIN_INTRODUCED, Op.RESUME) },
  { weight: 2, arbitrary: fc.constantFrom(Op.DIRECTORY_PART, Op.CONTROL, Op.GET_QUOTA, Op.SET_QUOTA, Op.GET_FEATURE, Op.SET_FEATURE) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom(Op.WATCH_EVENT, Op.ERROR, Op.RESTRICT), fc.integer({ min: 27, max: 40 }), fc.constant(0xffff_ffff)) },
);

const splitArb = fc.array(fc.nat(1000), { maxLength: 3 });
const holdArb = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(1000) });
/** dom0's first connection and the first two guests carry most of the traffic, so that their state gets rich. */
const connArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 2, 3) }, { weight: 1, arbitrary: fc.constantFrom(1, 4) });

const frameStep: fc.Arbitrary<Step> = fc
  .tuple(connArb, opArb, fc.nat(0xffff), fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: mutationArb }), splitArb, holdArb)
  .chain(([c, op, req, mut, split, hold]) =>
    fc.tuple(argsFor(op), txFor(op)).map(([x, tx]): Step => ({ k: 'frame', c, op, tx, args: x.args, ...(x.raw === undefined ? {} : { raw: x.raw }), req, ...(mut === undefined ? {} : { mut }), split, hold })),
  );

/** Raw bytes: a plausible header (small type and length) with random payload, or plain noise. */
const bytesStep: fc.Arbitrary<Step> = fc
  .tuple(
    connArb,
    fc.oneof(
      fc.tuple(fc.nat(30), fc.nat(0xffff), fc.nat(3), fc.uint8Array({ maxLength: 48 })).map(([type, req, tx, body]) => {
        const h = Buffer.alloc(16);
        h.writeUInt32LE(type, 0);
        h.writeUInt32LE(req, 4);
        h.writeUInt32LE(tx, 8);
        h.writeUInt32LE(body.length, 12);
        return Buffer.concat([h, Buffer.from(body)]).toString('hex');
      }),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('hex')),
    ),
    splitArb,
    holdArb,
  )
  .map(([c, hex, split, hold]): Step => ({ k: 'bytes', c, hex, split, hold }));

const batchOpArb: fc.Arbitrary<BatchOp> = fc
  .oneof(
    { weight: 6, arbitrary: fc.constant(Op.WRITE) },
    { weight: 2, arbitrary: fc.constantFrom(Op.RM, Op.MKDIR, Op.READ) },
    { weight: 1, arbitrary: fc.constantFrom(Op.SET_PERMS, Op.DIRECTORY, Op.GET_PERMS) },
  )
  .chain((op) => argsFor(op).map((x): BatchOp => ({ op, args: x.args, ...(x.raw === undefined ? {} : { raw: x.raw }) })));

const batchStep: fc.Arbitrary<Step> = fc
  .tuple(connArb, fc.boolean(), fc.array(batchOpArb, { minLength: 1, maxLength: 12 }), fc.constantFrom<'T' | 'F' | 'none'>('T', 'T', 'F', 'none', 'none'))
  .map(([c, start, ops, end]): Step => ({ k: 'batch', c, start, ops, end }));

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 40, arbitrary: frameStep },
  { weight: 10, arbitrary: batchStep },
  { weight: 2, arbitrary: bytesStep },
  { weight: 1, arbitrary: fc.tuple(connArb, fc.integer({ min: 1, max: 30 })).map(([c, n]): Step => ({ k: 'stall', c, n })) },
  { weight: 1, arbitrary: connArb.map((c): Step => ({ k: 'unstall', c })) },
  { weight: 1, arbitrary: connArb.map((c): Step => ({ k: 'reconnect', c })) },
);

/** Cases of up to `maxSteps` steps. */
export function caseArb(maxSteps: number): fc.Arbitrary<FuzzCase> {
  return fc.array(stepArb, { minLength: 1, maxLength: maxSteps, size: 'max' }).map((steps): FuzzCase => ({ version: 1, steps }));
}
