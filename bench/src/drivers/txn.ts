/**
 * The transaction driver (vmstart, hotkey, counter, scale's single write):
 * each client runs transactions back to back on its own connection and
 * retries at once on EAGAIN, as libxenstore users do. A transaction's
 * independent requests (the reads and the writes) leave in one write when
 * `pipeline` is set; the counter's read-modify-write has to wait for the read.
 * Latency is from the first TRANSACTION_START to the successful commit,
 * retries included.
 */
import { clock } from '../clock.js';
import type { Metrics, TxnJob } from '../jobs.js';
import { COUNTER_KEY, SHARED_KEYS, devicePaths, scalePath } from '../keys.js';
import { Op } from '../../../src/protocol/op.js';
import { RawConn, errnoOf, isEagain } from '../raw-conn.js';
import { Histogram } from '../stats.js';
import { writeKeys } from './prepare.js';
import { ErrorCounts, parseUint, put, putUint, type Go, type Window } from './context.js';

type Phase = 'start' | 'body' | 'rmw' | 'end' | 'abort' | 'idle';

const MAX_CLIENT_ERRORS = 100;
const START_PAYLOAD = Buffer.from('\0', 'latin1');
const COMMIT_PAYLOAD = Buffer.from('T\0', 'latin1');
const ABORT_PAYLOAD = Buffer.from('F\0', 'latin1');
const SHARED_PAYLOADS = SHARED_KEYS.map((k) => Buffer.from(`${k}\0`, 'latin1'));
const COUNTER_PAYLOAD = Buffer.from(`${COUNTER_KEY}\0`, 'latin1');

class Client {
  phase: Phase = 'idle';
  txId = 0;
  pending = 0;
  bodyNext = 0;
  attempt = 0;
  firstStart = 0;
  counterReq = -1;
  counterValue = Number.NaN;
  failed = false;
  /** Error replies other than EAGAIN: a client that keeps getting them gives up. */
  errors = 0;
  done = false;
  seq = 0;
  readonly scratch = Buffer.allocUnsafe(512);
  constructor(
    readonly conn: RawConn,
    readonly writes: readonly Buffer[],
  ) {}
}

export async function runTxn(job: TxnJob, go: Go): Promise<Metrics> {
  const clients: Client[] = [];
  for (let i = 0; i < job.domids.length; i += 64) {
    const batch = job.domids.slice(i, i + 64);
    const conns = await Promise.all(batch.map(() => RawConn.socket(job.socket)));
    const fresh = conns.map((c, j) => new Client(c, job.pattern === 'vmstart' || job.pattern === 'hotkey' ? devicePaths(batch[j]!).map((p) => Buffer.from(`${p}\0`, 'latin1')) : []));
    // The keys exist before the window: it measures VM starts in a steady
    // state, not every client racing to create its home under /local/domain.
    await Promise.all(fresh.map((c) => writeKeys(c.conn, c.writes)));
    clients.push(...fresh);
  }
  const readsShared = job.pattern === 'vmstart' || job.pattern === 'hotkey' ? SHARED_PAYLOADS.length : 0;
  const readsCounter = job.pattern === 'hotkey' || job.pattern === 'counter';
  const bodyLength = (c: Client): number => (job.pattern === 'single-write' ? 1 : readsShared + (readsCounter ? 1 : 0) + c.writes.length);

  const hist = new Histogram();
  const errors = new ErrorCounts();
  const n = { commits: 0, commitsTotal: 0, attempts: 0, eagain: 0, firstTry: 0, requests: 0 };
  const w: Window = await go();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let open = clients.length;
  const inWindow = (t: number): boolean => t >= w.t0 && t < w.t1;

  const clientDone = (c: Client): void => {
    if (c.done) return;
    c.done = true;
    c.phase = 'idle';
    if (--open === 0) finish();
  };

  const begin = (c: Client, fresh: boolean): void => {
    const now = clock();
    if (now >= w.t1) return clientDone(c);
    if (fresh) {
      c.attempt = 0;
      c.firstStart = now;
      c.seq++;
    }
    c.attempt++;
    c.phase = 'start';
    c.failed = false;
    c.counterReq = -1;
    c.counterValue = Number.NaN;
    c.pending = 1;
    c.conn.send(Op.TRANSACTION_START, 0, START_PAYLOAD);
  };

  const sendBodyItem = (c: Client, i: number): void => {
    if (job.pattern === 'single-write') {
      let off = put(c.scratch, 0, scalePath(Math.floor(Math.random() * (job.nodes ?? 1))));
      c.scratch[off++] = 0;
      off = put(c.scratch, off, 't');
      off = putUint(c.scratch, off, c.seq);
      c.conn.send(Op.WRITE, c.txId, c.scratch.subarray(0, off));
      return;
    }
    if (i < readsShared) {
      c.conn.send(Op.READ, c.txId, SHARED_PAYLOADS[i]!);
      return;
    }
    if (readsCounter && i === readsShared) {
      c.counterReq = c.conn.send(Op.READ, c.txId, COUNTER_PAYLOAD);
      return;
    }
    const path = c.writes[i - readsShared - (readsCounter ? 1 : 0)]!;
    path.copy(c.scratch, 0);
    let off = path.length;
    off = put(c.scratch, off, 't');
    off = putUint(c.scratch, off, c.seq);
    c.conn.send(Op.WRITE, c.txId, c.scratch.subarray(0, off));
  };

  const afterBody = (c: Client): void => {
    if (c.failed) {
      c.phase = 'abort';
      c.pending = 1;
      c.conn.send(Op.TRANSACTION_END, c.txId, ABORT_PAYLOAD);
    } else if (readsCounter) {
      c.phase = 'rmw';
      c.pending = 1;
      let off = COUNTER_PAYLOAD.copy(c.scratch, 0);
      off = putUint(c.scratch, off, c.counterValue + 1);
      c.conn.send(Op.WRITE, c.txId, c.scratch.subarray(0, off));
    } else {
      commit(c);
    }
  };

  const commit = (c: Client): void => {
    c.phase = 'end';
    c.pending = 1;
    c.conn.send(Op.TRANSACTION_END, c.txId, c.failed ? ABORT_PAYLOAD : COMMIT_PAYLOAD);
  };

  const onReply = (c: Client, type: number, reqId: number, payload: Buffer): void => {
    const now = clock();
    if (inWindow(now)) n.requests++;
    c.pending--;
    const error = type === Op.ERROR;
    if (error && !(c.phase === 'end' && isEagain(payload))) {
      if (isEagain(payload)) {
        if (inWindow(now)) n.eagain++;
      } else {
        errors.add(errnoOf(payload));
        if (++c.errors > MAX_CLIENT_ERRORS) return clientDone(c);
      }
      c.failed = true;
    }
    switch (c.phase) {
      case 'start': {
        if (error) return begin(c, false);
        c.txId = parseUint(payload);
        c.phase = 'body';
        const len = bodyLength(c);
        if (job.pipeline) {
          for (let i = 0; i < len; i++) sendBodyItem(c, i);
          c.pending = len;
          c.bodyNext = len;
        } else {
          sendBodyItem(c, 0);
          c.pending = 1;
          c.bodyNext = 1;
        }
        return;
      }
      case 'body': {
        if (reqId === c.counterReq && !error) c.counterValue = parseUint(payload);
        if (c.pending > 0) return;
        if (c.bodyNext < bodyLength(c) && !c.failed) {
          sendBodyItem(c, c.bodyNext++);
          c.pending = 1;
          return;
        }
        return afterBody(c);
      }
      case 'rmw':
        return commit(c);
      case 'abort':
        return begin(c, false);
      case 'end': {
        if (c.failed) return begin(c, false); // that was an abort after a failed body
        if (inWindow(now)) n.attempts++;
        if (!error) {
          n.commitsTotal++;
          if (inWindow(now)) {
            n.commits++;
            if (c.attempt === 1) n.firstTry++;
            hist.recordMs(now - c.firstStart);
          }
          return begin(c, true);
        }
        if (inWindow(now)) n.eagain++;
        return begin(c, false);
      }
      case 'idle':
        return;
    }
  };

  for (const c of clients) {
    c.conn.onFrame((type, reqId, _tx, payload) => {
      if (type !== Op.WATCH_EVENT) onReply(c, type, reqId, payload);
    });
    c.conn.onChunkDone(() => c.conn.flush());
    c.conn.onClose(() => {
      errors.add('closed');
      clientDone(c);
    });
  }
  for (const c of clients) {
    begin(c, true);
    c.conn.flush();
  }
  await finished;
  for (const c of clients) c.conn.close();
  return { counters: errors.into({ ...n }), hists: { txn: hist.data() } };
}
