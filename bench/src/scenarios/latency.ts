/**
 * latency: one connection, one request in flight, for READ, WRITE and
 * DIRECTORY separately: the daemon's round trip with nothing else going on.
 */
import { BenchEnv, fmtRate, type Scenario } from '../env.js';
import type { OpsJob, OpsMix } from '../jobs.js';
import { DIR_CHILDREN, DIR_PATH } from '../keys.js';
import { makeRow, type Row } from '../result.js';

const VARIANTS: ReadonlyArray<{ variant: string; mix: OpsMix }> = [
  { variant: 'READ', mix: 'read' },
  { variant: 'WRITE', mix: 'write' },
  { variant: 'DIRECTORY', mix: 'directory' },
];

export const latency: Scenario = {
  name: 'latency',
  steps: () => VARIANTS.length,
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      const c = await env.client(t);
      for (let i = 0; i < DIR_CHILDREN; i++) await c.write(`${DIR_PATH}/child${i}`, `value-${i}`);
      c.close();
      const rows: Row[] = [];
      for (const { variant, mix } of VARIANTS) {
        const job: OpsJob = {
          kind: 'ops',
          socket: t.socket,
          conns: 1,
          connBase: 0,
          depth: 1,
          mix,
          keys: mix === 'directory' ? { kind: 'fixed', path: DIR_PATH } : { kind: 'per-conn', prefix: '/bench/lat/c', count: 100 },
          prepare: mix === 'read',
        };
        const r = await env.measure(`latency ${variant}`, t, [job]);
        const row = makeRow(r, { scenario: 'latency', variant, mode: t.mode, n: 1, nName: 'connections', depth: 1, unit: 'ops/s', count: r.counters.ops ?? 0, latency: r.hists.latency });
        env.progress.end(`${fmtRate(row.throughput, 'ops/s')}, p99 ${row.latencyUs?.p99.toFixed(1) ?? '-'} µs`);
        rows.push(row);
      }
      return rows;
    }),
};
