/**
 * The fairness driver (XSA-206's attack, measured): honest guests each run
 * read-modify-write transactions on one shared counter, one at a time,
 * retrying at once on EAGAIN; a hostile guest keeps `hostileInFlight`
 * transactions open on its ring that blindly write the same counter and
 * commit, over and over, so that every honest transaction is at risk. Reports
 * the honest guests' commits, attempts and time per committed increment
 * (first attempt to commit), and the hostile guest's commits.
 */
import { clock } from '../clock.js';
import type { FairnessJob, Metrics } from '../jobs.js';
import { Op } from '../../../src/protocol/op.js';
import { GuestChannel } from '../../../src/sim/guest.js';
import { RawConn, errnoOf, isEagain } from '../raw-conn.js';
import { Histogram } from '../stats.js';
import { ErrorCounts, parseUint, putUint, type Go, type Window } from './context.js';

const START = Buffer.from('\0', 'latin1');
const COMMIT = Buffer.from('T\0', 'latin1');

/** One transaction being driven: start, (read), write, end. */
interface Slot {
  step: 'start' | 'read' | 'write' | 'end';
  txId: number;
  value: number;
  /** When the increment's first attempt started (honest). */
  since: number;
  attempts: number;
  /** A request of this transaction failed: its end is not a commit to count. */
  failed: boolean;
}

export async function runFairness(job: FairnessJob, go: Go): Promise<Metrics> {
  const key = Buffer.from(`${job.key}\0`, 'latin1');
  const open = async (domid: number): Promise<RawConn> => new RawConn(await GuestChannel.open(domid, job.simDir));
  const honest = await Promise.all(job.honest.map(open));
  const hostile = await Promise.all(job.hostile.map(open));
  const hist = new Histogram();
  const errors = new ErrorCounts();
  const n = { honestCommits: 0, honestAttempts: 0, honestEagain: 0, hostileCommits: 0, hostileEagain: 0, maxAttempts: 0 };
  const w: Window = await go();
  const inWindow = (t: number): boolean => t >= w.t0 && t < w.t1;
  const scratch = Buffer.allocUnsafe(key.length + 12);
  let live = 0;
  /** Set when we close the connections ourselves (not an error). */
  let closing = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const retire = (): void => {
    if (--live === 0) finish();
  };

  const send = (conn: RawConn, s: Slot, byReq: Map<number, Slot>): void => {
    let id: number;
    switch (s.step) {
      case 'start':
        id = conn.send(Op.TRANSACTION_START, 0, START);
        break;
      case 'read':
        id = conn.send(Op.READ, s.txId, key);
        break;
      case 'write':
        id = conn.send(Op.WRITE, s.txId, scratch.subarray(0, putUint(scratch, key.copy(scratch, 0), s.value)));
        break;
      case 'end':
        id = conn.send(Op.TRANSACTION_END, s.txId, COMMIT);
        break;
    }
    byReq.set(id, s);
  };

  const drive = (conn: RawConn, slots: Slot[], isHonest: boolean): void => {
    const byReq = new Map<number, Slot>();
    live += slots.length;
    const begin = (s: Slot): void => {
      if (clock() >= w.t1) return retire(); // between transactions: leave clean
      s.step = 'start';
      s.failed = false;
      s.attempts++;
      send(conn, s, byReq);
    };
    conn.onChunkDone(() => conn.flush());
    conn.onClose(() => {
      if (closing) return;
      errors.add('closed');
      for (let i = 0; i < byReq.size; i++) retire();
      byReq.clear();
    });
    conn.onFrame((type, reqId, _txId, p) => {
      const s = byReq.get(reqId);
      if (s === undefined || type === Op.WATCH_EVENT) return;
      byReq.delete(reqId);
      const now = clock();
      const counted = inWindow(now);
      if (type === Op.ERROR) {
        if (s.step === 'end' && isEagain(p)) {
          if (counted) n[isHonest ? 'honestEagain' : 'hostileEagain']++;
        } else {
          errors.add(errnoOf(p));
          if (s.step !== 'start' && s.step !== 'end') {
            s.failed = true;
            s.step = 'end'; // close the transaction, then start over
            send(conn, s, byReq);
            return;
          }
        }
        return begin(s);
      }
      switch (s.step) {
        case 'start':
          s.txId = parseUint(p);
          s.step = isHonest ? 'read' : 'write';
          if (!isHonest) s.value = Math.floor(Math.random() * 1e6);
          break;
        case 'read':
          s.value = parseUint(p) + 1;
          s.step = 'write';
          break;
        case 'write':
          s.step = 'end';
          break;
        case 'end':
          if (s.failed) return begin(s);
          if (counted) {
            if (isHonest) {
              n.honestCommits++;
              n.honestAttempts += s.attempts;
              n.maxAttempts = Math.max(n.maxAttempts, s.attempts);
              hist.recordMs(now - s.since);
            } else {
              n.hostileCommits++;
            }
          }
          s.attempts = 0;
          s.since = now;
          return begin(s);
      }
      send(conn, s, byReq);
    });
    for (const s of slots) begin(s);
    conn.flush();
  };

  const slot = (): Slot => ({ step: 'start', txId: 0, value: 0, since: clock(), attempts: 0, failed: false });
  for (const c of honest) drive(c, [slot()], true);
  for (const c of hostile) drive(c, Array.from({ length: job.hostileInFlight }, slot), false);
  if (live === 0) finish();
  await finished;
  closing = true;
  for (const c of [...honest, ...hostile]) c.close();
  return { counters: errors.into({ ...n }), hists: { honestTxn: hist.data() } };
}
