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
