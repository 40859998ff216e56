/**
 * The terminal table: one line per row, grouped by scenario, with units in
 * the cells so that the columns stay narrow.
 */
import type { Row } from './result.js';
import type { BenchMeta } from './json.js';

export function fmtUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '-';
  if (us < 1000) return `${us.toFixed(us < 100 ? 1 : 0)}µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

export function fmtThroughput(x: number, unit: string): string {
  if (!Number.isFinite(x)) return '-';
  if (unit === 'bytes/node') return `${x.toFixed(0)} B/node`;
  const u = unit.replace('/s', '');
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M ${u}/s`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k ${u}/s`;
  if (x >= 100) return `${x.toFixed(0)} ${u}/s`;
  return `${x.toFixed(1)} ${u}/s`;
}

/** A figure in MiB (`per`: bytes per unit of x), or ? if absent. */
const mib = (x: number | string | boolean | undefined, per = 1): string => (typeof x === 'number' && Number.isFinite(x) ? ((x * per) / (1024 * 1024)).toFixed(0) : '?');

/** The scale delete row's memory: before the RM, just after it, after idling. */
export function memoryTrail(e: Row['extra']): string {
  return `RSS ${mib(e.rssBeforeKiB, 1024)} -> ${mib(e.rssAfterDeleteKiB, 1024)} -> ${mib(e.rssAfterIdleKiB, 1024)} MiB, heap ${mib(e.heapBeforeBytes)} -> ${mib(e.heapAfterDeleteBytes)} -> ${mib(e.heapAfterIdleBytes)} MiB`;
}

const pct = (x: number | undefined, digits = 1): string => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(digits)}%`);

function notes(r: Row): string {
  const out: string[] = [];
  const e = r.extra;
  if (e.counterOk === true) out.push('counter exact');
  if (e.counterOk === false) out.push(`COUNTER ${String(e.counterAfter)} != ${String(e.counterExpected)}`);
  if (typeof e.heapBytesPerNode === 'number' && Number.isFinite(e.heapBytesPerNode)) out.push(`heap ${e.heapBytesPerNode.toFixed(0)} B/node`);
  if (typeof e.rssAfterIdleKiB === 'number') out.push(memoryTrail(e));
  if (typeof e.writesPerS === 'number') out.push(`${e.writesPerS.toFixed(0)} writes/s`);
  if (typeof e.p99VsIdle === 'number' && typeof e.idleP99Us === 'number') out.push(`p99 ${e.p99VsIdle.toFixed(2)}x the quiet slices' ${fmtUs(e.idleP99Us)}`);
  if (typeof e.floodOpsPerS === 'number' && r.n > 0) out.push(`flooders ${fmtThroughput(e.floodOpsPerS, 'ops/s')}`);
  if (typeof e.guestTxnPerS === 'number') out.push(`${e.guestTxnPerS.toFixed(0)} guest txn/s`);
  for (const [k, v] of Object.entries(e)) if (k.startsWith('err:')) out.push(`${k.slice(4)} x${String(v)}`);
  if (r.generator.cpuPct > 90 && r.unit !== 'bytes/node') out.push('generator busy');
  return out.join(', ');
}

const HEADER = ['scenario', 'variant', 'mode', 'n', 'throughput', 'p50', 'p99', 'max', 'EAGAIN', '1st try', 'daemon cpu', 'cpu/op', 'daemon rss', 'gen cpu', 'other', 'notes'];

export function rowCells(r: Row): string[] {
  const l = r.latencyUs;
  const n = `${r.n}${r.depth !== undefined && r.depth > 1 ? `x${r.depth}` : ''} ${r.nName}`;
  return [
    r.scenario,
    r.variant,
    r.mode,
    n,
    fmtThroughput(r.throughput, r.unit),
    fmtUs(l?.p50),
    fmtUs(l?.p99),
    fmtUs(l?.max),
    pct(r.eagainRate),
    pct(r.firstTryRate, 0),
    r.daemon === undefined ? '-' : `${r.daemon.cpuS.toFixed(1)}s ${r.daemon.cpuPct.toFixed(0)}%`,
    r.daemon === undefined || r.unit === 'bytes/node' ? '-' : fmtUs(r.daemon.cpuUsPerOp),
    r.daemon === undefined || !Number.isFinite(r.daemon.rssPeakKiB) ? '-' : `${(r.daemon.rssPeakKiB / 1024).toFixed(0)}MB`,
    `${r.generator.cpuPct.toFixed(0)}%`,
    r.otherCpuPct === undefined || !Number.isFinite(r.otherCpuPct) ? '-' : `${r.otherCpuPct.toFixed(0)}%`,
    (r.errors > 0 ? `${r.errors} errors; ` : '') + notes(r),
  ];
}

/** Aligns cells into columns (numbers right-aligned from column 4 on). */
export function formatTable(header: readonly string[], body: ReadonlyArray<readonly string[] | undefined>, rightFrom = 4): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r?.[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i >= rightFrom && i < cells.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of body) out.push(r === undefined ? '' : line(r));
  return out.join('\n') + '\n';
}

export function renderTable(rows: readonly Row[], meta: BenchMeta): string {
  const body: Array<string[] | undefined> = [];
  let last: string | undefined;
  for (const r of rows) {
    if (last !== undefined && r.scenario !== last) body.push(undefined);
    last = r.scenario;
    body.push(rowCells(r));
  }
  const head = `tsxenstored bench: ${meta.label}${meta.commit === null || meta.label !== 'tsxenstored' ? '' : ` (${meta.commit})`} on ${meta.host.cpus} x ${meta.host.cpuModel}, node ${meta.host.node}, ${meta.createdAt}\n` +
    `window ${meta.options.durationS} s after ${meta.options.warmupS} s warm-up; latency p50/p99/max per request (transactions: start to commit, retries included)\n` +
    `daemon cpu: its CPU seconds in the window (100% = one core), cpu/op: per operation (transaction, event); gen cpu: the load generator's (all worker threads); other: the rest of the host's (disturbance)${meta.options.pinned ? '; daemon pinned to the last CPU, generator to the others' : ''}\n\n`;
  return head + formatTable(HEADER, body);
}
