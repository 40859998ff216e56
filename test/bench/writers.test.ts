import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compareTable } from '../../bench/src/compare.js';
import { makeMeta, readResults, toJson, writeResults, type BenchResults } from '../../bench/src/json.js';
import { parseOptions } from '../../bench/src/options.js';
import { Progress } from '../../bench/src/progress.js';
import { fmtThroughput, fmtUs, renderTable } from '../../bench/src/report.js';
import type { Row } from '../../bench/src/result.js';
import { escapeXml, logTicks, renderChart, tickLabel } from '../../bench/src/svg.js';

function row(over: Partial<Row>): Row {
  return {
    scenario: 'vmstart',
    variant: 'vmstart',
    mode: 'coalesce',
    n: 10,
    nName: 'clients',
    unit: 'txn/s',
    throughput: 1500,
    count: 7500,
    windowS: 5,
    latencyUs: { p50: 900, p90: 1500, p99: 2500, max: 9000, mean: 1000, count: 7500 },
    eagainRate: 0,
    firstTryRate: 1,
    errors: 0,
    daemon: { cpuS: 4.9, cpuPct: 98, cpuUsPerOp: 653, rssPeakKiB: 81920, rssKiB: 80000 },
    generator: { cpuS: 2, cpuPct: 40, cpuUsPerOp: 267, threads: 1 },
    extra: {},
    ...over,
  };
}

const ROWS: Row[] = [
  row({ n: 1, throughput: 2000 }),
  row({ n: 10 }),
  row({ n: 100, throughput: 1800 }),
  row({ mode: 'strict', n: 1, throughput: 2000 }),
  row({ mode: 'strict', n: 10, throughput: 300, eagainRate: 0.8, firstTryRate: 0.2 }),
  row({ scenario: 'hotkey', variant: 'hotkey', n: 10, throughput: 400, eagainRate: 0.5, extra: { counterOk: true, counterAfter: 2000, counterExpected: 2000 } }),
  row({ scenario: 'throughput', variant: 'write+read', unit: 'ops/s', n: 8, depth: 1, throughput: 45_000, eagainRate: undefined, firstTryRate: undefined }),
  row({ scenario: 'watch', variant: 'events', unit: 'events/s', n: 100, throughput: 20_000, extra: { writesPerS: 200 } }),
  row({ scenario: 'latency', variant: 'READ & <co>', unit: 'ops/s', n: 1, throughput: 30_000 }),
];

const opts = parseOptions(['--quick', '--scenarios', 'vmstart']);
const results: BenchResults = { meta: makeMeta(opts, true, new Date('2025-01-01T00:00:00Z')), rows: ROWS, failures: [] };

const dir = mkdtempSync(join(tmpdir(), 'tsxs-bench-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('JSON', () => {
  it('round-trips through a file', () => {
    const f = join(dir, 'r.json');
    writeResults(f, results);
    const back = readResults(f);
    assert.equal(back.rows.length, ROWS.length);
    assert.deepEqual(back.rows[0], ROWS[0]);
    assert.equal(back.meta.label, 'tsxenstored');
    assert.equal(back.meta.options.quick, true);
    assert.deepEqual(back.meta.options.scenarios, ['vmstart', 'hotkey']);
  });

  it('writes NaN and Infinity as null (JSON has neither)', () => {
    const text = toJson({ ...results, rows: [row({ throughput: Number.NaN, windowS: Number.POSITIVE_INFINITY })] });
    const parsed = JSON.parse(text) as { rows: Array<{ throughput: unknown; windowS: unknown }> };
    assert.equal(parsed.rows[0]?.throughput, null);
    assert.equal(parsed.rows[0]?.windowS, null);
  });

  it('refuses a file that is not bench results', () => {
    const f = join(dir, 'other.json');
    writeFileSync(f, '{"hello": 1}');
    assert.throws(() => readResults(f), /not a bench results file/);
  });
});

describe('SVG', () => {
  const svg = renderChart([{ label: 'tsxenstored', rows: ROWS }], 'bench & co', 'sub');

  it('is one svg element with balanced groups', () => {
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg.trimEnd(), /<\/svg>$/);
    assert.equal((svg.match(/<g /g) ?? []).length, (svg.match(/<\/g>/g) ?? []).length);
  });

  it('draws strict and coalesce as separate series, throughput and p99 panels', () => {
    assert.ok(svg.includes('>vmstart coalesce<'));
    assert.ok(svg.includes('>vmstart strict<'));
    assert.ok(svg.includes('VM-start transactions: throughput'));
    assert.ok(svg.includes('VM-start transactions: p99 latency'));
    assert.ok(svg.includes('Watch events: throughput'));
  });

  it('escapes text and never writes NaN coordinates', () => {
    assert.ok(svg.includes('bench &amp; co'));
    assert.ok(!svg.includes('NaN'));
    assert.ok(!svg.includes('Infinity'));
    assert.equal(escapeXml('<a & "b">'), '&lt;a &amp; &quot;b&quot;&gt;');
  });

  it('puts several daemons in one chart when comparing', () => {
    const two = renderChart(
      [
        { label: 'A', rows: ROWS },
        { label: 'B', rows: ROWS.map((r) => ({ ...r, throughput: r.throughput / 2 })) },
      ],
      'compare',
    );
    assert.ok(two.includes('>A: vmstart<'));
    assert.ok(two.includes('>B: vmstart<'));
    assert.ok(!two.includes('NaN'));
  });

  it('labels log ticks', () => {
    assert.deepEqual(logTicks(1, 1000), [1, 10, 100, 1000]);
    assert.deepEqual(logTicks(10, 100), [10, 20, 50, 100]);
    assert.equal(tickLabel(1000), '1k');
    assert.equal(tickLabel(2_500_000), '2.5M');
    assert.equal(tickLabel(0.5), '0.5');
  });

  it('says so when there is nothing to draw', () => {
    const empty = renderChart([{ label: 'x', rows: [] }], 'nothing');
    assert.match(empty, /<svg/);
  });
});

describe('table', () => {
  it('has a line per row and the figures in it', () => {
    const t = renderTable(ROWS, results.meta);
    assert.ok(t.includes('scenario'));
    assert.ok(t.includes('1.5k txn/s') || t.includes('1500 txn/s'));
    assert.ok(t.includes('counter exact'));
    assert.ok(t.includes('80.0%'));
    assert.equal(t.split('\n').filter((l) => l.startsWith('vmstart')).length, 5);
  });

  it('formats units', () => {
    assert.equal(fmtUs(12.34), '12.3µs');
    assert.equal(fmtUs(2500), '2.50ms');
    assert.equal(fmtUs(2_500_000), '2.50s');
    assert.equal(fmtUs(undefined), '-');
    assert.equal(fmtThroughput(45_000, 'ops/s'), '45.0k ops/s');
    assert.equal(fmtThroughput(512.4, 'bytes/node'), '512 B/node');
  });

  it('compares runs side by side, modes as columns', () => {
    const other: BenchResults = { ...results, meta: { ...results.meta, label: 'cxenstored' }, rows: ROWS.filter((r) => r.mode === 'coalesce').map((r) => ({ ...r, mode: 'native', throughput: r.throughput * 2 })) };
    const t = compareTable([results, other]);
    const header = t.split('\n')[0] ?? '';
    assert.ok(header.includes('tsxenstored coalesce'));
    assert.ok(header.includes('tsxenstored strict'));
    assert.ok(header.includes('cxenstored'));
    assert.ok(t.includes('vmstart vmstart 10 clients'));
  });
});

describe('options', () => {
  it('vmstart brings hotkey along; unknown scenarios are refused', () => {
    assert.deepEqual(parseOptions(['--scenarios', 'latency,vmstart']).scenarios, ['latency', 'vmstart', 'hotkey']);
    assert.throws(() => parseOptions(['--scenarios', 'nope']), /unknown scenario/);
  });

  it('takes durations in seconds and defaults the outputs', () => {
    const o = parseOptions(['--duration', '2.5']);
    assert.equal(o.sizes.durationMs, 2500);
    assert.equal(o.json, 'bench/out/bench-results.json', 'outputs default to a git-ignored folder, not the repository root');
    assert.equal(o.svg, 'bench/out/bench-chart.svg');
    assert.throws(() => parseOptions(['--duration', '0']), /positive/);
  });

  it('an external daemon is labelled as such', () => {
    assert.equal(parseOptions(['--socket', '/x']).label, 'external');
  });
});

describe('progress', () => {
  it('writes one line per step when stderr is not a terminal', () => {
    const out: string[] = [];
    const p = new Progress(2, { isTTY: false, write: (s) => void out.push(s) });
    p.begin('one');
    p.end('fine');
    p.begin('two');
    p.end('also fine');
    p.finish();
    assert.equal(out.length, 3);
    assert.match(out[0] ?? '', /^\[1\/2\] one: fine/);
    assert.match(out[1] ?? '', /^\[2\/2\] two: also fine/);
  });
});
