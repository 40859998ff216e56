/**
 * The guest driver: each simulated guest talks over its own shared ring (the
 * simulation's GuestChannel), one request in flight, looping through what a
 * guest's drivers do in its home: read a key, write a key, a small
 * transaction (write + read + commit, retried on EAGAIN), and a write to a
 * key it watches (so every loop also delivers one watch event).
 */
import { clock } from '../clock.js';
import type { GuestJob, Metrics } from '../jobs.js';
import { Op } from '../../../src/protocol/op.js';
import { GuestChannel } from '../../../src/sim/guest.js';
import { RawConn, call, errnoOf, isEagain, payload } from '../raw-conn.js';
import { Histogram } from '../stats.js';
import { ErrorCounts, parseUint, putUint, type Go, type Window } from './context.js';

const TOKEN = 'bench-guest';
const START_PAYLOAD = Buffer.from('\0', 'latin1');
const COMMIT_PAYLOAD = Buffer.from('T\0', 'latin1');

/** Steps of a guest's loop; 3..5 are inside the transaction. */
const READ_NAME = 0;
const WRITE_K = 1;
const TX_START = 2;
const TX_WRITE = 3;
const TX_READ = 4;
const TX_END = 5;
const WRITE_WATCHED = 6;
const STEPS = 7;

class Guest {
  step = 0;
  txId = 0;
  seq = 0;
  sentAt = 0;
  done = false;
  readonly name: Buffer;
  readonly k: Buffer;
  readonly t: Buffer;
  readonly w: Buffer;
  readonly scratch = Buffer.allocUnsafe(256);
  constructor(
    readonly domid: number,
    readonly conn: RawConn,
  ) {
    const home = `/local/domain/${domid}`;
    this.name = Buffer.from(`${home}/name\0`, 'latin1');
    this.k = Buffer.from(`${home}/data/k\0`, 'latin1');
    this.t = Buffer.from(`${home}/data/t\0`, 'latin1');
    this.w = Buffer.from(`${home}/data/w\0`, 'latin1');
  }
}

export async function runGuests(job: GuestJob, go: Go): Promise<Metrics> {
  const guests: Guest[] = [];
  for (let i = 0; i < job.domids.length; i += 32) {
    const batch = job.domids.slice(i, i + 32);
    const opened = await Promise.all(
      batch.map(async (domid) => {
        const conn = new RawConn(await GuestChannel.open(domid, job.simDir));
        const r = await call(conn, Op.WATCH, 0, payload([`/local/domain/${domid}/data/w`, TOKEN]));
        if (r.type !== Op.WATCH && errnoOf(r.payload) !== 'EEXIST') throw new Error(`dom${domid}: WATCH failed: ${errnoOf(r.payload)}`);
        return new Guest(domid, conn);
      }),
    );
    guests.push(...opened);
  }
  const hist = new Histogram();
  const errors = new ErrorCounts();
  const n = { ops: 0, txns: 0, eagain: 0, events: 0 };
  const w: Window = await go();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let open = guests.length;
  const inWindow = (t: number): boolean => t >= w.t0 && t < w.t1;

  const guestDone = (g: Guest): void => {
    if (g.done) return;
    g.done = true;
    if (--open === 0) finish();
  };

  const send = (g: Guest): void => {
    const now = clock();
    // Stop only outside the transaction, so the guest's connection is left clean.
    if (now >= w.t1 && (g.step < TX_WRITE || g.step > TX_END)) return guestDone(g);
    g.sentAt = now;
    const s = g.scratch;
    switch (g.step) {
      case READ_NAME:
        g.conn.send(Op.READ, 0, g.name);
        break;
      case WRITE_K:
      case WRITE_WATCHED: {
        const path = g.step === WRITE_K ? g.k : g.w;
        const off = putUint(s, path.copy(s, 0), g.seq);
        g.conn.send(Op.WRITE, 0, s.subarray(0, off));
        break;
      }
      case TX_START:
        g.conn.send(Op.TRANSACTION_START, 0, START_PAYLOAD);
        break;
      case TX_WRITE: {
        const off = putUint(s, g.t.copy(s, 0), g.seq);
        g.conn.send(Op.WRITE, g.txId, s.subarray(0, off));
        break;
      }
      case TX_READ:
        g.conn.send(Op.READ, g.txId, g.k);
        break;
      case TX_END:
        g.conn.send(Op.TRANSACTION_END, g.txId, COMMIT_PAYLOAD);
        break;
    }
    g.conn.flush();
  };

  const onReply = (g: Guest, type: number, p: Buffer): void => {
    const now = clock();
    const counted = inWindow(now);
    if (counted) {
      n.ops++;
      hist.recordMs(now - g.sentAt);
    }
    let next = (g.step + 1) % STEPS;
    if (type === Op.ERROR) {
      if (g.step === TX_END && isEagain(p)) {
        if (counted) n.eagain++;
        next = TX_START;
      } else {
        errors.add(errnoOf(p));
        if (g.step === TX_START) next = WRITE_WATCHED;
        else if (g.step === TX_WRITE || g.step === TX_READ) next = TX_END;
      }
    } else if (g.step === TX_START) {
      g.txId = parseUint(p);
    } else if (g.step === TX_END && counted) {
      n.txns++;
    }
    if (next === READ_NAME) g.seq++;
    g.step = next;
    send(g);
  };

  for (const g of guests) {
    g.conn.onChunkDone(() => undefined);
    g.conn.onClose(() => {
      errors.add('closed');
      guestDone(g);
    });
    g.conn.onFrame((type, _reqId, _txId, p) => {
      if (type === Op.WATCH_EVENT) {
        if (inWindow(clock())) n.events++;
        return;
      }
      if (!g.done) onReply(g, type, p);
    });
  }
  for (const g of guests) send(g);
  await finished;
  // Leave each guest as we found it: no watch, no transaction.
  await Promise.all(guests.filter((g) => !g.conn.closed).map((g) => call(g.conn, Op.UNWATCH, 0, payload([`/local/domain/${g.domid}/data/w`, TOKEN])).catch(() => undefined)));
  for (const g of guests) g.conn.close();
  return { counters: errors.into({ ...n }), hists: { guestOp: hist.data() } };
}
