/**
 * The populate driver of the scale scenario: pipelined writes of the scale
 * keys [from, to), spread over a few connections, run to completion.
 */
import { clock } from '../clock.js';
import type { Metrics, PopulateJob } from '../jobs.js';
import { scalePath } from '../keys.js';
import { Op } from '../../../src/protocol/op.js';
import { RawConn, errnoOf } from '../raw-conn.js';
import { ErrorCounts, put, type Go } from './context.js';

export async function runPopulate(job: PopulateJob, go: Go): Promise<Metrics> {
  const conns = await Promise.all(Array.from({ length: job.conns }, () => RawConn.socket(job.socket)));
  const errors = new ErrorCounts();
  let written = 0;
  let next = job.from;
  const w = await go();
  const started = clock();
  const scratch = Buffer.allocUnsafe(256);
  await Promise.all(
    conns.map(
      (conn) =>
        new Promise<void>((resolve) => {
          let inflight = 0;
          const fill = (): void => {
            while (inflight < job.depth && next < job.to && clock() < w.t1) {
              let off = put(scratch, 0, scalePath(next++));
              scratch[off++] = 0;
              off = put(scratch, off, 'v');
              conn.send(Op.WRITE, 0, scratch.subarray(0, off));
              inflight++;
            }
            conn.flush();
            if (inflight === 0) resolve();
          };
          conn.onFrame((type, _r, _t, p) => {
            if (type === Op.WATCH_EVENT) return;
            inflight--;
            if (type === Op.ERROR) errors.add(errnoOf(p));
            else written++;
          });
          conn.onChunkDone(fill);
          conn.onClose(() => {
            errors.add('closed');
            resolve();
          });
          fill();
        }),
    ),
  );
  const elapsedMs = clock() - started;
  for (const c of conns) c.close();
  return { counters: errors.into({ written, elapsedMs }), hists: {} };
}
