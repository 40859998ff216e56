/**
 * Runs one measurement step: starts one worker thread per job, waits until
 * all are set up, opens the window [t0, t1) after a warm-up, samples the
 * daemon's CPU and memory and the generator's own CPU at both ends, and
 * merges what the workers counted. A step whose workers do not finish in
 * time is stopped, then terminated, and reported as an error.
 */
import { Worker } from 'node:worker_threads';
import { clock, sleep } from './clock.js';
import type { FromWorker, Job, Metrics, ToWorker } from './jobs.js';
import { hostCpu, resetPeak, sample, type ProcSample } from './proc.js';
import { Histogram } from './stats.js';

export interface StepOptions {
  readonly warmupMs: number;
  /** Length of the window; Infinity for run-to-completion jobs (populate). */
  readonly durationMs: number;
  /** The daemon's pid, to sample, if known. */
  readonly pid?: number;
  /** How long set-up may take (connecting, creating keys). */
  readonly setupTimeoutMs?: number;
  /** How long the workers may take to finish after t1 (or to complete, for run-to-completion). */
  readonly drainTimeoutMs?: number;
}

export interface DaemonFigures {
  readonly cpuS: number;
  /** Peak RSS during the window (VmHWM after a reset at t0; the lifetime peak if it cannot be reset). */
  readonly rssPeakKiB: number;
  readonly rssKiB: number;
}

export interface StepResult {
  readonly counters: Record<string, number>;
  readonly hists: Record<string, Histogram>;
  /** Seconds the window really lasted. */
  readonly windowS: number;
  readonly daemon: DaemonFigures | undefined;
  /** CPU seconds of the whole generator process (every worker thread and the main thread) in the window. */
  readonly generatorCpuS: number;
  readonly threads: number;
  /**
   * CPU seconds used on the host in the window by everything else (not the
   * daemon, not the generator): other load that disturbs the figures.
   */
  readonly otherCpuS: number | undefined;
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export async function runStep(jobs: readonly Job[], opts: StepOptions): Promise<StepResult> {
  const url = new URL('./worker.js', import.meta.url);
  const workers = jobs.map((job) => new Worker(url, { workerData: job }));
  const ready = workers.map(() => false);
  const done: Array<Metrics | undefined> = workers.map(() => undefined);
  let failure: string | undefined;
  let wake: () => void = () => undefined;
  const changed = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  workers.forEach((w, i) => {
    w.on('message', (m: FromWorker) => {
      if (m.type === 'ready') ready[i] = true;
      else if (m.type === 'done') done[i] = m.metrics;
      else failure ??= `worker ${i} (${jobs[i]?.kind}): ${m.message}`;
      wake();
    });
    w.on('error', (e) => {
      failure ??= `worker ${i} (${jobs[i]?.kind}): ${e.stack ?? e.message}`;
      wake();
    });
    w.on('exit', (code) => {
      if (done[i] === undefined) failure ??= `worker ${i} (${jobs[i]?.kind}) exited with code ${code} before reporting`;
      wake();
    });
  });
  const post = (m: ToWorker): void => workers.forEach((w) => w.postMessage(m));

  try {
    await waitAll(() => ready.every(Boolean), () => failure, opts.setupTimeoutMs ?? 300_000, changed, 'set-up');
    const toCompletion = !Number.isFinite(opts.durationMs);
    const start = clock();
    const t0 = toCompletion ? start : start + opts.warmupMs;
    const t1 = toCompletion ? Number.POSITIVE_INFINITY : t0 + opts.durationMs;
    post({ type: 'go', t0, t1 });
    await sleep(t0 - clock());
    const pid = opts.pid;
    if (pid !== undefined) resetPeak(pid);
    const d0 = pid === undefined ? undefined : sample(pid);
    const g0 = cpuNow();
    const h0 = hostCpu();
    const w0 = clock();
    let d1: ProcSample | undefined;
    let g1 = 0;
    let w1 = 0;
    let h1: ReturnType<typeof hostCpu>;
    const end = (): void => {
      d1 = pid === undefined ? undefined : sample(pid);
      g1 = cpuNow();
      h1 = hostCpu();
      w1 = clock();
    };
    if (!toCompletion) {
      await sleep(t1 - clock());
      end();
    }
    const drain = opts.drainTimeoutMs ?? (toCompletion ? 3_600_000 : 60_000);
    try {
      await waitAll(() => done.every((m) => m !== undefined), () => failure, drain, changed, 'the workers to finish');
    } catch (e) {
      post({ type: 'stop' });
      await waitAll(() => done.every((m) => m !== undefined), () => failure, 10_000, changed, 'the workers to stop').catch(() => undefined);
      throw e;
    }
    if (toCompletion) end();
    const merged = merge(done.filter((m): m is Metrics => m !== undefined));
    const daemonCpu = d0 !== undefined && d1 !== undefined ? d1.cpuS - d0.cpuS : 0;
    return {
      otherCpuS: h0 !== undefined && h1 !== undefined ? Math.max(0, h1.busyS - h0.busyS - daemonCpu - (g1 - g0)) : undefined,
      ...merged,
      windowS: (w1 - w0) / 1000,
      daemon: d0 !== undefined && d1 !== undefined ? { cpuS: d1.cpuS - d0.cpuS, rssPeakKiB: d1.hwmKiB, rssKiB: d1.rssKiB } : undefined,
      generatorCpuS: g1 - g0,
      threads: workers.length,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

async function waitAll(ok: () => boolean, failed: () => string | undefined, timeoutMs: number, changed: () => Promise<void>, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const f = failed();
    if (f !== undefined) throw new Error(f);
    if (ok()) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    await Promise.race([changed(), sleep(Math.min(left, 1000))]);
  }
}

function merge(all: readonly Metrics[]): { counters: Record<string, number>; hists: Record<string, Histogram> } {
  const counters: Record<string, number> = {};
  const hists: Record<string, Histogram> = {};
  for (const m of all) {
    for (const [k, v] of Object.entries(m.counters)) counters[k] = (counters[k] ?? 0) + v;
    for (const [k, h] of Object.entries(m.hists)) (hists[k] ??= new Histogram()).merge(h);
  }
  return { counters, hists };
}
