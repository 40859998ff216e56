/**
 * Memory back after bulk deletes: once the store and its history hold at
 * least `reclaim-bytes` (estimated) less than at their peak, and at most half
 * of it, and the daemon then sees no request for IDLE_MS, it asks V8 for one
 * full garbage collection. Without it the garbage of a large RM (10^6 nodes:
 * ~250 MiB of heap) stays until allocation happens to trigger a major GC,
 * which on an idle daemon may be never. The forced collection is atomic, a
 * pause proportional to what stays live (~30 ms after deleting everything,
 * ~0.5 s with 700,000 nodes left), hence the half: it runs when the garbage
 * outweighs what stays. At most one per such drop (the peak restarts from
 * what is left), never while requests arrive, one timer at a time.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { NODE_OVERHEAD } from '../store/cost.js';
import type { Settings } from './config.js';

/** Milliseconds without a request before the collection runs. */
export const IDLE_MS = 500;

/** What the trigger reads of the daemon (the Daemon itself satisfies it). */
export interface ReclaimHost {
  readonly store: { readonly nodes: number };
  readonly history: { readonly heldBytes: number };
  readonly settings: Pick<Settings, 'reclaim-bytes'>;
  readonly logger: { info(msg: string): void };
}

/** Time, timers and the collection itself: injected so that tests drive them. */
export interface ReclaimEnv {
  now(): number;
  /** Runs `fn` once after `ms` (without keeping the process alive). */
  later(fn: () => void, ms: number): void;
  /** One full garbage collection; false if none could be run. */
  collect(): boolean;
}

export class IdleReclaim {
  /** Collections run (CONTROL memreport's gc-hints, the metrics). */
  hints = 0;
  private peak = 0;
  private lastTurn = 0;
  private pending = false;

  constructor(
    private readonly host: ReclaimHost,
    private readonly env: ReclaimEnv = realEnv,
  ) {}

  /** Estimated bytes the live store and the retained history keep alive (store/cost.ts's estimate). */
  private retained(): number {
    return this.host.store.nodes * NODE_OVERHEAD + this.host.history.heldBytes;
  }

  /** A turn served requests (called once per turn): O(1). */
  turn(): void {
    // The time of the last turn matters only to a pending collection's timer.
    if (this.pending) this.lastTurn = this.env.now();
    const r = this.retained();
    if (r > this.peak) this.peak = r;
    else if (!this.pending && this.dropped(r)) {
      this.lastTurn = this.env.now();
      this.wait(IDLE_MS);
    }
  }

  private dropped(r: number): boolean {
    const threshold = this.host.settings['reclaim-bytes'];
    return threshold > 0 && this.peak - r >= threshold && r <= this.peak / 2;
  }

  private wait(ms: number): void {
    this.pending = true;
    this.env.later(() => this.fire(), Math.max(1, Math.ceil(ms)));
  }

  /** The timer: collect if idle long enough, else wait for the rest of the idle time (one timer per turn at most). */
  private fire(): void {
    this.pending = false;
    const idle = this.env.now() - this.lastTurn;
    if (idle < IDLE_MS) return this.wait(IDLE_MS - idle);
    const r = this.retained();
    // Grown back meanwhile (or the setting changed): V8 collects as the heap grows.
    if (this.dropped(r)) this.collect(r);
    this.peak = r;
  }

  private collect(r: number): void {
    const started = this.env.now();
    if (!this.env.collect()) return;
    this.hints++;
    const mib = (b: number): string => (b / (1024 * 1024)).toFixed(0);
    this.host.logger.info(`reclaim: the store and its history hold ~${mib(this.peak - r)} MiB less than at their peak; full GC once idle took ${(this.env.now() - started).toFixed(0)} ms`);
  }
}

let gc: (() => void) | null | undefined;

/**
 * V8's full collection without starting node with --expose-gc (an installed
 * daemon's command line is the init system's): the flag is set just long
 * enough to create one context whose global has `gc`, then cleared, so no
 * other context sees it (jest-leak-detector does the same). Node documents
 * setting flags after start-up as unsupported; expose-gc only decides what a
 * new context's global gets, and the test suite checks that it still works.
 */
export function fullGc(): boolean {
  if (gc === undefined) gc = acquireGc();
  if (gc === null) return false;
  gc();
  return true;
}

/** The gc function, or null if this V8 will not give one (then the daemon simply never asks). */
function acquireGc(): (() => void) | null {
  const own: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as () => void;
  v8.setFlagsFromString('--expose-gc');
  try {
    const f: unknown = vm.runInNewContext('gc');
    return typeof f === 'function' ? (f as () => void) : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

const realEnv: ReclaimEnv = {
  now: () => performance.now(),
  later: (fn, ms) => void setTimeout(fn, ms).unref(),
  collect: fullGc,
};
