/**
 * The chart, hand-written SVG: one pair of panels per family of rows
 * (transactions, socket throughput, guests, watches, store size), throughput
 * on the left and p99 latency on the right, both against the number of
 * clients (connections, guests, watchers, nodes) on log-log axes. Strict and
 * coalescing runs, and different daemons (--compare), are separate series.
 */
import type { Row } from './result.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Series {
  readonly label: string;
  readonly points: readonly Point[];
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

/** A series' look: a palette colour, dashed on the second pass through the palette. */
export interface Style {
  readonly color: string;
  readonly dash: boolean;
}

/** Plot area height of a panel; the legend goes below it. */
const PLOT_H = 250;
const LEGEND_LINE = 14;

function legendColumns(p: Panel): number {
  return p.series.some((s) => s.label.length > 34) ? 1 : 2;
}

/** Height a panel needs: title, plot, axis labels, and its legend. */
export function panelHeight(p: Panel): number {
  return 28 + PLOT_H + 44 + Math.ceil(p.series.length / legendColumns(p)) * LEGEND_LINE + 8;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Short labels for tick values: 1, 10, 1k, 10k, 1M, 0.1, ... */
export function tickLabel(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Log-scale ticks covering [lo, hi]: powers of ten, with 2 and 5 between them when the range is short. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const steps = b - a <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = a; e <= b; e++) for (const m of steps) out.push(m * 10 ** e);
  return out.filter((t) => t >= lo / 1.0001 && t <= hi * 1.0001);
}

const f = (n: number): string => n.toFixed(1);

/** One panel at (x, y) of size w x h. */
export function renderPanel(p: Panel, x: number, y: number, w: number, styleOf: (label: string) => Style): string {
  const pts = p.series.flatMap((s) => s.points).filter((q) => q.x > 0 && q.y > 0 && Number.isFinite(q.x) && Number.isFinite(q.y));
  const out: string[] = [`<g transform="translate(${x},${y})">`, `<text x="${w / 2}" y="16" text-anchor="middle" class="title">${escapeXml(p.title)}</text>`];
  const left = 58;
  const top = 28;
  const right = w - 12;
  const bottom = top + PLOT_H;
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" class="frame"/>`);
  if (pts.length === 0) {
    out.push(`<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" text-anchor="middle" class="note">no data</text>`, '</g>');
    return out.join('\n');
  }
  let xlo = Math.min(...pts.map((q) => q.x));
  let xhi = Math.max(...pts.map((q) => q.x));
  let ylo = Math.min(...pts.map((q) => q.y));
  let yhi = Math.max(...pts.map((q) => q.y));
  if (xhi / xlo < 1.5) (xlo /= 2), (xhi *= 2);
  if (yhi / ylo < 1.5) (ylo /= 2), (yhi *= 2);
  ylo = 10 ** Math.floor(Math.log10(ylo));
  yhi = 10 ** Math.ceil(Math.log10(yhi));
  const lx = (v: number): number => left + ((Math.log10(v) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo))) * (right - left - 20) + 10;
  const ly = (v: number): number => bottom - ((Math.log10(v) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo))) * (bottom - top);
  for (const t of logTicks(xlo, xhi)) {
    out.push(`<line x1="${f(lx(t))}" y1="${top}" x2="${f(lx(t))}" y2="${bottom}" class="grid"/>`);
    out.push(`<text x="${f(lx(t))}" y="${bottom + 14}" text-anchor="middle" class="tick">${tickLabel(t)}</text>`);
  }
  for (const t of logTicks(ylo, yhi)) {
    out.push(`<line x1="${left}" y1="${f(ly(t))}" x2="${right}" y2="${f(ly(t))}" class="grid"/>`);
    out.push(`<text x="${left - 5}" y="${f(ly(t) + 4)}" text-anchor="end" class="tick">${tickLabel(t)}</text>`);
  }
  out.push(`<text x="${(left + right) / 2}" y="${bottom + 30}" text-anchor="middle" class="axis">${escapeXml(p.xLabel)}</text>`);
  out.push(`<text transform="translate(14,${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" class="axis">${escapeXml(p.yLabel)}</text>`);
  const cols = legendColumns(p);
  p.series.forEach((s, i) => {
    const { color, dash } = styleOf(s.label);
    const dashAttr = dash ? ' stroke-dasharray="6,3"' : '';
    const good = s.points.filter((q) => q.x > 0 && q.y > 0 && Number.isFinite(q.x) && Number.isFinite(q.y)).sort((a, b) => a.x - b.x);
    if (good.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dashAttr} points="${good.map((q) => `${f(lx(q.x))},${f(ly(q.y))}`).join(' ')}"/>`);
    for (const q of good) out.push(`<circle cx="${f(lx(q.x))}" cy="${f(ly(q.y))}" r="3" fill="${color}"><title>${escapeXml(`${s.label}: ${tickLabel(q.x)} -> ${+q.y.toPrecision(4)}`)}</title></circle>`);
    const lxp = left + (i % cols) * ((right - left) / cols);
    const lyp = bottom + 44 + Math.floor(i / cols) * LEGEND_LINE;
    out.push(`<line x1="${lxp}" y1="${lyp - 4}" x2="${lxp + 12}" y2="${lyp - 4}" stroke="${color}" stroke-width="3"${dashAttr}/><text x="${lxp + 16}" y="${lyp}" class="legend">${escapeXml(s.label)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** Panels two to a line, under a title. */
export function renderPanels(panels: readonly Panel[], title: string, subtitle = ''): string {
  const w = 480;
  const cols = 2;
  // Each line of panels (one family) gets its own colours: its two panels share labels.
  let styles = new Map<string, Style>();
  const styleOf = (label: string): Style => {
    let st = styles.get(label);
    if (st === undefined) {
      const i = styles.size;
      st = { color: PALETTE[i % PALETTE.length]!, dash: Math.floor(i / PALETTE.length) % 2 === 1 };
      styles.set(label, st);
    }
    return st;
  };
  const body: string[] = [];
  let y = 50;
  for (let i = 0; i < panels.length; i += cols) {
    const line = panels.slice(i, i + cols);
    styles = new Map<string, Style>();
    line.forEach((p, j) => body.push(renderPanel(p, j * w, y, w, styleOf)));
    y += Math.max(...line.map(panelHeight));
  }
  const width = cols * w;
  const height = Math.max(y, 100);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    '<style>.title{font-size:13px;font-weight:bold}.axis{font-size:11px}.tick{font-size:10px;fill:#444}.legend{font-size:10px}.note{font-size:12px;fill:#888}.frame{fill:none;stroke:#888}.grid{stroke:#e4e4e4}</style>',
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">${escapeXml(subtitle)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

export interface LabelledRows {
  readonly label: string;
  readonly rows: readonly Row[];
}

interface Family {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly latencyUnit: 'µs' | 'ms';
  readonly pick: (r: Row) => boolean;
}

const FAMILIES: readonly Family[] = [
  { title: 'VM-start transactions', xLabel: 'concurrent clients (K)', yLabel: 'committed txn/s', latencyUnit: 'ms', pick: (r) => r.scenario === 'vmstart' || r.scenario === 'hotkey' },
  { title: 'Socket throughput (write+read)', xLabel: 'connections', yLabel: 'ops/s', latencyUnit: 'µs', pick: (r) => r.scenario === 'throughput' },
  { title: 'Guests over rings, dom0 VM starts', xLabel: 'guests (N)', yLabel: 'guest ops/s, dom0 txn/s', latencyUnit: 'ms', pick: (r) => r.scenario === 'guests' },
  { title: 'Watch events', xLabel: 'watchers (W)', yLabel: 'events/s delivered', latencyUnit: 'µs', pick: (r) => r.scenario === 'watch' },
  { title: 'Store size', xLabel: 'nodes', yLabel: 'ops/s, txn/s', latencyUnit: 'µs', pick: (r) => r.scenario === 'scale' && r.unit !== 'bytes/node' && r.variant !== 'populate' },
];

function seriesName(r: Row, label: string, several: boolean): string {
  const variant = r.depth !== undefined && r.depth > 1 ? `${r.variant} x${r.depth}` : r.variant;
  // Comparing, the column label already names the mode.
  if (several) return `${label}: ${variant}`;
  const mode = r.mode === 'native' || r.mode === 'default' ? '' : ` ${r.mode}`;
  return `${variant}${mode}`;
}

/** The chart of one run (one set) or of several runs compared. */
export function renderChart(sets: readonly LabelledRows[], title: string, subtitle = ''): string {
  const several = sets.length > 1;
  const panels: Panel[] = [];
  for (const fam of FAMILIES) {
    const thr = new Map<string, Point[]>();
    const lat = new Map<string, Point[]>();
    for (const set of sets) {
      for (const r of set.rows) {
        if (!fam.pick(r)) continue;
        const name = seriesName(r, set.label, several);
        (thr.get(name) ?? thr.set(name, []).get(name)!).push({ x: r.n, y: r.throughput });
        const p99 = r.latencyUs?.p99;
        if (p99 !== undefined && p99 !== null) (lat.get(name) ?? lat.set(name, []).get(name)!).push({ x: r.n, y: fam.latencyUnit === 'ms' ? p99 / 1000 : p99 });
      }
    }
    if (thr.size === 0) continue;
    const toSeries = (m: Map<string, Point[]>): Series[] => [...m].map(([label, points]) => ({ label, points }));
    panels.push({ title: `${fam.title}: throughput`, xLabel: fam.xLabel, yLabel: fam.yLabel, series: toSeries(thr) });
    panels.push({ title: `${fam.title}: p99 latency`, xLabel: fam.xLabel, yLabel: `p99 latency (${fam.latencyUnit})`, series: toSeries(lat) });
  }
  return renderPanels(panels, title, subtitle);
}
