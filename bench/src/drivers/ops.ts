/**
 * The request-loop driver (latency, throughput, scale reads and writes):
 * each connection keeps `depth` requests in flight of one mix, refilling once
 * per received chunk so that pipelined requests leave in one write. Every
 * reply is checked (type, and a read after a write returns what was written).
 */
import { clock } from '../clock.js';
import type { KeySpace, Metrics, OpsJob, OpsMix } from '../jobs.js';
import { writeKeys } from './prepare.js';
import { Op } from '../../../src/protocol/op.js';
import { RawConn, errnoOf } from '../raw-conn.js';
import { Histogram } from '../stats.js';
import { scalePath } from '../keys.js';
import { ErrorCounts, parseUint, put, putUint, retireIdle, type Go, type Window } from './context.js';

const RING = 1024;
const MASK = RING - 1;

class Lane {
  inflight = 0;
  seq = 0;
  done = false;
  readonly sendT = new Float64Array(RING);
  readonly expectType = new Uint8Array(RING);
  /** Value a READ must return ('v' + this number), or -1. */
  readonly expectValue = new Float64Array(RING);
  readonly scratch = Buffer.allocUnsafe(4200);

  constructor(
    readonly conn: RawConn,
    /** NUL-terminated key paths of this connection (per-conn key spaces). */
    readonly keys: readonly Buffer[],
  ) {}
}

export async function runOps(job: OpsJob, go: Go): Promise<Metrics> {
  const lanes: Lane[] = [];
  for (let i = 0; i < job.conns; i++) {
    const conn = await RawConn.socket(job.socket);
    const keys = laneKeys(job.keys, job.connBase + i);
    if (job.prepare && job.keys.kind === 'per-conn') await writeKeys(conn, keys);
    lanes.push(new Lane(conn, keys));
  }
  const hist = new Histogram();
  const errors = new ErrorCounts();
  let ops = 0;
  let badValues = 0;
  const w = await go();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let open = lanes.length;

  const laneDone = (lane: Lane): void => {
    if (lane.done) return;
    lane.done = true;
    if (--open === 0) finish();
  };

  for (const lane of lanes) {
    lane.conn.onFrame((type, reqId, _txId, payload) => {
      if (type === Op.WATCH_EVENT) return;
      const now = clock();
      const slot = reqId & MASK;
      lane.inflight--;
      if (now >= w.t0 && now < w.t1) {
        hist.recordMs(now - lane.sendT[slot]!);
        ops++;
      }
      if (type === Op.ERROR) errors.add(errnoOf(payload));
      else if (type !== lane.expectType[slot]) errors.add(`reply-type-${type}`);
      else if (lane.expectValue[slot]! >= 0 && !holdsValue(payload, lane.expectValue[slot]!)) badValues++;
    });
    lane.conn.onChunkDone(() => {
      fill(lane, job, w);
      lane.conn.flush();
      if (lane.inflight === 0 && clock() >= w.t1) laneDone(lane);
    });
    lane.conn.onClose(() => {
      errors.add('closed');
      laneDone(lane);
    });
  }
  for (const lane of lanes) {
    fill(lane, job, w);
    lane.conn.flush();
  }
  const timer = retireIdle(w, lanes, laneDone);
  await finished;
  clearInterval(timer);
  for (const lane of lanes) lane.conn.close();
  return { counters: errors.into({ ops, badValues }), hists: { latency: hist.data() } };
}

/** True if a READ reply is exactly 'v' followed by the digits of n. */
function holdsValue(p: Buffer, n: number): boolean {
  if (p[0] !== 0x76 || parseUint(p, 1) !== n) return false;
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  return p.length === 1 + digits;
}

function laneKeys(keys: KeySpace, connIndex: number): Buffer[] {
  if (keys.kind === 'per-conn') {
    const out: Buffer[] = [];
    for (let i = 0; i < keys.count; i++) out.push(Buffer.from(`${keys.prefix}${connIndex}/k${i}\0`, 'latin1'));
    return out;
  }
  if (keys.kind === 'fixed') return [Buffer.from(`${keys.path}\0`, 'latin1')];
  return [];
}

/** Writes the NUL-terminated path of the next key into the lane's scratch; returns the offset after the NUL. */
function nextKey(lane: Lane, keys: KeySpace, index: number): number {
  if (keys.kind === 'scale') {
    const off = put(lane.scratch, 0, scalePath(Math.floor(Math.random() * keys.nodes)));
    lane.scratch[off] = 0;
    return off + 1;
  }
  const k = lane.keys[index % lane.keys.length]!;
  k.copy(lane.scratch, 0);
  return k.length;
}

function fill(lane: Lane, job: OpsJob, w: Window): void {
  const mix: OpsMix = job.mix;
  while (lane.inflight < job.depth) {
    const now = clock();
    if (now >= w.t1) return;
    const seq = lane.seq++;
    let type: number;
    let len: number;
    let expect = -1;
    if (mix === 'read' || mix === 'directory') {
      type = mix === 'read' ? Op.READ : Op.DIRECTORY;
      len = nextKey(lane, job.keys, seq);
    } else if (mix === 'write') {
      type = Op.WRITE;
      len = nextKey(lane, job.keys, seq);
      lane.scratch[len++] = 0x76; // 'v'
      len = putUint(lane.scratch, len, seq);
    } else {
      const pair = seq >> 1;
      len = nextKey(lane, job.keys, pair);
      if ((seq & 1) === 0) {
        type = Op.WRITE;
        lane.scratch[len++] = 0x76;
        len = putUint(lane.scratch, len, pair);
      } else {
        type = Op.READ;
        expect = pair;
      }
    }
    const id = lane.conn.send(type, 0, lane.scratch.subarray(0, len));
    const slot = id & MASK;
    lane.sendT[slot] = now;
    lane.expectType[slot] = type;
    lane.expectValue[slot] = expect;
    lane.inflight++;
  }
}
