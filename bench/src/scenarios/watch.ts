/**
 * watch: W connections each watching the same subtree, one writer writing
 * into it with one write in flight; events delivered per second, counted at
 * the watchers, and the delay from the write to each event's arrival.
 */
import { BenchEnv, fmtRate, shards, type Scenario } from '../env.js';
import type { Job, WatchJob } from '../jobs.js';
import { WATCH_ROOT, WATCH_SLOTS } from '../keys.js';
import { makeRow, type Row } from '../result.js';

export const watch: Scenario = {
  name: 'watch',
  steps: (env) => env.sizes.watchers.length,
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      const c = await env.client(t);
      await c.write(WATCH_ROOT, '');
      c.close();
      const rows: Row[] = [];
      for (const w of env.sizes.watchers) {
        const sendTimes = new SharedArrayBuffer(8 * WATCH_SLOTS);
        const base = { kind: 'watch', socket: t.socket, sendTimes } as const;
        const jobs: Job[] = [
          { ...base, role: 'writer', watchers: 0, watchBase: 0 } satisfies WatchJob,
          ...shards(w, env.opts.workers).map(({ base: b, count }): WatchJob => ({ ...base, role: 'watchers', watchers: count, watchBase: b })),
        ];
        const r = await env.measure(`watch W=${w}`, t, jobs);
        const writes = r.counters.writes ?? 0;
        const events = r.counters.events ?? 0;
        const writeLat = r.hists.write;
        const row = makeRow(r, {
          scenario: 'watch',
          variant: 'events',
          mode: t.mode,
          n: w,
          nName: 'watchers',
          unit: 'events/s',
          count: events,
          latency: r.hists.event,
          extra: {
            writesPerS: writes / r.windowS,
            writeP99Us: writeLat === undefined ? Number.NaN : writeLat.quantileNs(0.99) / 1000,
            deliveredPerWrite: writes === 0 ? 0 : events / writes,
            unmatchedEvents: r.counters.unmatchedEvents ?? 0,
          },
        });
        env.progress.end(`${fmtRate(row.throughput, 'events/s')} (${fmtRate(writes / r.windowS, 'writes/s')}), delivery p99 ${row.latencyUs?.p99.toFixed(0) ?? '-'} µs`);
        rows.push(row);
      }
      return rows;
    }),
};
