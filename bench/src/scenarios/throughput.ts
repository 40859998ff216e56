/**
 * throughput: write+read pairs (each request is one op, as in the anchors and
 * refdaemons/bench.py) over many connections with one request in flight
 * each, then pipelined (connections x depth in flight).
 */
import { BenchEnv, fmtRate, shards, type Scenario } from '../env.js';
import type { OpsJob } from '../jobs.js';
import { opsRow, type Row } from '../result.js';

function jobs(socket: string, conns: number, depth: number, workers: number): OpsJob[] {
  return shards(conns, workers).map(({ base, count }) => ({
    kind: 'ops',
    socket,
    conns: count,
    connBase: base,
    depth,
    mix: 'write-read',
    keys: { kind: 'per-conn', prefix: '/bench/tp/c', count: 100 },
    prepare: false,
  }));
}

export const throughput: Scenario = {
  name: 'throughput',
  steps: (env) => env.sizes.throughputConns.length + env.sizes.pipelined.length,
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      const rows: Row[] = [];
      const plan: Array<[number, number]> = [...env.sizes.throughputConns.map((c): [number, number] => [c, 1]), ...env.sizes.pipelined.map(([c, d]): [number, number] => [c, d])];
      for (const [conns, depth] of plan) {
        const r = await env.measure(`throughput ${conns} conn x ${depth} in flight`, t, jobs(t.socket, conns, depth, env.opts.workers));
        const row = opsRow(r, 'throughput', depth === 1 ? 'write+read' : 'write+read pipelined', t.mode, conns, depth);
        env.progress.end(`${fmtRate(row.throughput, 'ops/s')}, p99 ${row.latencyUs?.p99.toFixed(1) ?? '-'} µs, daemon ${row.daemon?.cpuPct.toFixed(0) ?? '?'}% cpu, generator ${row.generator.cpuPct.toFixed(0)}%`);
        rows.push(row);
      }
      return rows;
    }),
};
