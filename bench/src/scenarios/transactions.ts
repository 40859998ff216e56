/**
 * vmstart and hotkey: K concurrent clients, each on its own connection,
 * running transactions back to back, retrying at once on EAGAIN.
 *  - vmstart: read 3 shared keys under /vm, write 20 keys under the client's
 *    own /local/domain/<k>/device, commit. Disjoint: coalescing should never
 *    answer EAGAIN; strict mode fails whenever anything committed meanwhile.
 *  - hotkey: the same plus a read-modify-write of one shared counter: real
 *    conflicts. The counter must end equal to its start plus the commits.
 *  - counter: only the read-modify-write (the anchors' "clients incrementing
 *    one shared counter").
 * Each runs in coalesce and strict mode (fresh self-started daemons), and
 * with the clients pipelining each transaction's independent requests and
 * sending them one at a time (variant "... sequential"), as libxenstore does.
 */
import type { XenStoreClient } from '../../../src/client/client.js';
import { BenchEnv, fmtRate, range, shards, type Scenario } from '../env.js';
import type { TxnJob, TxnPattern } from '../jobs.js';
import { COUNTER_KEY, SHARED_KEYS, SHARED_VALUES, VMSTART_DOMID_BASE } from '../keys.js';
import type { TxnSend } from '../options.js';
import { makeRow, type Row } from '../result.js';
import type { StepResult } from '../runner.js';
import type { Target } from '../target.js';

export async function writeSharedKeys(c: XenStoreClient): Promise<void> {
  for (let i = 0; i < SHARED_KEYS.length; i++) await c.write(SHARED_KEYS[i]!, SHARED_VALUES[i]!);
  await c.write(COUNTER_KEY, '0');
}

export function txnJobs(socket: string, pattern: TxnPattern, domids: readonly number[], workers: number, pipeline: boolean, nodes?: number): TxnJob[] {
  return shards(domids.length, workers).map(({ base, count }) => ({
    kind: 'txn',
    socket,
    pattern,
    domids: domids.slice(base, base + count),
    pipeline,
    ...(nodes === undefined ? {} : { nodes }),
  }));
}

/** The transaction row of a step (throughput = commits in the window). */
export function txnRow(r: StepResult, scenario: string, variant: string, mode: string, n: number, nName: string, extra: Record<string, number | string | boolean> = {}): Row {
  const c = r.counters;
  const attempts = c.attempts ?? 0;
  const commits = c.commits ?? 0;
  return makeRow(r, {
    scenario,
    variant,
    mode,
    n,
    nName,
    unit: 'txn/s',
    count: commits,
    latency: r.hists.txn,
    eagainRate: attempts === 0 ? 0 : (c.eagain ?? 0) / attempts,
    firstTryRate: commits === 0 ? 0 : (c.firstTry ?? 0) / commits,
    extra: { attempts, eagain: c.eagain ?? 0, requestsPerS: (c.requests ?? 0) / r.windowS, ...extra },
  });
}

function summary(row: Row): string {
  return `${fmtRate(row.throughput, 'txn/s')}, p99 ${((row.latencyUs?.p99 ?? Number.NaN) / 1000).toFixed(2)} ms, EAGAIN ${(100 * (row.eagainRate ?? 0)).toFixed(1)}%, first try ${(100 * (row.firstTryRate ?? 0)).toFixed(0)}%`;
}

async function readCounter(t: Target, env: BenchEnv): Promise<number> {
  const c = await env.client(t);
  try {
    return Number(await c.readString(COUNTER_KEY));
  } finally {
    c.close();
  }
}

/** The row's variant: the pattern, and "sequential" when its clients keep one request in flight. */
export function txnVariant(pattern: TxnPattern, send: TxnSend): string {
  return send === 'sequential' ? `${pattern} sequential` : pattern;
}

async function runPattern(env: BenchEnv, t: Target, scenario: string, pattern: TxnPattern, ks: readonly number[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const send of env.opts.txnSends) rows.push(...(await runSend(env, t, scenario, pattern, ks, send)));
  return rows;
}

async function runSend(env: BenchEnv, t: Target, scenario: string, pattern: TxnPattern, ks: readonly number[], send: TxnSend): Promise<Row[]> {
  const rows: Row[] = [];
  const pipeline = send === 'pipelined';
  const variant = txnVariant(pattern, send);
  for (const k of ks) {
    const before = pattern === 'vmstart' ? 0 : await readCounter(t, env);
    const r = await env.measure(`${scenario} ${variant} ${t.mode} K=${k}`, t, txnJobs(t.socket, pattern, range(VMSTART_DOMID_BASE, k), env.opts.workers, pipeline));
    const extra: Record<string, number | boolean> = {};
    if (pattern !== 'vmstart') {
      const after = await readCounter(t, env);
      const expected = before + (r.counters.commitsTotal ?? 0);
      Object.assign(extra, { counterBefore: before, counterAfter: after, counterExpected: expected, counterOk: after === expected });
    }
    const row = txnRow(r, scenario, variant, t.mode, k, 'clients', { ...extra, pipelined: pipeline });
    env.progress.end(summary(row) + (pattern === 'vmstart' ? '' : extra.counterOk === true ? ', counter exact' : ', COUNTER MISMATCH'));
    rows.push(row);
  }
  return rows;
}

/** Each conflict mode on a fresh daemon with the shared keys written: the patterns at their sizes. */
async function eachMode(env: BenchEnv, scenario: string, patterns: ReadonlyArray<readonly [TxnPattern, readonly number[]]>): Promise<Row[]> {
  const rows: Row[] = [];
  for (const mode of env.txnModes()) {
    rows.push(
      ...(await env.withDaemon(mode, async (t) => {
        const c = await env.client(t);
        await writeSharedKeys(c);
        c.close();
        const out: Row[] = [];
        for (const [pattern, ks] of patterns) out.push(...(await runPattern(env, t, scenario, pattern, ks)));
        return out;
      })),
    );
  }
  return rows;
}

export const vmstart: Scenario = {
  name: 'vmstart',
  steps: (env) => env.txnModes().length * env.opts.txnSends.length * env.sizes.vmstartK.length,
  run: (env: BenchEnv) => eachMode(env, 'vmstart', [['vmstart', env.sizes.vmstartK]]),
};

export const hotkey: Scenario = {
  name: 'hotkey',
  steps: (env) => env.txnModes().length * env.opts.txnSends.length * (env.sizes.hotkeyK.length + env.sizes.counterK.length),
  run: (env: BenchEnv) =>
    eachMode(env, 'hotkey', [
      ['hotkey', env.sizes.hotkeyK],
      ['counter', env.sizes.counterK],
    ]),
};
