/**
 * scale: grows the store to 10^3 .. 10^6 nodes (pipelined writes of
 * /s/<i % 1000>/<floor(i / 1000)>), and at each size times a READ, a WRITE
 * (one connection, one in flight, random keys) and a transaction (start,
 * write one key, commit), and reports memory per node: the daemon's RSS
 * growth over the empty store divided by the nodes (plus the V8 heap growth
 * when the daemon is tsxenstored and answers CONTROL memreport).
 */
import { clock, sleep } from '../clock.js';
import { BenchEnv, fmtRate, type Scenario } from '../env.js';
import type { OpsJob, OpsMix, PopulateJob } from '../jobs.js';
import { makeRow, type Row } from '../result.js';
import { sample } from '../proc.js';
import type { Target } from '../target.js';
import { txnJobs, txnRow } from './transactions.js';

/** heap-used of tsxenstored's CONTROL memreport, or NaN. */
async function heapUsed(env: BenchEnv, t: Target): Promise<number> {
  if (!t.tsxenstored) return Number.NaN;
  const c = await env.client(t);
  try {
    const m = /^heap-used: (\d+)$/m.exec(await c.control('memreport'));
    return m === null ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  } finally {
    c.close();
  }
}

function rssKiB(t: Target): number {
  return t.pid === undefined ? Number.NaN : (sample(t.pid)?.rssKiB ?? Number.NaN);
}

export const scale: Scenario = {
  name: 'scale',
  steps: (env) => 4 * env.sizes.scaleNodes.length,
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      const rows: Row[] = [];
      await sleep(200);
      const rss0 = rssKiB(t);
      const heap0 = await heapUsed(env, t);
      let have = 0;
      for (const nodes of env.sizes.scaleNodes) {
        const populate: PopulateJob = { kind: 'populate', socket: t.socket, from: have, to: nodes, conns: 4, depth: 64 };
        const started = clock();
        const p = await env.measure(`scale populate to ${nodes} nodes`, t, [populate], { durationMs: Number.POSITIVE_INFINITY, warmupMs: 0 });
        have = nodes;
        await sleep(200);
        const rss = rssKiB(t);
        const heap = await heapUsed(env, t);
        const perNode = ((rss - rss0) * 1024) / nodes;
        const written = p.counters.written ?? 0;
        rows.push(
          makeRow(p, {
            scenario: 'scale',
            variant: 'populate',
            mode: t.mode,
            n: nodes,
            nName: 'nodes',
            unit: 'writes/s',
            count: written,
            extra: { elapsedS: (clock() - started) / 1000 },
          }),
          {
            ...makeRow(p, { scenario: 'scale', variant: 'memory', mode: t.mode, n: nodes, nName: 'nodes', unit: 'bytes/node', count: nodes }),
            throughput: perNode,
            extra: { rssKiB: rss, rssBaseKiB: rss0, heapUsedBytes: heap, heapBytesPerNode: (heap - heap0) / nodes },
          },
        );
        env.progress.end(`${fmtRate(written / p.windowS, 'writes/s')}, ${Number.isFinite(perNode) ? perNode.toFixed(0) : '?'} bytes/node RSS${Number.isFinite(heap) ? `, ${((heap - heap0) / nodes).toFixed(0)} bytes/node heap` : ''}`);
        for (const mix of ['read', 'write'] as OpsMix[]) {
          const job: OpsJob = { kind: 'ops', socket: t.socket, conns: 1, connBase: 0, depth: 1, mix, keys: { kind: 'scale', nodes }, prepare: false };
          const r = await env.measure(`scale ${mix.toUpperCase()} at ${nodes} nodes`, t, [job], { durationMs: env.sizes.scaleDurationMs });
          const row = makeRow(r, { scenario: 'scale', variant: mix.toUpperCase(), mode: t.mode, n: nodes, nName: 'nodes', depth: 1, unit: 'ops/s', count: r.counters.ops ?? 0, latency: r.hists.latency });
          env.progress.end(`${fmtRate(row.throughput, 'ops/s')}, p50 ${row.latencyUs?.p50.toFixed(1) ?? '-'} µs, p99 ${row.latencyUs?.p99.toFixed(1) ?? '-'} µs`);
          rows.push(row);
        }
        const r = await env.measure(`scale transaction at ${nodes} nodes`, t, txnJobs(t.socket, 'single-write', [0], 1, env.opts.txnPipeline, nodes), { durationMs: env.sizes.scaleDurationMs });
        const row = txnRow(r, 'scale', 'txn', t.mode, nodes, 'nodes');
        env.progress.end(`${fmtRate(row.throughput, 'txn/s')}, p50 ${row.latencyUs?.p50.toFixed(1) ?? '-'} µs, p99 ${row.latencyUs?.p99.toFixed(1) ?? '-'} µs`);
        rows.push(row);
      }
      return rows;
    }),
};
