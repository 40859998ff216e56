/**
 * fairness: what one hostile guest does to honest ones (XSA-206). Honest
 * guests run read-modify-write transactions on one shared counter; a hostile
 * guest keeps transactions open that blindly write it and commit, so each of
 * its commits can fail an honest transaction. Three steps, each on a fresh
 * self-started daemon: the honest guests alone; with the hostile guest, and
 * conflict credit on (the default: a guest whose commits make others' fail is
 * read more slowly); with the hostile guest and conflict credit off
 * (`-Q conflict-rate=0`). Reported: the honest guests' committed increments
 * per second, the time from an increment's first attempt to its commit, and
 * the attempts it took; the hostile guest's commits.
 *
 * Needs guests: a self-started tsxenstored, or an external daemon with
 * --sim-dir (then only the hostile step, with the daemon's own rules).
 */
import type { XenStoreClient } from '../../../src/client/client.js';
import { createGuest, destroyGuest } from '../../../src/sim/toolstack.js';
import { BenchEnv, fmtRate, range, type Scenario } from '../env.js';
import type { FairnessJob } from '../jobs.js';
import { FAIR_DOMID_BASE, FAIR_KEY } from '../keys.js';
import { makeRow, type Row } from '../result.js';
import type { Target } from '../target.js';

interface Step {
  readonly variant: string;
  readonly hostile: boolean;
  readonly daemonArgs: readonly string[];
}

const STEPS: readonly Step[] = [
  { variant: 'honest alone', hostile: false, daemonArgs: [] },
  { variant: 'hostile flooding, conflict credit on', hostile: true, daemonArgs: [] },
  { variant: 'hostile flooding, conflict credit off', hostile: true, daemonArgs: ['-Q', 'conflict-rate=0'] },
];

async function setUp(dom0: XenStoreClient, simDir: string, domids: readonly number[]): Promise<void> {
  for (const domid of domids) await createGuest(dom0, { domid, dir: simDir, name: `bench-fair-${domid}` });
  await dom0.write(FAIR_KEY, '0');
  await dom0.setPerms(FAIR_KEY, ['b0']); // every domain may read and write it
}

async function measure(env: BenchEnv, t: Target, step: Step): Promise<Row> {
  const simDir = t.simDir!;
  const honest = range(FAIR_DOMID_BASE, env.sizes.fairHonest);
  const hostile = step.hostile ? [FAIR_DOMID_BASE + env.sizes.fairHonest] : [];
  const dom0 = await env.client(t);
  try {
    await setUp(dom0, simDir, [...honest, ...hostile]);
    const job: FairnessJob = { kind: 'fairness', simDir, key: FAIR_KEY, honest, hostile, hostileInFlight: env.sizes.fairHostileInFlight };
    const r = await env.measure(`fairness ${step.variant}`, t, [job]);
    const c = r.counters;
    const commits = c.honestCommits ?? 0;
    const attempts = c.honestAttempts ?? 0;
    const row = makeRow(r, {
      scenario: 'fairness',
      variant: step.variant,
      mode: t.mode,
      n: honest.length,
      nName: 'honest guests',
      unit: 'txn/s',
      count: commits,
      latency: r.hists.honestTxn,
      eagainRate: attempts === 0 ? 0 : (c.honestEagain ?? 0) / attempts,
      firstTryRate: undefined,
      extra: {
        attemptsPerCommit: commits === 0 ? 0 : attempts / commits,
        maxAttempts: c.maxAttempts ?? 0,
        hostileCommitsPerS: (c.hostileCommits ?? 0) / r.windowS,
        hostileInFlight: step.hostile ? env.sizes.fairHostileInFlight : 0,
      },
    });
    env.progress.end(
      `honest ${fmtRate(row.throughput, 'txn/s')}, p99 ${((row.latencyUs?.p99 ?? Number.NaN) / 1000).toFixed(2)} ms, ${Number(row.extra.attemptsPerCommit).toFixed(1)} attempts/commit (max ${String(row.extra.maxAttempts)}), hostile ${fmtRate(Number(row.extra.hostileCommitsPerS), 'txn/s')}`,
    );
    return row;
  } finally {
    if (env.external) for (const domid of [...honest, ...hostile]) await destroyGuest(dom0, { domid, dir: simDir, release: true }).catch(() => undefined);
    dom0.close();
  }
}

function stepsFor(env: BenchEnv): readonly Step[] {
  if (env.external) return env.opts.simDir === undefined ? [] : STEPS.slice(1, 2);
  return env.opts.daemonCmd === undefined ? STEPS : [];
}

export const fairness: Scenario = {
  name: 'fairness',
  steps: (env) => stepsFor(env).length,
  run: async (env: BenchEnv) => {
    const steps = stepsFor(env);
    if (steps.length === 0) {
      env.progress.note('fairness: skipped (needs guests: a self-started tsxenstored, or --sim-dir)');
      return [];
    }
    const rows: Row[] = [];
    for (const step of steps) rows.push(await env.withDaemon(env.plainMode(), (t) => measure(env, t, step), { extraArgs: step.daemonArgs }));
    return rows;
  },
};
