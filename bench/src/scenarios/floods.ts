/**
 * floods: what flooding peers do to the control domain's latency (issue 15).
 * dom0 runs one connection of sequential READs over the socket (one in
 * flight, as libxenstore does) while 0, 1 and 4 simulated guests each keep
 * their outstanding quota of requests in flight over their rings (WRITE and
 * READ in their homes), and while a dom0 socket client pipelines the same
 * (informative: dom0's own connections are not throttled, by design).
 *
 * Within each window, flooded and quiet slices alternate (--quick 50 ms,
 * else 100 ms); the prober sorts its samples by slice, skipping those sent
 * in a slice's first tenth (the flood starting or draining). So each row
 * holds its own idle baseline, measured under the same background load: on
 * a shared host that load moves the p99 far more than seconds apart, and a
 * ratio of two separate runs means little. Each row: dom0's p50/p99 while
 * flooded, the quiet slices' p99, their ratio, and the flooders' requests per
 * second while flooding (a fix that starves the guests shows there). The
 * idle row has no flooders: its ratio is the method's own noise.
 *
 * What it cannot separate: the prober runs in its own worker thread (the
 * flooders' JavaScript does not delay it inside one event loop), and the
 * flooders' threads run at nice 10 so that it gets the CPU first; but the
 * generator has the CPUs other than the daemon's, so on a 2-CPU host the
 * prober shares one CPU with the flooders, and whatever delay is left there
 * (a wake-up behind a flooder's time slice) counts as the daemon's. So do
 * the daemon's garbage collections, which a flood makes more frequent: they
 * are the daemon's, but no scheduling of requests removes them. The
 * socket-flooding row (dom0 is never throttled) shows that floor. Other
 * processes on the host move every figure: the "other" column says how
 * much. Guest rows need a simulated Xen: a self-started daemon, or
 * --sim-dir.
 */
import { createGuest, destroyGuest } from '../../../src/sim/toolstack.js';
import { BenchEnv, fmtRate, range, shards, type Scenario } from '../env.js';
import type { FloodJob, Job, ProbeJob } from '../jobs.js';
import { FLOOD_DOMID_BASE, FLOOD_PROBE_KEY } from '../keys.js';
import { latencyOf, makeRow, type Row } from '../result.js';
import type { Target } from '../target.js';

interface Step {
  readonly variant: string;
  /** Flooding guests, or dom0 socket connections when `socket`. */
  readonly n: number;
  readonly socket: boolean;
}

function stepsFor(env: BenchEnv, withGuests: boolean): Step[] {
  const guestSteps = withGuests ? env.sizes.floodGuests.map((n) => ({ variant: `${n} guest${n === 1 ? '' : 's'} flooding`, n, socket: false })) : [];
  return [{ variant: 'idle', n: 0, socket: false }, ...guestSteps, { variant: 'dom0 socket flooding', n: 1, socket: true }];
}

const canHaveGuests = (env: BenchEnv): boolean => !env.external || env.opts.simDir !== undefined;

function floodJobs(env: BenchEnv, t: Target, step: Step): FloodJob[] {
  const sliceMs = env.sizes.floodSliceMs;
  if (step.n === 0) return [];
  if (step.socket) return [{ kind: 'flood', via: { kind: 'socket', socket: t.socket, conns: step.n }, depth: env.sizes.floodSocketDepth, sliceMs }];
  const simDir = t.simDir!;
  return shards(step.n, env.opts.workers).map(({ base, count }) => ({ kind: 'flood', via: { kind: 'rings', simDir, domids: range(FLOOD_DOMID_BASE + base, count) }, depth: env.sizes.floodGuestDepth, sliceMs }));
}

async function measure(env: BenchEnv, t: Target, step: Step): Promise<Row> {
  const sliceMs = env.sizes.floodSliceMs;
  const probe: ProbeJob = { kind: 'probe', socket: t.socket, key: FLOOD_PROBE_KEY, sliceMs, settleMs: sliceMs / 10 };
  const jobs: Job[] = [probe, ...floodJobs(env, t, step)];
  const r = await env.measure(`floods ${step.variant}`, t, jobs);
  const flooded = latencyOf(r.hists.latency);
  const quiet = latencyOf(r.hists.quiet);
  const ratio = (flooded?.p99 ?? Number.NaN) / (quiet?.p99 ?? Number.NaN);
  const row = makeRow(r, {
    scenario: 'floods',
    variant: step.variant,
    mode: t.mode,
    n: step.n,
    nName: step.socket ? 'dom0 flooders' : 'guests',
    unit: 'ops/s',
    count: r.counters.ops ?? 0,
    latency: r.hists.latency,
    extra: {
      idleP50Us: quiet?.p50 ?? Number.NaN,
      idleP99Us: quiet?.p99 ?? Number.NaN,
      p99VsIdle: ratio,
      // Half of the window floods.
      floodOpsPerS: (2 * (r.counters.floodOps ?? 0)) / r.windowS,
      floodDepth: step.n === 0 ? 0 : step.socket ? env.sizes.floodSocketDepth : env.sizes.floodGuestDepth,
    },
  });
  env.progress.end(`dom0 READ p99 ${flooded?.p99.toFixed(1) ?? '-'} µs, quiet ${quiet?.p99.toFixed(1) ?? '-'} µs (${ratio.toFixed(2)}x), flooders ${fmtRate(Number(row.extra.floodOpsPerS), 'ops/s')}`);
  return row;
}

export const floods: Scenario = {
  name: 'floods',
  steps: (env) => stepsFor(env, canHaveGuests(env)).length,
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      const simDir = t.simDir;
      if (simDir === undefined) env.progress.note('floods: no guest rows (no simulated Xen: give --sim-dir, or let the bench start tsxenstored)');
      const domids = simDir === undefined ? [] : range(FLOOD_DOMID_BASE, Math.max(0, ...env.sizes.floodGuests));
      const dom0 = await env.client(t);
      try {
        for (const domid of domids) await createGuest(dom0, { domid, dir: simDir!, name: `bench-flood-${domid}` });
        const rows: Row[] = [];
        for (const step of stepsFor(env, simDir !== undefined)) rows.push(await measure(env, t, step));
        return rows;
      } finally {
        if (env.external) for (const domid of domids) await destroyGuest(dom0, { domid, dir: simDir!, release: true }).catch(() => undefined);
        dom0.close();
      }
    }),
};
