/**
 * Entry point of a load-generating worker thread: runs the one job it was
 * given (workerData) with its own connections, and talks to the runner with
 * the messages of jobs.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, Job, Metrics, ToWorker } from './jobs.js';
import type { Go, Window } from './drivers/context.js';
import { runOps } from './drivers/ops.js';
import { runTxn } from './drivers/txn.js';
import { runWatch } from './drivers/watch.js';
import { runGuests } from './drivers/guests.js';
import { runFairness } from './drivers/fairness.js';
import { runPopulate } from './drivers/populate.js';
import { runNative } from './drivers/native.js';
import { runFlood, runProbe } from './drivers/flood.js';

const port = parentPort;
if (port === null) throw new Error('bench/worker.js runs as a worker thread');

const post = (m: FromWorker): void => port.postMessage(m);
const window: Window = { t0: Number.POSITIVE_INFINITY, t1: Number.POSITIVE_INFINITY };
let started: ((w: Window) => void) | undefined;

port.on('message', (m: ToWorker) => {
  if (m.type === 'go') {
    window.t0 = m.t0;
    window.t1 = m.t1;
    started?.(window);
  } else {
    window.t1 = 0; // stop issuing; drivers finish what is in flight
  }
});

const go: Go = () =>
  new Promise<Window>((resolve) => {
    started = resolve;
    post({ type: 'ready' });
  });

function run(job: Job): Promise<Metrics> {
  switch (job.kind) {
    case 'ops':
      return runOps(job, go);
    case 'txn':
      return runTxn(job, go);
    case 'watch':
      return runWatch(job, go);
    case 'guests':
      return runGuests(job, go);
    case 'fairness':
      return runFairness(job, go);
    case 'flood':
      return runFlood(job, go);
    case 'probe':
      return runProbe(job, go);
    case 'populate':
      return runPopulate(job, go);
    case 'native':
      return runNative(job, go);
  }
}

run(workerData as Job).then(
  (metrics) => {
    post({ type: 'done', metrics });
    port.close();
  },
  (e: unknown) => {
    post({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    port.close();
  },
);
