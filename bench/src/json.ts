/**
 * The JSON file: every figure of a run, with what it ran on and how, so that
 * runs on different daemons can be compared (--compare) and charted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import type { Options } from './options.js';
import type { Row } from './result.js';
import { HOST_CPUS } from './target.js';

export interface BenchMeta {
  readonly tool: 'tsxenstored bench';
  readonly format: 1;
  readonly label: string;
  /** The tsxenstored build that ran (git commit, +dirty), from $TSXS_BENCH_COMMIT, if known. */
  readonly commit: string | null;
  readonly createdAt: string;
  readonly host: { readonly cpus: number; readonly cpuModel: string; readonly node: string; readonly kernel: string };
  readonly options: {
    readonly socket: string | null;
    readonly quick: boolean;
    readonly scenarios: readonly string[];
    readonly durationS: number;
    readonly warmupS: number;
    readonly workers: number;
    readonly pinned: boolean;
    readonly txnPipeline: boolean;
    readonly txnSends?: readonly string[];
    readonly modes: readonly string[];
  };
}

export interface BenchResults {
  readonly meta: BenchMeta;
  readonly rows: readonly Row[];
  /** Scenarios that failed, with the reason. */
  readonly failures: ReadonlyArray<{ readonly scenario: string; readonly error: string }>;
}

export function makeMeta(opts: Options, pinned: boolean, now = new Date()): BenchMeta {
  return {
    tool: 'tsxenstored bench',
    format: 1,
    label: opts.label,
    commit: process.env.TSXS_BENCH_COMMIT ?? null,
    createdAt: now.toISOString(),
    host: { cpus: HOST_CPUS, cpuModel: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, kernel: release() },
    options: {
      socket: opts.socket ?? null,
      quick: opts.quick,
      scenarios: opts.scenarios,
      durationS: opts.sizes.durationMs / 1000,
      warmupS: opts.sizes.warmupMs / 1000,
      workers: opts.workers,
      pinned,
      txnPipeline: opts.txnPipeline,
      txnSends: opts.txnSends,
      modes: opts.modes,
    },
  };
}

/** JSON has no NaN or Infinity: they become null. */
export function toJson(results: BenchResults): string {
  return JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

export function writeResults(file: string, results: BenchResults): void {
  writeFileSync(file, toJson(results));
}

/** Reads a results file, checking only what the comparison needs. */
export function readResults(file: string): BenchResults {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${file}: not a bench results file`);
  const r = parsed as Partial<BenchResults>;
  if (r.meta?.tool !== 'tsxenstored bench' || !Array.isArray(r.rows)) throw new Error(`${file}: not a bench results file`);
  return { meta: r.meta, rows: r.rows, failures: r.failures ?? [] };
}
