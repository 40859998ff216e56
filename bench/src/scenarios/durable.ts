/**
 * durable: what `--durable` costs. The same writes and VM-start transactions
 * against a fresh in-memory daemon and a fresh durable one (its log and
 * snapshots in the daemon's temp directory, so on TMPDIR's file system: the
 * row names it, since on tmpfs an fsync costs nothing). The durable daemon
 * fsyncs once per event-loop turn, before any answer of that turn leaves, so
 * concurrent writers share fsyncs: one writer pays a whole fsync per write,
 * many writers split it.
 *
 * Needs a self-started tsxenstored (other daemons have no such mode).
 */
import { statfsSync } from 'node:fs';
import { BenchEnv, fmtRate, range, type Scenario } from '../env.js';
import type { OpsJob } from '../jobs.js';
import { VMSTART_DOMID_BASE } from '../keys.js';
import { opsRow, type Row } from '../result.js';
import type { Target } from '../target.js';
import { txnJobs, txnRow, writeSharedKeys } from './transactions.js';

/** statfs(2) magic numbers of the file systems a bench is likely to run on. */
const FS_NAMES: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x01021994, 'tmpfs'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x794c7630, 'overlayfs'],
  [0x2fc12fc1, 'zfs'],
]);

function fsName(dir: string): string {
  try {
    const type = statfsSync(dir).type;
    return FS_NAMES.get(type) ?? `fs 0x${type.toString(16)}`;
  } catch {
    return 'unknown fs';
  }
}

function writeJob(socket: string, conns: number, depth: number): OpsJob {
  return { kind: 'ops', socket, conns, connBase: 0, depth, mix: 'write', keys: { kind: 'per-conn', prefix: '/bench/durable/c', count: 100 }, prepare: false };
}

async function measureAll(env: BenchEnv, t: Target, storage: string): Promise<Row[]> {
  const rows: Row[] = [];
  const plan: Array<[number, number]> = [...env.sizes.durableConns.map((c): [number, number] => [c, 1]), [...env.sizes.durablePipelined]];
  for (const [conns, depth] of plan) {
    // One job: the fsync batching depends on how requests arrive, not on generator threads.
    const r = await env.measure(`durable WRITE ${storage} ${conns} conn x ${depth}`, t, [writeJob(t.socket, conns, depth)]);
    const row = opsRow(r, 'durable', `WRITE ${storage}`, t.mode, conns, depth, { storage });
    env.progress.end(`${fmtRate(row.throughput, 'writes/s')}, p99 ${row.latencyUs?.p99.toFixed(0) ?? '-'} µs`);
    rows.push(row);
  }
  const c = await env.client(t);
  await writeSharedKeys(c);
  c.close();
  const k = env.sizes.durableVmstartK;
  const r = await env.measure(`durable vmstart ${storage} K=${k}`, t, txnJobs(t.socket, 'vmstart', range(VMSTART_DOMID_BASE, k), env.opts.workers, env.opts.txnPipeline));
  const row = txnRow(r, 'durable', `vmstart ${storage}`, t.mode, k, 'clients', { storage });
  env.progress.end(`${fmtRate(row.throughput, 'txn/s')}, p99 ${((row.latencyUs?.p99 ?? Number.NaN) / 1000).toFixed(2)} ms`);
  rows.push(row);
  return rows;
}

export const durable: Scenario = {
  name: 'durable',
  steps: (env) => (env.external || env.opts.daemonCmd !== undefined ? 0 : 2 * (env.sizes.durableConns.length + 2)),
  run: async (env: BenchEnv) => {
    if (env.external || env.opts.daemonCmd !== undefined) {
      env.progress.note('durable: skipped (it compares tsxenstored with and without --durable, so it needs a self-started tsxenstored)');
      return [];
    }
    const rows: Row[] = [];
    rows.push(...(await env.withDaemon(env.plainMode(), (t) => measureAll(env, t, 'in memory'))));
    rows.push(
      ...(await env.withDaemon(env.plainMode(), (t) => measureAll(env, t, `--durable (${fsName(t.durableDir!)})`), { durable: true })),
    );
    return rows;
  },
};
