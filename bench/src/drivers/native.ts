/**
 * The C load generator (bench/loadgen/xsload.c) as a worker's job: compiled
 * once per source version into the temp directory, started with the job's
 * mode, told the window when the runner opens it, and its JSON line turned
 * into the counters and the histogram every driver reports. One C process
 * drives all of a step's connections from one thread with epoll, so the
 * generator stays cheap next to the daemon on the sequential pattern.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { clock } from '../clock.js';
import type { Metrics, NativeJob } from '../jobs.js';
import { HISTOGRAM_BUCKETS, type HistogramData } from '../stats.js';
import type { Go } from './context.js';

/** bench/loadgen/xsload.c, from dist/bench/src/drivers or bench/src/drivers. */
export function loadgenSource(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(join(dir, 'bench', 'loadgen', 'xsload.c')); i++) dir = dirname(dir);
  return join(dir, 'bench', 'loadgen', 'xsload.c');
}

/** The compiled generator (built on first use); throws with the compiler's words if it cannot be built. */
export function loadgenBinary(): string {
  const src = loadgenSource();
  const text = readFileSync(src);
  const out = join(tmpdir(), 'tsxs-xsload', `xsload-${createHash('sha1').update(text).digest('hex').slice(0, 12)}`);
  if (existsSync(out)) return out;
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.${Date.now()}`;
  const r = spawnSync('cc', ['-O2', '-o', tmp, src, '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build the C load generator (cc ${src}): ${r.error?.message ?? r.stderr}`);
  renameSync(tmp, out);
  return out;
}

interface XsloadOutput {
  counters: Record<string, number>;
  hist: { count: number; sumNs: number; minNs: number; maxNs: number; buckets: Array<[number, number]> };
}

export async function runNative(job: NativeJob, go: Go): Promise<Metrics> {
  const child = spawn(loadgenBinary(), [job.socket, ...job.args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done === true || first.value !== 'ready') throw new Error(`xsload did not start: ${stderr}`);
  const w = await go();
  const now = clock();
  child.stdin.end(`go ${Math.max(0, w.t0 - now)} ${Math.max(0, w.t1 - w.t0)}\n`);
  const last = await lines.next();
  const code = await exited;
  if (code !== 0 || last.done === true) throw new Error(`xsload exited with ${String(code)}: ${stderr}`);
  const out = JSON.parse(last.value) as XsloadOutput;
  const counts = new Float64Array(HISTOGRAM_BUCKETS);
  for (const [b, n] of out.hist.buckets) counts[b] = n;
  const hist: HistogramData = { counts, count: out.hist.count, sumNs: out.hist.sumNs, minNs: out.hist.count > 0 ? out.hist.minNs : Number.POSITIVE_INFINITY, maxNs: out.hist.maxNs };
  return { counters: out.counters, hists: { latency: hist } };
}
