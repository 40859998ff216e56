/**
 * scale: grows the store to 10^3 .. 10^6 nodes (pipelined writes of
 * /s/<i % 1000>/<floor(i / 1000)>), and at each size times a READ, a WRITE
 * (one connection, one in flight, random keys) and a transaction (start,
 * write one key, commit), and reports memory per node: the daemon's RSS
 * growth over the empty store divided by the nodes (plus the V8 heap growth
 * when the daemon is tsxenstored and answers CONTROL memreport). After the
 * biggest size it deletes everything with one RM and reports the memory
 * before, just after, and once the daemon had time to give it back
 * (tsxenstored: its idle GC hint, polled less often than it waits for
 * idleness; bounded by scaleReclaimWaitMs).
 */
import { clock, sleep } from '../clock.js';
import { BenchEnv, fmtRate, type Scenario } from '../env.js';
import type { OpsJob, OpsMix, PopulateJob } from '../jobs.js';
import { memoryTrail } from '../report.js';
import { makeRow, type Row } from '../result.js';
import type { StepResult } from '../runner.js';
import { sample } from '../proc.js';
import type { Target } from '../target.js';
import { txnJobs, txnRow } from './transactions.js';

/** heap-used and gc-hints of tsxenstored's CONTROL memreport (NaN if absent: another daemon). */
async function memreport(env: BenchEnv, t: Target): Promise<{ heap: number; gcHints: number }> {
  if (!t.tsxenstored) return { heap: Number.NaN, gcHints: Number.NaN };
  const c = await env.client(t);
  const field = (text: string, name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  try {
    const text = await c.control('memreport');
    return { heap: field(text, 'heap-used'), gcHints: field(text, 'gc-hints') };
  } catch {
    return { heap: Number.NaN, gcHints: Number.NaN };
  } finally {
    c.close();
  }
}

const heapUsed = async (env: BenchEnv, t: Target): Promise<number> => (await memreport(env, t)).heap;

function rssKiB(t: Target): number {
  return t.pid === undefined ? Number.NaN : (sample(t.pid)?.rssKiB ?? Number.NaN);
}

export const scale: Scenario = {
  name: 'scale',
  steps: (env) => 4 * env.sizes.scaleNodes.length + 1,
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
      rows.push(await deleteAll(env, t, have));
      return rows;
    }),
};

/**
 * RM /s (every scale node) in one request; memory before it, just after it,
 * and after the idle reclaim: tsxenstored's gc-hints is polled once a second
 * (each poll is a request, and the hint waits for 500 ms without one) until
 * it moves or the wait's bound passes; then a second for the freed pages to
 * leave the RSS. Another daemon just gets that second.
 */
async function deleteAll(env: BenchEnv, t: Target, nodes: number): Promise<Row> {
  env.progress.begin(`scale delete all ${nodes} nodes (one RM), then idle`);
  const before = { rss: rssKiB(t), ...(await memreport(env, t)) };
  const c = await env.client(t);
  const started = clock();
  try {
    await c.rm('/s');
  } finally {
    c.close();
  }
  const rmS = (clock() - started) / 1000;
  const deleted = { rss: rssKiB(t), heap: await heapUsed(env, t) };
  const idleStart = clock();
  let hints = before.gcHints;
  while (t.tsxenstored && !(hints > before.gcHints) && clock() - idleStart < env.sizes.scaleReclaimWaitMs) {
    await sleep(1000);
    hints = (await memreport(env, t)).gcHints;
  }
  const reclaimS = (clock() - idleStart) / 1000;
  await sleep(1000);
  const after = { rss: rssKiB(t), heap: await heapUsed(env, t) };
  const step: StepResult = { counters: {}, hists: {}, windowS: rmS, daemon: undefined, generatorCpuS: 0, threads: 1, otherCpuS: undefined };
  const gcHints = hints - before.gcHints;
  const row: Row = {
    ...makeRow(step, { scenario: 'scale', variant: 'delete', mode: t.mode, n: nodes, nName: 'nodes', unit: 'bytes/node', count: nodes }),
    // RSS given back per deleted node, once idle.
    throughput: ((before.rss - after.rss) * 1024) / nodes,
    extra: {
      rmS,
      reclaimWaitS: reclaimS,
      gcHints,
      rssBeforeKiB: before.rss,
      rssAfterDeleteKiB: deleted.rss,
      rssAfterIdleKiB: after.rss,
      heapBeforeBytes: before.heap,
      heapAfterDeleteBytes: deleted.heap,
      heapAfterIdleBytes: after.heap,
    },
  };
  env.progress.end(`${memoryTrail(row.extra)} (before, after the RM, idle${Number.isFinite(gcHints) ? `: ${gcHints} GC hint` : ''})`);
  return row;
}
