/**
 * --compare: the same measurements of several runs (daemons) side by side,
 * one column per daemon and conflict mode, throughput and p99 in each cell.
 */
import { formatTable, fmtThroughput, fmtUs } from './report.js';
import type { BenchResults } from './json.js';
import { rowKey, type Row } from './result.js';
import type { LabelledRows } from './svg.js';

function column(res: BenchResults, mode: string, several: boolean): string {
  return several ? `${res.meta.label} ${mode}` : res.meta.label;
}

/** Rows relabelled per column (daemon, or daemon + mode when a run has several modes). */
export function columns(all: readonly BenchResults[]): LabelledRows[] {
  const out: LabelledRows[] = [];
  for (const res of all) {
    const modes = [...new Set(res.rows.map((r) => r.mode))];
    const txnModes = [...new Set(res.rows.filter((r) => r.eagainRate !== undefined).map((r) => r.mode))];
    const several = txnModes.length > 1;
    for (const m of several ? txnModes : modes.slice(0, 1)) {
      // Rows measured once (no mode split) go into the first column of their run.
      const rows = res.rows.filter((r) => r.mode === m || (several && m === txnModes[0] && !txnModes.includes(r.mode)) || !several);
      out.push({ label: column(res, m, several), rows });
    }
  }
  return out;
}

function cell(r: Row | undefined): string {
  if (r === undefined) return '';
  const t = fmtThroughput(r.throughput ?? Number.NaN, r.unit);
  const p = r.latencyUs?.p99;
  return p === undefined || p === null ? t : `${t} p99 ${fmtUs(p)}`;
}

export function compareTable(all: readonly BenchResults[]): string {
  const cols = columns(all);
  const keys: string[] = [];
  const names = new Map<string, string>();
  const byCol = cols.map((c) => {
    const m = new Map<string, Row>();
    for (const r of c.rows) {
      const k = rowKey(r);
      if (!names.has(k)) {
        keys.push(k);
        names.set(k, `${r.scenario} ${r.variant} ${r.n}${r.depth !== undefined && r.depth > 1 ? `x${r.depth}` : ''} ${r.nName}`);
      }
      m.set(k, r);
    }
    return m;
  });
  const body = keys.map((k) => [names.get(k) ?? k, ...byCol.map((m) => cell(m.get(k)))]);
  return formatTable(['measurement', ...cols.map((c) => c.label)], body, 1);
}

/** The rows of ../shared/PERFORMANCE-ANCHORS.md, with the reference daemons' published figures. */
export const ANCHORS: ReadonlyArray<{ readonly name: string; readonly key: string; readonly oxenstored: number; readonly cxenstored: number; readonly target: string }> = [
  { name: '1 conn, 1 in flight, write+read (ops/s)', key: 'throughput/write+read/1x1', oxenstored: 25_600, cxenstored: 33_700, target: '>= 1.0x C' },
  { name: '8 conns x 64 pipelined, write+read (ops/s)', key: 'throughput/write+read pipelined/8x64', oxenstored: 78_800, cxenstored: 172_900, target: '>= 1.2x C' },
  { name: 'VM start, 100 clients (txn/s)', key: 'vmstart/vmstart/100', oxenstored: 1_532, cxenstored: 2_027, target: '>= 2x C' },
  { name: '10 clients incrementing one counter (txn/s)', key: 'hotkey/counter/10', oxenstored: 1_635, cxenstored: 6_452, target: '>= 1.0x C' },
  { name: '100 watchers, one writer (events/s)', key: 'watch/events/100', oxenstored: 5_900, cxenstored: 13_200, target: '>= 1.5x C' },
  // Issue 15's rows (C load generator, one request in flight per connection); its figures from the issue.
  { name: 'sequential: 1 conn, 1 in flight, write+read (ops/s)', key: 'sequential/write+read/1x1', oxenstored: Number.NaN, cxenstored: 26_624, target: '>= 1.0x C' },
  { name: 'sequential: VM start, 100 clients (txn/s)', key: 'sequential/vmstart/100x1', oxenstored: Number.NaN, cxenstored: 1_064, target: '>= 1.0x C' },
  { name: 'sequential: counter, 10 clients (txn/s)', key: 'sequential/counter/10x1', oxenstored: Number.NaN, cxenstored: 2_501, target: '>= 1.0x C' },
  { name: 'sequential: 100 watchers, one writer (events/s)', key: 'sequential/watch fan-out/100x1', oxenstored: Number.NaN, cxenstored: 2_957, target: '>= 1.5x C' },
];

/** The anchors' rows: each run's throughput next to the published figures. */
export function anchorTable(all: readonly BenchResults[]): string {
  const cols = columns(all);
  const byCol = cols.map((c) => new Map(c.rows.map((r) => [rowKey(r), r])));
  const body = ANCHORS.map((a) => [
    a.name,
    ...byCol.map((m) => {
      const r = m.get(a.key);
      return r === undefined || r.throughput === null ? '' : fmtThroughput(r.throughput, r.unit).replace(/ [a-z]+\/s$/, '');
    }),
    fmtThroughput(a.cxenstored, 'x/s').replace(/ x\/s$/, ''),
    fmtThroughput(a.oxenstored, 'x/s').replace(/ x\/s$/, ''),
    a.target,
  ]);
  return formatTable(['anchor row', ...cols.map((c) => c.label), 'C (anchors)', 'OCaml (anchors)', 'target'], body, 1);
}
