/**
 * The watch driver. Watchers: connections that each watch the same subtree
 * and count the events that arrive in the window, with the delay since the
 * writer sent the write that caused them (the writer keeps send times by
 * slot in shared memory). Writer: one connection, one write in flight, each
 * write to a fresh slot under the subtree.
 */
import { clock } from '../clock.js';
import type { Metrics, WatchJob } from '../jobs.js';
import { WATCH_ROOT, WATCH_SLOTS, watchPath } from '../keys.js';
import { Op } from '../../../src/protocol/op.js';
import { RawConn, call, errnoOf, payload } from '../raw-conn.js';
import { Histogram } from '../stats.js';
import { ErrorCounts, parseUint, put, putUint, until, type Go } from './context.js';

/** "/w/k" as bytes: events for other paths (the initial one) are not counted. */
const PREFIX = Buffer.from(`${WATCH_ROOT}/k`, 'latin1');

export function runWatch(job: WatchJob, go: Go): Promise<Metrics> {
  return job.role === 'writer' ? writer(job, go) : watchers(job, go);
}

async function watchers(job: WatchJob, go: Go): Promise<Metrics> {
  const sendTimes = new Float64Array(job.sendTimes);
  const conns: RawConn[] = [];
  for (let i = 0; i < job.watchers; i++) {
    const conn = await RawConn.socket(job.socket);
    const r = await call(conn, Op.WATCH, 0, payload([WATCH_ROOT, `bench${job.watchBase + i}`]));
    if (r.type !== Op.WATCH) throw new Error(`WATCH failed: ${errnoOf(r.payload)}`);
    conns.push(conn);
  }
  const hist = new Histogram();
  const errors = new ErrorCounts();
  let events = 0;
  let late = 0;
  const w = await go();
  for (const conn of conns) {
    conn.onChunkDone(() => undefined);
    conn.onClose(() => errors.add('closed'));
    conn.onFrame((type, _reqId, _txId, p) => {
      if (type !== Op.WATCH_EVENT) return;
      const now = clock();
      if (now < w.t0 || now >= w.t1) return;
      if (p.length <= PREFIX.length || p.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0) return;
      events++;
      const slot = parseUint(p, PREFIX.length);
      const sent = Number.isNaN(slot) ? 0 : sendTimes[slot % WATCH_SLOTS]!;
      if (sent > 0 && now >= sent) hist.recordMs(now - sent);
      else late++;
    });
  }
  await until(() => clock() >= w.t1, Number.POSITIVE_INFINITY, 10);
  for (const conn of conns) conn.close();
  return { counters: errors.into({ events, unmatchedEvents: late }), hists: { event: hist.data() } };
}

async function writer(job: WatchJob, go: Go): Promise<Metrics> {
  const sendTimes = new Float64Array(job.sendTimes);
  const conn = await RawConn.socket(job.socket);
  const hist = new Histogram();
  const errors = new ErrorCounts();
  const scratch = Buffer.allocUnsafe(256);
  let writes = 0;
  let seq = 0;
  let sentAt = 0;
  const w = await go();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const next = (): void => {
    const now = clock();
    if (now >= w.t1) return finish();
    const slot = seq % WATCH_SLOTS;
    let off = put(scratch, 0, watchPath(slot));
    scratch[off++] = 0;
    off = putUint(scratch, off, seq++);
    sentAt = now;
    sendTimes[slot] = now;
    conn.send(Op.WRITE, 0, scratch.subarray(0, off));
    conn.flush();
  };
  conn.onChunkDone(() => undefined);
  conn.onClose(() => {
    errors.add('closed');
    finish();
  });
  conn.onFrame((type, _reqId, _txId, p) => {
    if (type === Op.WATCH_EVENT) return;
    const now = clock();
    if (type === Op.ERROR) errors.add(errnoOf(p));
    if (now >= w.t0 && now < w.t1) {
      writes++;
      hist.recordMs(now - sentAt);
    }
    next();
  });
  next();
  await finished;
  conn.close();
  return { counters: errors.into({ writes }), hists: { write: hist.data() } };
}
