/**
 * sequential: what a host's real clients do — libxenstore (xl, libxl, QEMU,
 * the xenstore-* tools) sends one request and waits for its reply — driven
 * by the C load generator (bench/loadgen/xsload.c: one thread, epoll), so
 * that the figures are the daemon's and not a Node generator's:
 *
 *  - write+read, 1 connection and 10 connections, one request in flight each;
 *  - VM start, 100 clients: START, READ the 3 shared keys, WRITE 20 keys under
 *    the client's /local/domain/N/device, END, one request at a time;
 *  - counter, 10 clients: START, READ, WRITE +1, END on one key, retried on
 *    EAGAIN (the counter is checked against the commits afterwards);
 *  - watch fan-out: 100 connections watching one subtree, one writer with
 *    one write in flight.
 *
 * Every daemon is driven the same way (`--socket` for C xenstored and
 * oxenstored); needs a C compiler (`cc`), else the scenario says so and is skipped.
 */
import { BenchEnv, fmtRate, type Scenario } from '../env.js';
import { loadgenBinary } from '../drivers/native.js';
import type { NativeJob } from '../jobs.js';
import { COUNTER_KEY, DEVICE_KEYS, SEQ_DOMID_BASE, SEQ_WATCH_ROOT, SHARED_KEYS } from '../keys.js';
import { makeRow, type Row } from '../result.js';
import type { Target } from '../target.js';
import { writeSharedKeys } from './transactions.js';

interface Step {
  readonly label: string;
  readonly variant: string;
  readonly n: number;
  readonly nName: string;
  readonly unit: 'ops/s' | 'txn/s' | 'events/s';
  readonly args: (t: Target) => string[];
}

function steps(env: BenchEnv): Step[] {
  const s = env.sizes.sequential;
  return [
    ...s.wrConns.map((n): Step => ({ label: `write+read, ${n} conn`, variant: 'write+read', n, nName: 'connections', unit: 'ops/s', args: () => ['wr', String(n)] })),
    { label: `vmstart, ${s.vmstartK} clients`, variant: 'vmstart', n: s.vmstartK, nName: 'clients', unit: 'txn/s', args: () => ['vmstart', String(s.vmstartK), String(SEQ_DOMID_BASE), SHARED_KEYS.join(','), DEVICE_KEYS.join(',')] },
    { label: `counter, ${s.counterK} clients`, variant: 'counter', n: s.counterK, nName: 'clients', unit: 'txn/s', args: () => ['counter', String(s.counterK), COUNTER_KEY] },
    { label: `watch, ${s.watchers} watchers`, variant: 'watch fan-out', n: s.watchers, nName: 'watchers', unit: 'events/s', args: () => ['watch', String(s.watchers), SEQ_WATCH_ROOT] },
  ];
}

export const sequential: Scenario = {
  name: 'sequential',
  steps: (env) => steps(env).length,
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      try {
        loadgenBinary();
      } catch (e) {
        env.progress.note(`sequential: skipped (${(e as Error).message.split('\n')[0]})`);
        return [];
      }
      const c = await env.client(t);
      await writeSharedKeys(c);
      await c.write(SEQ_WATCH_ROOT, '');
      const rows: Row[] = [];
      try {
        for (const s of steps(env)) {
          const before = s.variant === 'counter' ? Number((await c.read(COUNTER_KEY)).toString()) : 0;
          const job: NativeJob = { kind: 'native', socket: t.socket, args: s.args(t) };
          const r = await env.measure(`sequential ${s.label}`, t, [job]);
          const k = r.counters;
          const extra: Record<string, number | boolean> = { errors: k.errors ?? 0 };
          if (s.variant === 'counter') {
            const after = Number((await c.read(COUNTER_KEY)).toString());
            Object.assign(extra, { counterOk: after === before + (k.commitsTotal ?? 0), attemptsPerCommit: (k.attempts ?? 0) / Math.max(1, k.ops ?? 0) });
          }
          if (s.variant === 'watch fan-out') Object.assign(extra, { writesPerS: (k.writes ?? 0) / r.windowS, deliveredPerWrite: (k.events ?? 0) / Math.max(1, k.writes ?? 0) });
          const attempts = k.attempts ?? 0;
          const made = makeRow(r, {
            scenario: 'sequential',
            variant: s.variant,
            mode: t.mode,
            n: s.n,
            nName: s.nName,
            depth: 1,
            unit: s.unit,
            count: s.unit === 'events/s' ? (k.events ?? 0) : (k.ops ?? 0),
            latency: r.hists.latency,
            ...(s.unit === 'txn/s' && attempts > 0 ? { eagainRate: (k.eagain ?? 0) / attempts } : {}),
            extra,
          });
          // The generator is the C process: its own CPU in the window (the runner measures only its
          // threads, and counted the child among the host's other load).
          const genS = (k.cpuUs ?? 0) / 1e6;
          const generator = { ...made.generator, cpuS: genS, cpuPct: (100 * genS) / r.windowS, cpuUsPerOp: made.count > 0 ? (1e6 * genS) / made.count : Number.NaN };
          const other = made.otherCpuPct === undefined ? {} : { otherCpuPct: Math.max(0, made.otherCpuPct - generator.cpuPct) };
          const row: Row = { ...made, generator, ...other };
          const check = s.variant === 'counter' ? (extra.counterOk === true ? ', counter exact' : ', COUNTER MISMATCH') : '';
          env.progress.end(`${fmtRate(row.throughput, s.unit)}, p99 ${row.latencyUs?.p99.toFixed(0) ?? '-'} µs, daemon ${row.daemon?.cpuPct.toFixed(0) ?? '?'}% cpu${check}`);
          rows.push(row);
        }
      } finally {
        c.close();
      }
      return rows;
    }),
};
