/**
 * Model-based test: random interleavings of requests and transactions on 3-4
 * dom0 connections, run against the real Daemon core (in process) and against
 * the naive model of ./model.ts. After every request it compares: the reply
 * (header echo, type, payload bytes: values, sorted child lists, perms,
 * errno names, transaction ids), the watch events every connection received
 * during that request (so events of a transaction must come exactly with its
 * successful commit, never before, never for an abort or EAGAIN), that no
 * event precedes the reply that caused it, daemon.check() == [], the whole
 * tree (paths, values, perms) against the model's live map, and each
 * connection's open transactions and watches. At the end of a run every
 * transaction still open is committed, and all of that is checked again.
 *
 * Commit comparison (the daemon may commit MORE than the model, never less):
 *  - model has no conflict          -> the daemon must commit; states must agree;
 *  - model conflict, daemon commits -> allowed only if the transaction is
 *    read-only or a replay of its requests on the model's live map at commit
 *    time gives every answer the client saw (then the model applies the replay);
 *  - model conflict, daemon EAGAIN  -> fine, unless replay would have matched
 *    (the daemon documents that it commits then).
 *
 * Reproduce a failure with FC_SEED=<seed> FC_PATH=<path> (printed by fast-check);
 * FC_RUNS=<n> changes the number of runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import { Op, opName } from '../../src/protocol/op.js';
import {
  Harness,
  describe as describeFrame,
  dumpStore,
  parseEvent,
  pathValue,
  payload,
  type Client,
  type OutFrame,
} from '../helpers/inproc.js';
import {
  answersEqual,
  diffTrees,
  Model,
  treeProblems,
  type Answer,
  type DataReq,
  type Event,
  type MTxn,
  type Tree,
} from './model.js';

// ---- scenarios ----------------------------------------------------------------------

/** Which transaction a request names: none (tx_id 0), one of the connection's open ones, or an ended one. */
type TxSel = { readonly k: 'none' } | { readonly k: 'open' | 'stale'; readonly i: number };

type Step =
  | { readonly kind: 'data'; readonly c: number; readonly tx: TxSel; readonly req: DataReq }
  | { readonly kind: 'start'; readonly c: number; readonly tx: TxSel }
  | { readonly kind: 'end'; readonly c: number; readonly tx: TxSel; readonly commit: boolean }
  | { readonly kind: 'watch' | 'unwatch'; readonly c: number; readonly tx: TxSel; readonly path: string; readonly token: string };

interface Scenario {
  readonly conns: number;
  readonly steps: readonly Step[];
}

const NONE: TxSel = { k: 'none' };

const comp = fc.constantFrom('a', 'b', 'c');
function pathsArb(withRoot: boolean): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 30, arbitrary: fc.array(comp, { minLength: 1, maxLength: 3 }).map((cs) => `/t/${cs.join('/')}`) },
    { weight: 3, arbitrary: fc.constant('/t') },
    // a second top-level tree: transactions touching both have two regions (Transaction.regions)
    { weight: 8, arbitrary: fc.array(comp, { minLength: 1, maxLength: 2 }).map((cs) => `/u/${cs.join('/')}`) },
    // the root, relative paths (under /local/domain/0), and malformed ones (EINVAL)
    { weight: 1, arbitrary: fc.constantFrom(...(withRoot ? ['/'] : []), 'x', 'x/a') },
    { weight: 1, arbitrary: fc.constantFrom('', '/t/', 't//a', '/t/a b', '/t//a') },
  );
}
const pathArb = pathsArb(true);

const valueArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('', 'v', 'w', 'x\0y', '\xff\xfe\x00').map((s) => Buffer.from(s, 'latin1')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((u) => Buffer.from(u)) },
);

const permsArb: fc.Arbitrary<readonly string[]> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<readonly string[]>(['n0'], ['r0'], ['b0', 'w5'], ['n5', 'r0'], ['w3', 'r1', 'n2'], ['r007'], ['n0', 'n0']) },
  { weight: 1, arbitrary: fc.constantFrom<readonly string[]>(['x1'], ['r'], [], ['n70000']) },
);

interface GenOptions {
  /** SET_PERMS may name the root. */
  readonly rootSetPerms: boolean;
}

function dataArb(o: GenOptions): fc.Arbitrary<DataReq> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('WRITE' as const), path: pathArb, value: valueArb }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('READ' as const), path: pathArb }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('DIRECTORY' as const), path: pathArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('MKDIR' as const, 'RM' as const), path: pathArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('GET_PERMS' as const), path: pathArb }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('SET_PERMS' as const), path: pathsArb(o.rootSetPerms), perms: permsArb }) },
  );
}

const connArb = fc.nat(3);
const openArb: fc.Arbitrary<TxSel> = fc.nat(9).map((i): TxSel => ({ k: 'open', i }));
const txSelArb: fc.Arbitrary<TxSel> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(NONE) },
  { weight: 6, arbitrary: openArb },
  { weight: 1, arbitrary: fc.nat(9).map((i): TxSel => ({ k: 'stale', i })) },
);

function stepArb(o: GenOptions): fc.Arbitrary<Step> {
  return fc.oneof(
    { weight: 14, arbitrary: fc.record({ kind: fc.constant('data' as const), c: connArb, tx: txSelArb, req: dataArb(o) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('start' as const),
        c: connArb,
        tx: fc.oneof({ weight: 15, arbitrary: fc.constant(NONE) }, { weight: 1, arbitrary: txSelArb }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('end' as const),
        c: connArb,
        tx: fc.oneof({ weight: 12, arbitrary: openArb }, { weight: 1, arbitrary: txSelArb }),
        commit: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constantFrom('watch' as const, 'unwatch' as const),
        c: connArb,
        tx: fc.oneof({ weight: 6, arbitrary: fc.constant(NONE) }, { weight: 1, arbitrary: txSelArb }),
        path: fc.constantFrom('/', '/t', '/t/a', '/t/b/a', '/t/c/c/c', 'x', '/local/domain/0/x/a'),
        token: fc.constantFrom('k1', 'k2'),
      }),
    },
  );
}

function scenarioArb(o: GenOptions): fc.Arbitrary<Scenario> {
  return fc.record({
    conns: fc.integer({ min: 3, max: 4 }),
    steps: fc.array(stepArb(o), { maxLength: 120, size: 'max' }),
  });
}

// ---- running a scenario on both ----------------------------------------------------

interface Coverage {
  runs: number;
  steps: number;
  commits: { naive: number; readOnly: number; replay: number; eagain: number };
  daemon: { 'read-only': number; swap: number; coalesce: number; replay: number; conflicts: number };
  events: number;
}

function newCoverage(): Coverage {
  return {
    runs: 0,
    steps: 0,
    commits: { naive: 0, readOnly: 0, replay: 0, eagain: 0 },
    daemon: { 'read-only': 0, swap: 0, coalesce: 0, replay: 0, conflicts: 0 },
    events: 0,
  };
}

function encodeData(req: DataReq): Buffer {
  switch (req.op) {
    case 'WRITE':
      return pathValue(req.path, req.value);
    case 'SET_PERMS':
      return payload(req.path, ...req.perms);
    default:
      return payload(req.path);
  }
}

function show(b: Buffer): string {
  return JSON.stringify(b.toString('latin1'));
}

function describeReq(req: DataReq): string {
  switch (req.op) {
    case 'WRITE':
      return `WRITE ${JSON.stringify(req.path)} ${show(req.value)}`;
    case 'SET_PERMS':
      return `SET_PERMS ${JSON.stringify(req.path)} ${req.perms.join(' ')}`;
    default:
      return `${req.op} ${JSON.stringify(req.path)}`;
  }
}

function describeAnswer(a: Answer): string {
  return describeFrame({ type: a.type, reqId: 0, txId: 0, payload: a.payload });
}

function eventKey(conn: number, path: string, token: string): string {
  return `c${conn}:${path}#${token}`;
}

class Mismatch extends Error {
  override name = 'Mismatch';
}

/** One scenario on a fresh daemon and a fresh model. */
class Run {
  readonly h = new Harness();
  readonly clients: Client[] = [];
  readonly model: Model;
  readonly transcript: string[] = [];

  constructor(
    readonly nconns: number,
    readonly cov: Coverage,
  ) {
    this.model = new Model(nconns);
    for (let i = 0; i < nconns; i++) this.clients.push(this.h.connect(0, true));
  }

  private fail(msg: string): never {
    throw new Mismatch(`${msg}\n--- requests so far (c<conn> <request> tx=<tx_id> -> <reply>) ---\n${this.transcript.join('\n')}`);
  }

  private client(c: number): Client {
    const cl = this.clients[c];
    if (cl === undefined) throw new Error(`no client ${c}`);
    return cl;
  }

  private txIdFor(c: number, sel: TxSel): number {
    const mc = this.model.conns[c]!;
    if (sel.k === 'none') return 0;
    if (sel.k === 'open') {
      const ids = [...mc.open.keys()].sort((a, b) => a - b);
      return ids.length === 0 ? 0 : ids[sel.i % ids.length]!;
    }
    return mc.ended.length === 0 ? 1000 + sel.i : mc.ended[sel.i % mc.ended.length]!;
  }

  step(s: Step): void {
    this.cov.steps++;
    const c = s.c % this.nconns;
    const txId = this.txIdFor(c, s.tx);
    let type: number;
    let body: Buffer;
    let label: string;
    switch (s.kind) {
      case 'data':
        type = Op[s.req.op];
        body = encodeData(s.req);
        label = describeReq(s.req);
        break;
      case 'start':
        type = Op.TRANSACTION_START;
        body = payload('');
        label = 'TRANSACTION_START';
        break;
      case 'end':
        type = Op.TRANSACTION_END;
        body = payload(s.commit ? 'T' : 'F');
        label = `TRANSACTION_END ${s.commit ? 'T' : 'F'}`;
        break;
      case 'watch':
      case 'unwatch':
        type = s.kind === 'watch' ? Op.WATCH : Op.UNWATCH;
        body = payload(s.path, s.token);
        label = `${opName(type)} ${s.path} ${s.token}`;
        break;
    }
    const line = `c${c} ${label} tx=${txId}`;

    // The daemon first (the model's commit decision depends on its answer).
    const reqId = this.client(c).send(type, body, txId);
    const frames = this.clients.map((cl) => cl.frames());
    const replies = frames[c]!.filter((f) => f.type !== Op.WATCH_EVENT);
    const reply = replies[0];
    if (replies.length !== 1 || reply === undefined) {
      this.transcript.push(`${line} -> ${replies.map(describeFrame).join(', ') || 'no reply'}`);
      this.fail(`expected exactly one reply`);
    }
    const got: Answer = { type: reply.type, payload: reply.payload };
    this.transcript.push(`${line} -> ${describeFrame(reply)}`);
    if (reply.reqId !== reqId || reply.txId !== txId) {
      this.fail(`reply header echoes req_id ${reply.reqId} tx_id ${reply.txId}, sent ${reqId} ${txId}`);
    }
    frames.forEach((fs, i) => {
      if (i !== c && fs.some((f) => f.type !== Op.WATCH_EVENT)) this.fail(`connection ${i} got a reply to a request it did not send`);
    });
    // Events a request causes (a new watch's first event, a direct write's) follow its reply.
    if (s.kind !== 'end' && frames[c]![0] !== reply) this.fail('a watch event preceded the reply that caused it');

    let expected: { answer: Answer; events: Event[] };
    switch (s.kind) {
      case 'data':
        expected = this.model.data(c, txId, s.req);
        break;
      case 'start':
        expected = { answer: this.model.start(c, txId), events: [] };
        break;
      case 'watch':
        expected = this.model.watch(c, s.path, s.token);
        break;
      case 'unwatch':
        expected = { answer: this.model.unwatch(c, s.path, s.token), events: [] };
        break;
      case 'end': {
        const out = this.model.end(c, txId, s.commit);
        expected = out.kind === 'answer' ? { answer: out.answer, events: [] } : this.commit(out.txn, got);
        break;
      }
    }
    if (!answersEqual(expected.answer, got)) {
      this.fail(`reply differs: daemon ${describeFrame(reply)}, model ${describeAnswer(expected.answer)}`);
    }
    this.compareEvents(expected.events, frames);
    this.compareState();
  }

  /** TRANSACTION_END T on a transaction the model holds: decide from the daemon's answer. */
  private commit(txn: MTxn, got: Answer): { answer: Answer; events: Event[] } {
    const model = this.model;
    const conflicts = txn.conflicts(model.live);
    const replayed = txn.replay(model.live);
    const daemonOk = got.type === Op.TRANSACTION_END;
    const daemonErr = got.type === Op.ERROR ? got.payload.toString('latin1') : undefined;
    if (conflicts.length === 0) {
      // Self-check of the model: no conflict must mean the replay gives the same answers and state.
      const applied: Tree = new Map(model.live);
      txn.applyTo(applied);
      if (replayed === undefined) this.fail('MODEL BUG: no conflict but the replay answers differ');
      const d = diffTrees(applied, replayed.tree, 'writes', 'replay');
      if (d.length > 0) this.fail(`MODEL BUG: applying writes and replaying disagree:\n${d.join('\n')}`);
      if (JSON.stringify(replayed.changes) !== JSON.stringify(txn.changes)) this.fail('MODEL BUG: replay changes differ from the original ones');
    }
    if (daemonOk) {
      if (conflicts.length === 0) {
        this.cov.commits.naive++;
        // The events are those of the writes as they land on the live map: the replay's
        // (defined and the same map: the self-check above), so a removal announces what it removes
        // there, once, whether the daemon swapped, grafted or (its test is coarser) replayed.
        return { answer: got, events: model.commitWrites(txn, replayed!.changes) };
      }
      if (txn.readOnly) {
        this.cov.commits.readOnly++;
        return { answer: got, events: [] };
      }
      if (replayed !== undefined) {
        this.cov.commits.replay++;
        return { answer: got, events: model.commitReplayed(replayed.tree, replayed.changes) };
      }
      this.fail(`daemon committed tx ${txn.id}, but it conflicts (${conflicts.join('; ')}) and a replay would answer differently`);
    }
    if (daemonErr === 'EAGAIN\0') {
      if (conflicts.length === 0) this.fail(`daemon answered EAGAIN to tx ${txn.id}, which has no conflict: it must commit`);
      if (txn.readOnly) this.fail(`daemon answered EAGAIN to read-only tx ${txn.id} (documented to always commit)`);
      if (replayed !== undefined) {
        this.fail(`daemon answered EAGAIN to tx ${txn.id}, whose replay gives the same answers (documented to commit by replay); conflicts: ${conflicts.join('; ')}`);
      }
      this.cov.commits.eagain++;
      return { answer: got, events: [] };
    }
    this.fail(`unexpected answer to TRANSACTION_END T: ${describeAnswer(got)}`);
  }

  private compareEvents(expected: readonly Event[], frames: readonly OutFrame[][]): void {
    const want = expected.map((e) => eventKey(e.conn, e.path, e.token)).sort();
    const have: string[] = [];
    frames.forEach((fs, conn) => {
      for (const f of fs) {
        if (f.type !== Op.WATCH_EVENT) continue;
        const e = parseEvent(f);
        have.push(eventKey(conn, e.path, e.token));
      }
    });
    have.sort();
    this.cov.events += have.length;
    if (want.join('\n') !== have.join('\n')) {
      this.fail(`watch events differ:\n  daemon: ${have.join(' ') || '(none)'}\n  model:  ${want.join(' ') || '(none)'}`);
    }
  }

  private compareState(): void {
    const problems = this.h.daemon.check();
    if (problems.length > 0) this.fail(`daemon.check(): ${problems.join('; ')}`);
    const mp = treeProblems(this.model.live);
    if (mp.length > 0) this.fail(`MODEL BUG: ${mp.join('; ')}`);
    const dump: Tree = new Map();
    for (const [k, n] of dumpStore(this.h.daemon)) dump.set(k, { value: n.value, perms: n.perms });
    const d = diffTrees(dump, this.model.live, 'daemon', 'model');
    if (d.length > 0) this.fail(`store differs from the model:\n${d.join('\n')}`);
    this.model.conns.forEach((mc, i) => {
      const n = this.client(i).conn.transactions.size;
      if (n !== mc.open.size) this.fail(`connection ${i} has ${n} open transactions, model ${mc.open.size}`);
      const w = this.client(i).conn.watches.size;
      if (w !== mc.watches.size) this.fail(`connection ${i} has ${w} watches, model ${mc.watches.size}`);
    });
  }

  /** Commits every transaction still open, then the final checks. */
  finish(): void {
    this.model.conns.forEach((mc, c) => {
      for (let n = mc.open.size; n > 0; n--) this.step({ kind: 'end', c, tx: { k: 'open', i: 0 }, commit: true });
    });
    assert.deepEqual(this.h.daemon.check(), []);
    this.compareState();
    const s = this.h.daemon.stats;
    this.cov.daemon['read-only'] += s.commits['read-only'];
    this.cov.daemon.swap += s.commits.swap;
    this.cov.daemon.coalesce += s.commits.coalesce;
    this.cov.daemon.replay += s.commits.replay;
    this.cov.daemon.conflicts += s.conflicts;
    this.cov.runs++;
  }
}

function runScenario(sc: Scenario, cov: Coverage = newCoverage()): void {
  const run = new Run(sc.conns, cov);
  for (const s of sc.steps) run.step(s);
  run.finish();
}

// ---- the properties ----------------------------------------------------------------

const SEED = Number(process.env['FC_SEED'] ?? 0x5eed_0001);
const RUNS = Number(process.env['FC_RUNS'] ?? 700);
const PATH = process.env['FC_PATH'];

test('daemon agrees with the naive model on random interleaved requests and transactions', (t) => {
  const cov = newCoverage();
  const started = Date.now();
  fc.assert(
    fc.property(scenarioArb({ rootSetPerms: false }), (sc) => runScenario(sc, cov)),
    { seed: SEED, numRuns: RUNS, includeErrorInReport: true, ...(PATH !== undefined ? { path: PATH } : {}) },
  );
  t.diagnostic(`seed ${SEED}, ${RUNS} runs in ${Date.now() - started} ms: ${JSON.stringify(cov)}`);
  if (PATH === undefined && RUNS >= 100) {
    // Guard against a vacuous test: the interesting outcomes must all occur.
    assert.ok(cov.commits.naive > 0, 'no transaction committed by the naive rule');
    assert.ok(cov.commits.eagain > 0, 'no transaction got EAGAIN');
    assert.ok(cov.commits.replay > 0, 'no transaction committed beyond the naive rule');
    assert.ok(cov.daemon.coalesce > 0 && cov.daemon.swap > 0 && cov.daemon.replay > 0, 'some commit path of the daemon never ran');
    assert.ok(cov.events > 0, 'no watch events');
  }
});

test('watch events of a transaction come with its commit, never with an abort or EAGAIN', () => {
  const h = new Harness();
  const a = h.connect();
  const b = h.connect();
  const w = h.connect();
  assert.deepEqual(w.call(Op.WATCH, payload('/t', 'tok')).events, [{ path: '/t', token: 'tok' }]);
  const paths = (): string[] => w.events().map((e) => e.path).sort();

  const t1 = a.startTransaction();
  a.write('/t/x', '1', t1);
  a.write('/t/y', '1', t1);
  a.write('/t/x', '1', t1);
  assert.deepEqual(paths(), [], 'nothing before the commit');
  assert.equal(a.endTransaction(t1), 'OK');
  assert.deepEqual(paths(), ['/t/x', '/t/y'], 'one event per changed path, at commit');

  const t2 = a.startTransaction();
  a.write('/t/z', '1', t2);
  assert.equal(a.endTransaction(t2, false), 'OK');
  assert.deepEqual(paths(), [], 'an aborted transaction is never announced');

  const t3 = a.startTransaction();
  assert.equal(a.read('/t/x', t3).toString(), '1');
  a.write('/t/x', '2', t3);
  b.write('/t/x', '3');
  assert.deepEqual(paths(), ['/t/x'], 'the direct write is announced at once');
  assert.equal(a.endTransaction(t3), 'EAGAIN');
  assert.deepEqual(paths(), [], 'a transaction that got EAGAIN is never announced');
  assert.equal(b.read('/t/x').toString(), '3');
  assert.deepEqual(h.daemon.check(), []);
});

// ---- regression: SET_PERMS on the root once re-charged the uncounted root node ----

test('SET_PERMS on the root keeps per-domain node counts consistent', () => {
  const h = new Harness();
  const c = h.connect();
  c.ok(Op.SET_PERMS, payload('/', 'n7'));
  assert.equal(c.ok(Op.CONTROL, payload('check')).toString('latin1'), 'OK\0');
  assert.deepEqual(h.daemon.check(), []);
});

test('daemon agrees with the naive model, SET_PERMS on the root included', () => {
  fc.assert(
    fc.property(scenarioArb({ rootSetPerms: true }), (sc) => runScenario(sc)),
    { seed: SEED, numRuns: Math.min(RUNS, 300), includeErrorInReport: true },
  );
});
