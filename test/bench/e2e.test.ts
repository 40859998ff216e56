/**
 * A quick end-to-end run of `tsxenstored bench` against daemons it starts
 * itself: the JSON must hold every expected row with sane values. No timing
 * thresholds: only that things happened and that the books balance.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readResults, type BenchResults } from '../../bench/src/json.js';
import type { Row } from '../../bench/src/result.js';
import { explain, projectRoot, run, type RunResult } from '../helpers/daemon.js';

describe('tsxenstored bench --quick (latency, vmstart, watch, durable, fairness, floods)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-bench-e2e-'));
  const json = join(dir, 'r.json');
  const svg = join(dir, 'c.svg');
  const table = join(dir, 't.txt');
  let r: RunResult;
  let res: BenchResults;

  before(async () => {
    r = await run(process.execPath, [join(projectRoot(), 'dist', 'bench', 'src', 'run.js'), '--quick', '--scenarios', 'latency,vmstart,watch,durable,fairness,floods', '--json', json, '--svg', svg, '--table', table], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, explain('bench', r));
    res = readResults(json);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rows = (scenario: string, variant?: string, mode?: string): Row[] =>
    res.rows.filter((x) => x.scenario === scenario && (variant === undefined || x.variant === variant) && (mode === undefined || x.mode === mode));

  it('ran the selected scenarios and nothing else, without failures', () => {
    assert.deepEqual(res.failures, []);
    assert.deepEqual([...new Set(res.rows.map((x) => x.scenario))], ['latency', 'vmstart', 'hotkey', 'watch', 'durable', 'fairness', 'floods']);
    assert.equal(res.meta.options.quick, true);
  });

  it('every row has a throughput, CPU figures and no errors', () => {
    for (const x of res.rows) {
      assert.ok(x.throughput > 0, `${x.scenario} ${x.variant} ${x.mode} n=${x.n}: throughput ${x.throughput}`);
      assert.ok(x.count > 0);
      assert.ok(x.windowS > 0);
      assert.equal(x.errors, 0, `${x.scenario} ${x.variant}: ${JSON.stringify(x.extra)}`);
      assert.ok(x.daemon !== undefined && x.daemon.cpuS >= 0 && x.daemon.rssPeakKiB > 0, 'daemon CPU and RSS are sampled');
      assert.ok(x.generator.cpuS >= 0 && x.generator.threads >= 1);
    }
  });

  it('durable: the same writes and VM starts in memory and with --durable (naming the file system)', () => {
    const d = rows('durable');
    const storages = [...new Set(d.map((x) => x.extra.storage))];
    assert.equal(storages.length, 2, JSON.stringify(storages));
    assert.equal(storages[0], 'in memory');
    assert.match(String(storages[1]), /^--durable \((ext4|tmpfs|xfs|btrfs|overlayfs|zfs|fs 0x[0-9a-f]+)\)$/);
    for (const s of storages) {
      const mine = d.filter((x) => x.extra.storage === s);
      assert.deepEqual(mine.map((x) => `${x.variant.split(' ')[0]} ${x.n}x${x.depth ?? 1}`), ['WRITE 1x1', 'WRITE 4x1', 'WRITE 2x16', 'vmstart 10x1']);
      assert.equal(mine[3]?.eagainRate, 0, 'disjoint VM starts never conflict');
    }
  });

  it('fairness: honest guests alone, then against a flooding guest with conflict credit on and off', () => {
    const f = rows('fairness');
    assert.deepEqual(f.map((x) => x.variant), ['honest alone', 'hostile flooding, conflict credit on', 'hostile flooding, conflict credit off']);
    for (const x of f) {
      assert.equal(x.n, 2);
      assert.ok(Number(x.extra.attemptsPerCommit) >= 1 && Number(x.extra.maxAttempts) >= 1, JSON.stringify(x.extra));
    }
    assert.equal(f[0]?.extra.hostileCommitsPerS, 0, 'no hostile guest in the first step');
    assert.ok(Number(f[2]?.extra.hostileCommitsPerS) > 0, 'without conflict credit the hostile guest commits');
  });

  it('floods: dom0 probed alone, under 1 and 4 flooding guests and a dom0 flooder, flooded and quiet slices apart', () => {
    const f = rows('floods');
    assert.deepEqual(f.map((x) => `${x.variant} ${x.n}`), ['idle 0', '1 guest flooding 1', '4 guests flooding 4', 'dom0 socket flooding 1']);
    for (const x of f) assert.ok(x.latencyUs !== undefined && Number(x.extra.idleP99Us) > 0 && Number(x.extra.p99VsIdle) > 0, `${x.variant}: ${JSON.stringify(x.extra)}`);
    assert.equal(f[0]?.extra.floodOpsPerS, 0, 'no flooders in the idle row');
    for (const x of f.slice(1)) assert.ok(Number(x.extra.floodOpsPerS) > 0, `${x.variant}: the flooders made no progress`);
  });

  it('latency: READ, WRITE and DIRECTORY on one connection, with percentiles in order', () => {
    assert.deepEqual(rows('latency').map((x) => x.variant), ['READ', 'WRITE', 'DIRECTORY']);
    for (const x of rows('latency')) {
      assert.equal(x.n, 1);
      const l = x.latencyUs;
      assert.ok(l !== undefined && l.p50 > 0 && l.p50 <= l.p99 && l.p99 <= l.max, JSON.stringify(l));
    }
  });

  it('vmstart: both modes at every K, pipelined and sequential; disjoint transactions never see EAGAIN when coalescing', () => {
    for (const variant of ['vmstart', 'vmstart sequential']) {
      assert.deepEqual(rows('vmstart', variant).map((x) => `${x.mode} ${x.n} ${String(x.extra.pipelined)}`), [
        `coalesce 1 ${variant === 'vmstart'}`,
        `coalesce 10 ${variant === 'vmstart'}`,
        `strict 1 ${variant === 'vmstart'}`,
        `strict 10 ${variant === 'vmstart'}`,
      ]);
    }
    const coalesce = [...rows('vmstart', 'vmstart', 'coalesce'), ...rows('vmstart', 'vmstart sequential', 'coalesce')];
    const strict = rows('vmstart', 'vmstart', 'strict');
    assert.deepEqual(strict.map((x) => x.n), [1, 10]);
    for (const x of coalesce) {
      assert.equal(x.eagainRate, 0, `K=${x.n}`);
      assert.equal(x.extra.eagain, 0);
      assert.equal(x.firstTryRate, 1);
    }
    for (const x of [...coalesce, ...strict]) assert.ok(x.latencyUs !== undefined && x.latencyUs.p99 > 0);
    // One client alone never conflicts, whatever the mode.
    assert.equal(strict[0]?.eagainRate, 0);
  });

  it('hotkey: the shared counter ends equal to the number of commits, in both modes', () => {
    const hot = rows('hotkey');
    assert.deepEqual([...new Set(hot.map((x) => x.mode))], ['coalesce', 'strict']);
    assert.deepEqual([...new Set(hot.map((x) => x.variant))], ['hotkey', 'hotkey sequential', 'counter', 'counter sequential']);
    for (const x of hot) {
      assert.equal(x.extra.counterOk, true, `${x.variant} ${x.mode} K=${x.n}: ${JSON.stringify(x.extra)}`);
      assert.equal(x.extra.counterAfter, x.extra.counterExpected);
    }
  });

  it('watch: events arrive at the watchers', () => {
    const w = rows('watch', 'events');
    assert.equal(w.length, 1);
    const x = w[0]!;
    assert.ok(x.count > 0);
    assert.ok(typeof x.extra.writesPerS === 'number' && x.extra.writesPerS > 0);
    assert.ok(typeof x.extra.deliveredPerWrite === 'number' && x.extra.deliveredPerWrite > 0);
  });

  it('wrote the chart and the table, and printed the table', () => {
    assert.ok(existsSync(svg));
    assert.match(readFileSync(svg, 'utf8'), /^<svg/);
    const t = readFileSync(table, 'utf8');
    assert.ok(t.includes('vmstart') && t.includes('counter exact'));
    assert.ok(r.stdout.includes('scenario'));
  });
});

describe('tsxenstored bench --quick --scenarios scale', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-bench-scale-'));
  const json = join(dir, 'r.json');
  let res: BenchResults;

  before(async () => {
    const r = await run(process.execPath, [join(projectRoot(), 'dist', 'bench', 'src', 'run.js'), '--quick', '--scenarios', 'scale', '--json', json, '--svg', join(dir, 'c.svg')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, explain('bench', r));
    assert.match(r.stderr, /scale delete all 10000 nodes \(one RM\), then idle: RSS \d+ -> \d+ -> \d+ MiB, heap \d+ -> \d+ -> \d+ MiB/);
    res = readResults(json);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every size, then one delete row with the memory before, after the RM and after idling', () => {
    assert.deepEqual(res.failures, []);
    const rows = res.rows.filter((x) => x.scenario === 'scale');
    assert.deepEqual(rows.map((x) => `${x.variant} ${x.n}`), [
      ...[1000, 10000].flatMap((n) => ['populate', 'memory', 'READ', 'WRITE', 'txn'].map((v) => `${v} ${n}`)),
      'delete 10000',
    ]);
    const e = rows.at(-1)!.extra;
    for (const k of ['rssBeforeKiB', 'rssAfterDeleteKiB', 'rssAfterIdleKiB', 'heapBeforeBytes', 'heapAfterDeleteBytes', 'heapAfterIdleBytes', 'rmS']) {
      assert.ok(typeof e[k] === 'number' && e[k] > 0, `${k}: ${JSON.stringify(e)}`);
    }
    // 10,000 nodes are under reclaim-bytes: the daemon leaves them to V8.
    assert.equal(e.gcHints, 0);
  });
});

describe('tsxenstored bench --quick --scenarios sequential (the C load generator)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-bench-seq-'));
  const json = join(dir, 'r.json');
  let res: BenchResults;

  before(async () => {
    const r = await run(process.execPath, [join(projectRoot(), 'dist', 'bench', 'src', 'run.js'), '--quick', '--scenarios', 'sequential', '--json', json, '--svg', join(dir, 'c.svg')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, explain('bench', r));
    res = readResults(json);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('one row per pattern, each with work done, no errors, and the counter exact', () => {
    assert.deepEqual(res.failures, []);
    const rows = res.rows.filter((x) => x.scenario === 'sequential');
    assert.deepEqual(
      rows.map((x) => `${x.variant} ${x.n}`),
      ['write+read 1', 'write+read 2', 'vmstart 4', 'counter 2', 'watch fan-out 5'],
    );
    for (const x of rows) {
      assert.ok(x.count > 0 && x.throughput > 0, `${x.variant}: nothing counted`);
      assert.equal(x.extra.errors, 0, `${x.variant}: errors`);
      assert.ok((x.latencyUs?.count ?? 0) > 0, `${x.variant}: no latency recorded`);
      assert.ok(x.generator.cpuS > 0, `${x.variant}: the C generator's CPU`);
    }
    const counter = rows.find((x) => x.variant === 'counter')!;
    assert.equal(counter.extra.counterOk, true);
    assert.equal(rows.find((x) => x.variant === 'vmstart')!.eagainRate, 0, 'disjoint VM starts never conflict');
    // Every watcher hears every write (give or take the writes at the window's edges).
    const per = rows.find((x) => x.variant === 'watch fan-out')!.extra.deliveredPerWrite;
    assert.ok(typeof per === 'number' && per > 4 && per < 6, `events per write: ${String(per)}`);
  });
});
