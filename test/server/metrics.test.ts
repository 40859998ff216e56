/**
 * --metrics-listen: Prometheus text on GET /metrics (checked line by line
 * against the exposition format), counters that move with the work done,
 * 404 for anything else, no node names or values in it, and a scraper that
 * never reads cannot stall the daemon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/client.js';
import { parseMetricsAddress } from '../../src/server/metrics-http.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';

function get(socketPath: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*\\})? (-?[0-9.e+-]+|[Nn]a[Nn]|[+-]Inf)$`);
// (Prometheus reads NaN case-insensitively, as Go's ParseFloat does; prom-client writes "Nan".)

/** Parses the text exposition format strictly; returns samples as "name{labels}" -> value. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = new RegExp(`^# HELP (${NAME}) .+$`).exec(line);
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (help !== null) continue;
    if (type !== null) {
      typed.add(type[1]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m !== null, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const family = m[1]!.replace(/_(bucket|sum|count|total)$/, '');
    assert.ok(typed.has(m[1]!) || typed.has(family) || typed.has(`${family}_total`), `sample before its # TYPE: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

test('parseMetricsAddress: port, host:port, [v6]:port, a path; junk refused', () => {
  assert.deepEqual(parseMetricsAddress('9101'), { host: '127.0.0.1', port: 9101 });
  assert.deepEqual(parseMetricsAddress('0.0.0.0:9101'), { host: '0.0.0.0', port: 9101 });
  assert.deepEqual(parseMetricsAddress('[::1]:9101'), { host: '::1', port: 9101 });
  assert.deepEqual(parseMetricsAddress('/run/tsxs-metrics.sock'), { path: '/run/tsxs-metrics.sock' });
  for (const bad of ['', 'abc', '70000', 'host:', ':0']) assert.throws(() => parseMetricsAddress(bad), /--metrics-listen/, bad);
});

test('GET /metrics: Prometheus text whose request counter moves after a write; other paths 404; no node contents', { timeout: 120_000 }, async () => {
  const e = await startDaemonWithMetrics();
  try {
    const xs = await connect({ path: e.daemon.socket });
    const before = parseExposition((await get(e.metrics, '/metrics')).body);
    const writesBefore = before.get('tsxenstored_requests_total{type="WRITE"}') ?? 0;
    await xs.write('/secret-path-name', 'secret-value-bytes');
    await xs.write('/secret-path-name', 'secret-value-bytes-2');
    const tx = await xs.startTransaction();
    await tx.write('/t', '1');
    await tx.commit();
    const r = await get(e.metrics, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    const after = parseExposition(r.body);
    assert.equal(after.get('tsxenstored_requests_total{type="WRITE"}'), writesBefore + 3);
    assert.ok((after.get('tsxenstored_request_seconds_count{type="WRITE"}') ?? 0) >= 3);
    assert.equal(after.get('tsxenstored_transactions_started_total'), 1);
    assert.equal(after.get('tsxenstored_transaction_commits_total{decision="swap"}'), 1);
    assert.ok((after.get('tsxenstored_nodes') ?? 0) >= 4);
    assert.equal(after.get('tsxenstored_connections{kind="socket"}'), 1);
    assert.ok(after.has('tsxenstored_nodejs_eventloop_lag_seconds'), 'event-loop delay');
    assert.ok(after.has('tsxenstored_history_revisions'));
    for (const name of after.keys()) assert.ok(name.startsWith('tsxenstored_'), name);
    assert.ok(!r.body.includes('secret'), 'no node names or values');
    assert.equal((await get(e.metrics, '/')).status, 404);
    assert.equal((await get(e.metrics, '/metrics/../etc')).status, 404);
    assert.equal((await get(e.metrics, '/metrics', 'POST')).status, 405);
    xs.close();
  } finally {
    await e.stop();
  }
});

test('a scraper that never reads its answer cannot stall the daemon', { timeout: 120_000 }, async () => {
  const e = await startDaemonWithMetrics();
  try {
    // Many requests on one connection, never reading: the answers pile up in that socket only.
    const slow = netConnect(e.metrics);
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.pause();
    slow.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(200));
    const xs = await connect({ path: e.daemon.socket });
    for (let i = 0; i < 100; i++) await xs.write(`/k${i}`, String(i));
    assert.equal((await xs.read('/k99')).toString(), '99');
    assert.equal((await get(e.metrics, '/metrics')).status, 200, 'other scrapers are served');
    xs.close();
    slow.destroy();
  } finally {
    await e.stop();
  }
});

async function startDaemonWithMetrics(): Promise<{ daemon: DaemonHandle; metrics: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-metrics-'));
  const metrics = join(dir, 'metrics.sock');
  const daemon = await startDaemon({ args: ['--metrics-listen', metrics] });
  return {
    daemon,
    metrics,
    async stop() {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
