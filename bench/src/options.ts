/**
 * The bench command line and the sizes of each scenario (--quick: seconds
 * for the test suite; default: the README run, a few minutes in all).
 */
import { join } from 'node:path';
import { HOST_CPUS } from './target.js';
import { parseArgs } from 'node:util';

export const SCENARIOS = ['latency', 'throughput', 'sequential', 'vmstart', 'hotkey', 'guests', 'watch', 'scale', 'durable', 'fairness', 'floods'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Sizes {
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Connections with one request in flight each (write+read). */
  readonly throughputConns: readonly number[];
  /** [connections, depth] of the pipelined rows. */
  readonly pipelined: ReadonlyArray<readonly [number, number]>;
  readonly vmstartK: readonly number[];
  readonly hotkeyK: readonly number[];
  /** Clients of the counter-only variant (the anchors' "10 clients incrementing one counter"). */
  readonly counterK: readonly number[];
  readonly guestsN: readonly number[];
  /** dom0 VM-start clients running while the guests run. */
  readonly dom0Clients: number;
  readonly watchers: readonly number[];
  readonly scaleNodes: readonly number[];
  readonly scaleDurationMs: number;
  /** scale, after deleting everything: how long to wait for tsxenstored's idle GC hint (reclaim-bytes). */
  readonly scaleReclaimWaitMs: number;
  /** durable: connections of the WRITE rows (one in flight each), the pipelined row, and the VM-start clients. */
  readonly durableConns: readonly number[];
  readonly durablePipelined: readonly [number, number];
  readonly durableVmstartK: number;
  /** fairness: honest guests, and the transactions the hostile guest keeps open. */
  readonly fairHonest: number;
  readonly fairHostileInFlight: number;
  /** floods: the flooding guests of each row, and the requests each keeps in flight (guests: the outstanding quota; dom0 over the socket). */
  readonly floodGuests: readonly number[];
  readonly floodGuestDepth: number;
  readonly floodSocketDepth: number;
  /** floods: flooded and quiet slices alternate this often within each window. */
  readonly floodSliceMs: number;
  /** sequential (the C load generator): write+read connections, VM-start clients, counter clients, watchers. */
  readonly sequential: { readonly wrConns: readonly number[]; readonly vmstartK: number; readonly counterK: number; readonly watchers: number };
}

export const DEFAULT_SIZES: Sizes = {
  durationMs: 5000,
  warmupMs: 1000,
  throughputConns: [1, 8, 64, 256],
  pipelined: [
    [1, 64],
    [8, 64],
  ],
  vmstartK: [1, 10, 100, 1000],
  hotkeyK: [1, 10, 100, 1000],
  counterK: [10],
  guestsN: [10, 100, 1000],
  dom0Clients: 1,
  watchers: [10, 100, 1000],
  scaleNodes: [1_000, 10_000, 100_000, 1_000_000],
  scaleDurationMs: 2000,
  scaleReclaimWaitMs: 10_000,
  durableConns: [1, 64],
  durablePipelined: [8, 64],
  durableVmstartK: 100,
  fairHonest: 4,
  fairHostileInFlight: 8,
  floodGuests: [1, 4],
  floodGuestDepth: 20,
  floodSocketDepth: 64,
  floodSliceMs: 100,
  sequential: { wrConns: [1, 10], vmstartK: 100, counterK: 10, watchers: 100 },
};

export const QUICK_SIZES: Sizes = {
  durationMs: 400,
  warmupMs: 100,
  throughputConns: [1, 4],
  pipelined: [[2, 16]],
  vmstartK: [1, 10],
  hotkeyK: [1, 10],
  counterK: [4],
  guestsN: [2, 5],
  dom0Clients: 1,
  watchers: [5],
  scaleNodes: [1_000, 10_000],
  scaleDurationMs: 300,
  scaleReclaimWaitMs: 2000,
  durableConns: [1, 4],
  durablePipelined: [2, 16],
  durableVmstartK: 10,
  fairHonest: 2,
  fairHostileInFlight: 4,
  floodGuests: [1, 4],
  floodGuestDepth: 20,
  floodSocketDepth: 64,
  floodSliceMs: 50,
  sequential: { wrConns: [1, 2], vmstartK: 4, counterK: 2, watchers: 5 },
};

export interface Options {
  readonly socket: string | undefined;
  readonly pid: number | undefined;
  readonly simDir: string | undefined;
  readonly daemonCmd: string | undefined;
  readonly daemonNodeArgs: readonly string[];
  readonly label: string;
  readonly quick: boolean;
  readonly scenarios: readonly ScenarioName[];
  readonly sizes: Sizes;
  readonly json: string;
  readonly svg: string;
  readonly table: string | undefined;
  readonly workers: number;
  readonly pin: boolean;
  /** Whether the other transaction scenarios (scale, durable, guests) pipeline a transaction's requests. */
  readonly txnPipeline: boolean;
  /**
   * How vmstart and hotkey clients send a transaction's requests, each a row
   * of its own: pipelined (independent reads and writes leave together) and
   * sequential (one request in flight, as libxenstore, xl and QEMU do).
   */
  readonly txnSends: readonly TxnSend[];
  /** Conflict modes to run the transaction scenarios in (self-started daemons). */
  readonly modes: readonly string[];
  /** JSON files to compare instead of running (positionals after --compare). */
  readonly compare: readonly string[] | undefined;
  /** Before each step, wait up to this many seconds for the rest of the host to go quiet (0: do not wait). */
  readonly waitQuietS: number;
  readonly help: boolean;
}

export type TxnSend = 'pipelined' | 'sequential';

export const USAGE = `Usage: tsxenstored bench [options]
       tsxenstored bench --compare A.json B.json ...

Drives a XenStore daemon through its Unix socket and reports throughput,
latency (p50/p99/max), EAGAIN rates, and the daemon's CPU and peak RSS.

  --socket PATH        benchmark the daemon listening on PATH (default: start a
                       fresh tsxenstored per scenario in a temp dir)
  --pid PID            that daemon's pid, to sample its CPU and memory in /proc
  --sim-dir DIR        that daemon's simulated-Xen directory (guests, fairness, floods)
  --daemon-cmd "CMD"   the command of self-started daemons; {socket}, {simdir},
                       {mode} are replaced (--socket {socket} is appended if absent)
  --daemon-node-args "ARGS"  node flags for self-started tsxenstored (e.g. --cpu-prof)
  --label NAME         name of the daemon in the outputs
  --scenarios a,b,...  ${SCENARIOS.join(', ')} (default: all; vmstart includes hotkey;
                       sequential drives the daemon with the C load generator)
  --quick              small sizes, a few seconds in all (for the test suite)
  --duration SECONDS   length of each measurement (default 5, quick 0.4)
  --warmup SECONDS     warm-up before each measurement (default 1, quick 0.1)
  --modes a,b          conflict modes of self-started daemons for the
                       transaction scenarios (default coalesce,strict)
  --txn-send a,b       how vmstart and hotkey clients send a transaction's
                       requests, a row each: pipelined (its independent reads
                       and writes leave together) and/or sequential (one request
                       in flight, as libxenstore does); default both
  --txn-sequential     every transaction scenario sends one request at a time
                       (the same as --txn-send sequential, and scale, durable
                       and guests too)
  --workers N          load-generating worker threads per step (default: CPUs - 1, at least 1)
  --wait-quiet SECONDS before each step, wait up to SECONDS until other processes
                       use less than 10% of a CPU (shared machines; default 0: no wait)
  --no-pin             do not pin the daemon to the last CPU and the generator to the others
  --out DIR            where the JSON and chart go by default (default bench/out,
                       which git ignores; created if missing)
  --json FILE          every figure as JSON (default OUT/bench-results.json)
  --svg FILE           chart (default OUT/bench-chart.svg)
  --table FILE         also write the text table to FILE
  --compare            compare the JSON files given as arguments (no run)
  -h, --help           this text
`;

function positiveNumber(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, got ${JSON.stringify(v)}`);
  return n;
}

export function parseOptions(argv: readonly string[]): Options {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      socket: { type: 'string' },
      pid: { type: 'string' },
      'sim-dir': { type: 'string' },
      'daemon-cmd': { type: 'string' },
      'daemon-node-args': { type: 'string' },
      label: { type: 'string' },
      scenarios: { type: 'string' },
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      modes: { type: 'string' },
      'txn-sequential': { type: 'boolean' },
      'txn-send': { type: 'string' },
      workers: { type: 'string' },
      'no-pin': { type: 'boolean' },
      'wait-quiet': { type: 'string' },
      json: { type: 'string' },
      svg: { type: 'string' },
      out: { type: 'string' },
      table: { type: 'string' },
      compare: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 0 && values.compare !== true) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const quick = values.quick === true;
  const base = quick ? QUICK_SIZES : DEFAULT_SIZES;
  const duration = positiveNumber('--duration', values.duration);
  const warmup = positiveNumber('--warmup', values.warmup);
  const sizes: Sizes = {
    ...base,
    ...(duration === undefined ? {} : { durationMs: duration * 1000 }),
    ...(warmup === undefined ? {} : { warmupMs: warmup * 1000 }),
  };
  let scenarios: ScenarioName[] = [...SCENARIOS];
  if (values.scenarios !== undefined) {
    const wanted = values.scenarios.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const s of wanted) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${JSON.stringify(s)} (known: ${SCENARIOS.join(', ')})`);
    scenarios = SCENARIOS.filter((s) => wanted.includes(s) || (s === 'hotkey' && wanted.includes('vmstart')));
  }
  const pid = values.pid === undefined ? undefined : positiveNumber('--pid', values.pid);
  const workers = positiveNumber('--workers', values.workers) ?? Math.max(1, HOST_CPUS - 1);
  const modes = (values.modes ?? 'coalesce,strict').split(',').map((s) => s.trim());
  for (const m of modes) if (m !== 'coalesce' && m !== 'strict') throw new Error(`--modes takes coalesce and/or strict, got ${JSON.stringify(m)}`);
  const sends = (values['txn-send'] ?? (values['txn-sequential'] === true ? 'sequential' : 'pipelined,sequential')).split(',').map((s) => s.trim());
  for (const m of sends) if (m !== 'pipelined' && m !== 'sequential') throw new Error(`--txn-send takes pipelined and/or sequential, got ${JSON.stringify(m)}`);
  const external = values.socket !== undefined;
  return {
    socket: values.socket,
    pid,
    simDir: values['sim-dir'],
    daemonCmd: values['daemon-cmd'],
    daemonNodeArgs: (values['daemon-node-args'] ?? '').split(' ').filter((s) => s !== ''),
    label: values.label ?? (external ? 'external' : values['daemon-cmd'] !== undefined ? 'custom' : 'tsxenstored'),
    quick,
    scenarios,
    sizes,
    json: values.json ?? join(values.out ?? join('bench', 'out'), 'bench-results.json'),
    svg: values.svg ?? join(values.out ?? join('bench', 'out'), 'bench-chart.svg'),
    table: values.table,
    workers: Math.floor(workers),
    pin: values['no-pin'] !== true,
    txnPipeline: values['txn-sequential'] !== true,
    txnSends: sends as TxnSend[],
    modes,
    compare: values.compare === true ? positionals : undefined,
    waitQuietS: positiveNumber('--wait-quiet', values['wait-quiet']) ?? 0,
    help: values.help === true,
  };
}
