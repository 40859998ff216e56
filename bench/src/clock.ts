/**
 * One time base for every thread: milliseconds since the epoch with
 * sub-microsecond resolution (performance.timeOrigin differs per worker, the
 * sum does not), so a send time written by one thread can be compared with an
 * arrival time seen by another.
 */
import { performance } from 'node:perf_hooks';

const origin = performance.timeOrigin;

export function clock(): number {
  return origin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
