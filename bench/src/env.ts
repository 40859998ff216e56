/**
 * What a scenario needs from the bench: the options and sizes, the daemon to
 * drive (a fresh one per scenario and mode, or the external one), measured
 * steps reported to the progress display, and a setup client.
 */
import { connect, type XenStoreClient } from '../../src/client/client.js';
import type { Job } from './jobs.js';
import type { Options, Sizes } from './options.js';
import type { Progress } from './progress.js';
import type { Row } from './result.js';
import { runStep, type StepOptions, type StepResult } from './runner.js';
import { cpuSeconds, hostCpu } from './proc.js';
import { sleep } from './clock.js';
import { externalDaemon, startOwnDaemon, supportsMode, type Target } from './target.js';

export interface Scenario {
  readonly name: string;
  /** Measurement steps it will run, for the progress display. */
  steps(env: BenchEnv): number;
  run(env: BenchEnv): Promise<Row[]>;
}

export class BenchEnv {
  constructor(
    readonly opts: Options,
    readonly progress: Progress,
  ) {}

  get sizes(): Sizes {
    return this.opts.sizes;
  }

  get external(): boolean {
    return this.opts.socket !== undefined;
  }

  /** Modes to run the transaction scenarios in. */
  txnModes(): readonly string[] {
    if (this.external) return ['native'];
    return supportsMode(this.opts.daemonCmd) ? this.opts.modes : ['default'];
  }

  /** The mode of scenarios that run once. */
  plainMode(): string {
    if (this.external) return 'native';
    return supportsMode(this.opts.daemonCmd) ? 'coalesce' : 'default';
  }

  /** Runs `fn` against a fresh daemon in `mode` (stopped afterwards; `durable`: with --durable; `extraArgs`: more tsxenstored arguments), or against the external one. */
  async withDaemon<T>(mode: string, fn: (t: Target) => Promise<T>, how: { durable?: boolean; extraArgs?: readonly string[] } = {}): Promise<T> {
    if (this.opts.socket !== undefined) return fn(externalDaemon(this.opts.socket, this.opts.pid, this.opts.simDir, mode));
    const t = await startOwnDaemon({ mode, daemonCmd: this.opts.daemonCmd, nodeArgs: this.opts.daemonNodeArgs, pin: this.opts.pin, ...how });
    try {
      return await fn(t);
    } finally {
      await t.stop();
    }
  }

  /**
   * One measured step with the default warm-up and duration unless
   * overridden. With --wait-quiet, waits for a quiet host first, and measures
   * again (up to 3 times, keeping the least disturbed) when other processes
   * took more than a quarter of a CPU during the window. Counters named
   * *Total count every attempt (the hotkey counter check needs all commits).
   */
  async measure(label: string, target: Target, jobs: readonly Job[], over: Partial<StepOptions> = {}): Promise<StepResult> {
    const opts: StepOptions = {
      warmupMs: this.sizes.warmupMs,
      durationMs: this.sizes.durationMs,
      ...(target.pid === undefined ? {} : { pid: target.pid }),
      ...over,
    };
    const careful = this.opts.waitQuietS > 0;
    const attempts = careful && Number.isFinite(opts.durationMs) ? 3 : 1;
    const totals: Record<string, number> = {};
    let best: { r: StepResult; busy: number } | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (careful) {
        const quiet = await waitQuiet(this.opts.waitQuietS * 1000, target.pid);
        if (!quiet.ok) this.progress.note(`${label}: the host stayed busy (others used ${quiet.otherPct.toFixed(0)}% of a CPU); measuring anyway`);
      }
      this.progress.begin(attempt === 1 ? label : `${label} (try ${attempt})`);
      const r = await runStep(jobs, opts);
      target.checkAlive();
      for (const [k, v] of Object.entries(r.counters)) if (k.endsWith('Total')) totals[k] = (totals[k] ?? 0) + v;
      const busy = r.otherCpuS !== undefined && r.windowS > 0 ? r.otherCpuS / r.windowS : 0;
      if (best === undefined || busy < best.busy) best = { r, busy };
      if (busy <= 0.25) break;
      if (attempt < attempts) this.progress.note(`${label}: others used ${(100 * busy).toFixed(0)}% of a CPU during the window; measuring again`);
    }
    const r = best!.r;
    return { ...r, counters: { ...r.counters, ...totals } };
  }

  /** A client-library connection for set-up (not for load). */
  client(target: Target): Promise<XenStoreClient> {
    return connect({ path: target.socket });
  }
}

/** Splits 0..n-1 into at most `parts` contiguous shards, none empty. */
export function shards(n: number, parts: number): Array<{ base: number; count: number }> {
  const k = Math.max(1, Math.min(parts, n));
  const out: Array<{ base: number; count: number }> = [];
  let base = 0;
  for (let i = 0; i < k; i++) {
    const count = Math.floor(n / k) + (i < n % k ? 1 : 0);
    if (count > 0) out.push({ base, count });
    base += count;
  }
  return out;
}

/** Integers from..from+count-1. */
export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

export function fmtRate(x: number, unit: string): string {
  if (!Number.isFinite(x)) return `- ${unit}`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M ${unit}`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k ${unit}`;
  if (x >= 100) return `${x.toFixed(0)} ${unit}`;
  return `${x.toFixed(1)} ${unit}`;
}

/** CPU share of one core used by processes other than ours and the daemon's, over `ms`. */
async function otherLoad(ms: number, pid: number | undefined): Promise<number> {
  const own = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6 + (pid === undefined ? 0 : (cpuSeconds(pid) ?? 0));
  };
  const h0 = hostCpu();
  const o0 = own();
  await sleep(ms);
  const h1 = hostCpu();
  const o1 = own();
  if (h0 === undefined || h1 === undefined) return 0;
  return (100 * Math.max(0, h1.busyS - h0.busyS - (o1 - o0))) / (ms / 1000);
}

/** Waits until others use under 10% of a CPU over half a second, or `maxMs` passed. */
export async function waitQuiet(maxMs: number, pid: number | undefined): Promise<{ ok: boolean; otherPct: number }> {
  const end = Date.now() + maxMs;
  for (;;) {
    const otherPct = await otherLoad(500, pid);
    if (otherPct < 10) return { ok: true, otherPct };
    if (Date.now() >= end) return { ok: false, otherPct };
  }
}
