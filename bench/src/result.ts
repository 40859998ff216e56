/**
 * One row of results: what every scenario reports, in one shape, for the
 * table, the JSON file and the chart.
 */
import type { StepResult } from './runner.js';
import type { Histogram, Summary } from './stats.js';

export type Unit = 'ops/s' | 'txn/s' | 'events/s' | 'bytes/node' | 'writes/s';

export interface LatencyUs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  readonly count: number;
}

export interface Row {
  readonly scenario: string;
  /** What was measured within the scenario: READ, write+read, vmstart, guest-ops, ... */
  readonly variant: string;
  /** Conflict mode of the daemon for this row: coalesce, strict, or the external daemon's own. */
  readonly mode: string;
  /** The x of the row: connections, clients, guests, watchers, nodes. */
  readonly n: number;
  readonly nName: string;
  /** Requests in flight per connection, where it applies. */
  readonly depth?: number;
  readonly unit: Unit;
  readonly throughput: number;
  /** Completed operations (or transactions, events) in the window. */
  readonly count: number;
  readonly windowS: number;
  readonly latencyUs?: LatencyUs;
  /** EAGAIN answers per commit attempt (transactions). */
  readonly eagainRate?: number;
  /** Share of committed transactions that committed on their first attempt, 0..1. */
  readonly firstTryRate?: number;
  readonly errors: number;
  /** cpuUsPerOp: daemon CPU per counted operation (transaction, event), steadier than throughput on a busy host. */
  readonly daemon?: { readonly cpuS: number; readonly cpuPct: number; readonly cpuUsPerOp: number; readonly rssPeakKiB: number; readonly rssKiB: number };
  readonly generator: { readonly cpuS: number; readonly cpuPct: number; readonly cpuUsPerOp: number; readonly threads: number };
  /** CPU used on the host by other processes during the window (100% = one core): disturbance. */
  readonly otherCpuPct?: number;
  /** Scenario-specific figures (counter check, errors by errno, memory per node, ...). */
  readonly extra: Record<string, number | string | boolean>;
}

export function latencyOf(h: Histogram | undefined): LatencyUs | undefined {
  if (h === undefined || h.count === 0) return undefined;
  const s: Summary = h.summaryUs();
  return { p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, mean: s.mean, count: s.count };
}

/** Error counters of a step (err:NAME) as extra fields. */
export function errorExtras(counters: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters)) if (k.startsWith('err:')) out[k] = v;
  return out;
}

export interface RowInput {
  readonly scenario: string;
  readonly variant: string;
  readonly mode: string;
  readonly n: number;
  readonly nName: string;
  readonly depth?: number;
  readonly unit: Unit;
  /** Completed operations in the window; throughput is count / window. */
  readonly count: number;
  readonly latency?: Histogram;
  readonly eagainRate?: number;
  readonly firstTryRate?: number;
  readonly extra?: Record<string, number | string | boolean>;
}

/** A row from a step's result: throughput, CPU shares and errors filled in. */
export function makeRow(step: StepResult, r: RowInput): Row {
  const w = step.windowS > 0 ? step.windowS : Number.NaN;
  const d = step.daemon;
  return {
    scenario: r.scenario,
    variant: r.variant,
    mode: r.mode,
    n: r.n,
    nName: r.nName,
    ...(r.depth === undefined ? {} : { depth: r.depth }),
    unit: r.unit,
    throughput: r.count / w,
    count: r.count,
    windowS: step.windowS,
    ...(latencyOf(r.latency) === undefined ? {} : { latencyUs: latencyOf(r.latency) }),
    ...(r.eagainRate === undefined ? {} : { eagainRate: r.eagainRate }),
    ...(r.firstTryRate === undefined ? {} : { firstTryRate: r.firstTryRate }),
    errors: (step.counters.errors ?? 0) + (step.counters.badValues ?? 0),
    ...(d === undefined ? {} : { daemon: { cpuS: d.cpuS, cpuPct: (100 * d.cpuS) / w, cpuUsPerOp: r.count > 0 ? (1e6 * d.cpuS) / r.count : Number.NaN, rssPeakKiB: d.rssPeakKiB, rssKiB: d.rssKiB } }),
    generator: { cpuS: step.generatorCpuS, cpuPct: (100 * step.generatorCpuS) / w, cpuUsPerOp: r.count > 0 ? (1e6 * step.generatorCpuS) / r.count : Number.NaN, threads: step.threads },
    ...(step.otherCpuS === undefined ? {} : { otherCpuPct: (100 * step.otherCpuS) / w }),
    extra: { ...errorExtras(step.counters), ...(r.extra ?? {}) },
  };
}

/** The same key for the same measurement on different daemons (for comparisons). */
export function rowKey(r: Pick<Row, 'scenario' | 'variant' | 'n' | 'depth'>): string {
  return `${r.scenario}/${r.variant}/${r.n}${r.depth === undefined ? '' : `x${r.depth}`}`;
}

/** The row of an ops step: requests per second over `conns` connections with `depth` in flight each. */
export function opsRow(r: StepResult, scenario: string, variant: string, mode: string, conns: number, depth: number, extra?: Record<string, string | number | boolean>): Row {
  return makeRow(r, {
    scenario,
    variant,
    mode,
    n: conns,
    nName: 'connections',
    depth,
    unit: 'ops/s',
    count: r.counters.ops ?? 0,
    latency: r.hists.latency,
    ...(extra === undefined ? {} : { extra }),
  });
}
