/**
 * The floods scenario's drivers. Flooders keep `depth` requests in flight
 * each, refilled as soon as replies come back, alternating a WRITE and a READ
 * of a key of their own (a guest's in its home, over its ring; dom0's under
 * /bench/floods, over the socket), only during flooded slices. The prober is
 * dom0's one connection of sequential READs; it sorts its samples by slice,
 * so that flooded and quiet samples share the host's background load.
 */
import { setPriority } from 'node:os';
import { clock } from '../clock.js';
import type { FloodJob, Metrics, ProbeJob } from '../jobs.js';
import { Op } from '../../../src/protocol/op.js';
import { GuestChannel } from '../../../src/sim/guest.js';
import { RawConn, call, errnoOf } from '../raw-conn.js';
import { Histogram } from '../stats.js';
import { ErrorCounts, retireIdle, type Go, type Window } from './context.js';

/** The window cut into slices of `sliceMs` from t0: odd ones flooded, even ones quiet (the warm-up alternates too). */
export class FloodSlices {
  constructor(
    private readonly w: Window,
    private readonly sliceMs: number,
  ) {}

  index(t: number): number {
    return Math.floor((t - this.w.t0) / this.sliceMs);
  }

  flooded(t: number): boolean {
    return (this.index(t) & 1) === 1;
  }

  /** Milliseconds from the start of the slice `t` is in. */
  into(t: number): number {
    return t - this.w.t0 - this.index(t) * this.sliceMs;
  }

  /** When the next flooded slice after `t` begins. */
  nextFlood(t: number): number {
    const i = this.index(t) + 1;
    return this.w.t0 + ((i & 1) === 1 ? i : i + 1) * this.sliceMs;
  }
}

/** The flooder threads' nice value (the prober's stays 0). */
const FLOODER_NICE = 10;

interface Flooder {
  readonly conn: RawConn;
  /** The key, NUL-terminated (READ), and the WRITE payload (key, NUL, value). */
  readonly read: Buffer;
  readonly write: Buffer;
  inflight: number;
  seq: number;
  done: boolean;
}

/** Writes `key` once (so that every READ finds it). */
async function seed(conn: RawConn, key: string, value: string): Promise<Buffer> {
  const write = Buffer.from(`${key}\0${value}`, 'latin1');
  const r = await call(conn, Op.WRITE, 0, write);
  if (r.type === Op.ERROR) throw new Error(`floods: WRITE ${key}: ${errnoOf(r.payload)}`);
  return write;
}

async function openFlooders(job: FloodJob): Promise<Flooder[]> {
  const via = job.via;
  const ends =
    via.kind === 'rings'
      ? await Promise.all(via.domids.map(async (domid) => ({ conn: new RawConn(await GuestChannel.open(domid, via.simDir)), key: `/local/domain/${domid}/data/flood` })))
      : await Promise.all(Array.from({ length: via.conns }, async (_, i) => ({ conn: await RawConn.socket(via.socket), key: `/bench/floods/d${i}` })));
  return Promise.all(
    ends.map(async ({ conn, key }) => ({ conn, read: Buffer.from(`${key}\0`, 'latin1'), write: await seed(conn, key, 'flood'), inflight: 0, seq: 0, done: false })),
  );
}

export async function runFlood(job: FloodJob, go: Go): Promise<Metrics> {
  // On Linux the nice value is per thread: this worker yields its CPU to the
  // prober's thread, so that the prober measures the daemon, not our queue.
  try {
    setPriority(0, FLOODER_NICE);
  } catch {
    // Not allowed here: the figures then include the flooders' share of the CPU.
  }
  const flooders = await openFlooders(job);
  const errors = new ErrorCounts();
  let floodOps = 0;
  const w = await go();
  const slices = new FloodSlices(w, job.sliceMs);
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let left = flooders.length;
  /** Set when we close the connections ourselves (not an error). */
  let closing = false;
  const done = (f: Flooder): void => {
    if (f.done) return;
    f.done = true;
    if (--left === 0) finish();
  };
  const fill = (f: Flooder): void => {
    for (let now = clock(); f.inflight < job.depth && now < w.t1 && slices.flooded(now); now = clock()) {
      if ((f.seq++ & 1) === 0) f.conn.send(Op.WRITE, 0, f.write);
      else f.conn.send(Op.READ, 0, f.read);
      f.inflight++;
    }
    f.conn.flush();
  };
  for (const f of flooders) {
    f.conn.onFrame((type, _reqId, _txId, p) => {
      if (type === Op.WATCH_EVENT) return;
      f.inflight--;
      const now = clock();
      if (now >= w.t0 && now < w.t1) floodOps++;
      if (type === Op.ERROR) errors.add(errnoOf(p));
    });
    f.conn.onChunkDone(() => fill(f));
    f.conn.onClose(() => {
      if (closing) return;
      errors.add('closed');
      done(f);
    });
  }
  // Each flooded slice starts with nothing in flight: start every flooder then.
  let timer: NodeJS.Timeout | undefined;
  const startSlice = (): void => {
    for (const f of flooders) fill(f);
    const now = clock();
    if (now < w.t1) timer = setTimeout(startSlice, Math.max(0, slices.nextFlood(now) - now));
  };
  startSlice();
  const poll = retireIdle(w, flooders, done);
  await finished;
  clearTimeout(timer);
  clearInterval(poll);
  closing = true;
  for (const f of flooders) f.conn.close();
  return { counters: errors.into({ floodOps }), hists: {} };
}

export async function runProbe(job: ProbeJob, go: Go): Promise<Metrics> {
  const conn = await RawConn.socket(job.socket);
  await seed(conn, job.key, 'probe');
  const read = Buffer.from(`${job.key}\0`, 'latin1');
  const flooded = new Histogram();
  const quiet = new Histogram();
  const errors = new ErrorCounts();
  let ops = 0;
  const w = await go();
  const slices = new FloodSlices(w, job.sliceMs);
  let sentAt = 0;
  const send = (): void => {
    sentAt = clock();
    conn.send(Op.READ, 0, read);
    conn.flush();
  };
  /** A sample counts for its slice if it was sent after the slice settled and answered within it. */
  const record = (now: number): void => {
    if (sentAt < w.t0 || now >= w.t1) return;
    ops++;
    if (slices.index(now) === slices.index(sentAt) && slices.into(sentAt) >= job.settleMs) (slices.flooded(sentAt) ? flooded : quiet).recordMs(now - sentAt);
  };
  await new Promise<void>((resolve) => {
    conn.onFrame((type, _reqId, _txId, p) => {
      if (type === Op.WATCH_EVENT) return;
      const now = clock();
      if (type === Op.ERROR) errors.add(errnoOf(p));
      else record(now);
      if (now < w.t1) send();
      else resolve();
    });
    conn.onClose(() => {
      errors.add('closed');
      resolve();
    });
    send();
  });
  conn.onClose(() => undefined);
  conn.close();
  return { counters: errors.into({ ops }), hists: { latency: flooded.data(), quiet: quiet.data() } };
}
