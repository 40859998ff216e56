/**
 * What the main thread asks a load-generating worker to do, and what the
 * worker reports back. Every job runs in three phases: set up (connect,
 * prepare its keys) and report `ready`; wait for `go` with the measurement
 * window [t0, t1) in clock() time; run until t1 (or until its work is done),
 * finish what is in flight, and report `done` with counters and histograms
 * covering only what completed inside the window.
 */
import type { HistogramData } from './stats.js';

/** Request mixes of the ops driver. */
export type OpsMix = 'read' | 'write' | 'directory' | 'write-read';

/** Where the keys of an ops job are. */
export type KeySpace =
  /** Keys `${prefix}/k<i>` for i < count, one such prefix per connection (the connection index is appended to `prefix`). */
  | { readonly kind: 'per-conn'; readonly prefix: string; readonly count: number }
  /** The scale scenario's keys /s/<i % 1000>/<floor(i / 1000)> for i < nodes, chosen at random. */
  | { readonly kind: 'scale'; readonly nodes: number }
  /** One fixed path for every request (DIRECTORY of a prepared directory). */
  | { readonly kind: 'fixed'; readonly path: string };

/** Connections that each keep `depth` requests in flight of one mix. */
export interface OpsJob {
  readonly kind: 'ops';
  readonly socket: string;
  readonly conns: number;
  /** Index of this job's first connection among all jobs of the step (for distinct key prefixes). */
  readonly connBase: number;
  readonly depth: number;
  readonly mix: OpsMix;
  readonly keys: KeySpace;
  /** Create the keys before `ready` (for read mixes). */
  readonly prepare: boolean;
}

export type TxnPattern = 'vmstart' | 'hotkey' | 'counter' | 'single-write';

/**
 * Clients that each run transactions back to back on their own connection,
 * retrying on EAGAIN. vmstart: read 3 shared keys under /vm, write 20 keys
 * under the client's /local/domain/<domid>/device; hotkey: the same plus a
 * read-modify-write of the shared counter; counter: only the read-modify-write;
 * single-write: write one scale key (the scale scenario's transaction).
 */
export interface TxnJob {
  readonly kind: 'txn';
  readonly socket: string;
  readonly pattern: TxnPattern;
  /** One client per domid. */
  readonly domids: readonly number[];
  /** Send the independent requests of a transaction body at once (else one at a time). */
  readonly pipeline: boolean;
  /** For single-write: the number of scale nodes to pick from. */
  readonly nodes?: number;
}

/** The watch scenario: watcher connections, or the one writer. */
export interface WatchJob {
  readonly kind: 'watch';
  readonly socket: string;
  readonly role: 'watchers' | 'writer';
  /** Watchers of this job (role watchers). */
  readonly watchers: number;
  readonly watchBase: number;
  /** Send times of the writer's writes by slot, shared by all threads (Float64Array over it). */
  readonly sendTimes: SharedArrayBuffer;
}

/** Simulated guests, each over its own ring, looping reads, writes, a transaction and a watched write. */
export interface GuestJob {
  readonly kind: 'guests';
  readonly simDir: string;
  readonly domids: readonly number[];
}

/** Honest guests' read-modify-write transactions on `key` while hostile guests flood blind conflicting commits. */
export interface FairnessJob {
  readonly kind: 'fairness';
  readonly simDir: string;
  readonly key: string;
  readonly honest: readonly number[];
  readonly hostile: readonly number[];
  /** Transactions each hostile guest keeps open at once. */
  readonly hostileInFlight: number;
}

/**
 * The floods scenario's load: flooding connections that each keep `depth`
 * requests in flight, alternating a WRITE and a READ of a key of their own
 * (guests over their rings, in their homes; or dom0 over the socket), during
 * every second slice of `sliceMs` (see FloodSlices), quiet in the others.
 */
export interface FloodJob {
  readonly kind: 'flood';
  readonly via: { readonly kind: 'rings'; readonly simDir: string; readonly domids: readonly number[] } | { readonly kind: 'socket'; readonly socket: string; readonly conns: number };
  readonly depth: number;
  readonly sliceMs: number;
}

/** The floods scenario's prober: dom0's sequential READs (one in flight), sorted by slice: flooded or quiet. */
export interface ProbeJob {
  readonly kind: 'probe';
  readonly socket: string;
  readonly key: string;
  readonly sliceMs: number;
  /** Samples sent this soon after a slice began are not counted (the flood starting or draining). */
  readonly settleMs: number;
}

/** Pipelined writes of scale keys [from, to) (run to completion, no window). */
export interface PopulateJob {
  readonly kind: 'populate';
  readonly socket: string;
  readonly from: number;
  readonly to: number;
  readonly conns: number;
  readonly depth: number;
}

/** The C load generator (bench/loadgen/xsload.c) with its arguments after the socket. */
export interface NativeJob {
  readonly kind: 'native';
  readonly socket: string;
  readonly args: readonly string[];
}

export type Job = OpsJob | TxnJob | WatchJob | GuestJob | FairnessJob | FloodJob | ProbeJob | PopulateJob | NativeJob;

/** Counters are summed and histograms merged across workers. */
export interface Metrics {
  readonly counters: Record<string, number>;
  readonly hists: Record<string, HistogramData>;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly metrics: Metrics }
  | { readonly type: 'error'; readonly message: string };

export type ToWorker = { readonly type: 'go'; readonly t0: number; readonly t1: number } | { readonly type: 'stop' };
