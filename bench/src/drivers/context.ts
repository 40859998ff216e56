/**
 * What every driver gets from the worker: `go()` reports the driver ready and
 * resolves with the measurement window; the window's t1 drops to 0 when the
 * main thread asks to stop early.
 */
import { clock } from '../clock.js';
export interface Window {
  t0: number;
  t1: number;
}

export type Go = () => Promise<Window>;

/** Writes `s` (latin1) into `buf` at `off`; returns the new offset. */
export function put(buf: Buffer, off: number, s: string): number {
  return off + buf.write(s, off, 'latin1');
}

/** Writes the decimal digits of a non-negative integer; returns the new offset. */
export function putUint(buf: Buffer, off: number, n: number): number {
  if (n === 0) {
    buf[off] = 0x30;
    return off + 1;
  }
  let digits = 0;
  for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
  let o = off + digits;
  for (let m = n; m > 0; m = Math.floor(m / 10)) buf[--o] = 0x30 + (m % 10);
  return off + digits;
}

/** Parses leading decimal digits of `p` from `off` (stops at the first non-digit); NaN if none. */
export function parseUint(p: Uint8Array, off = 0): number {
  let n = 0;
  let i = off;
  for (; i < p.length; i++) {
    const c = p[i]!;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return i === off ? Number.NaN : n;
}

/**
 * After t1, every 20 ms, calls `done` for each connection with nothing in
 * flight (one that sent nothing more gets no reply to notice it by); returns
 * the timer, to clear.
 */
export function retireIdle<T extends { readonly inflight: number }>(w: Window, conns: readonly T[], done: (c: T) => void): NodeJS.Timeout {
  return setInterval(() => {
    if (clock() < w.t1) return;
    for (const c of conns) if (c.inflight === 0) done(c);
  }, 20);
}

/** Resolves when `done()` returns true, polling at `everyMs`, or after `timeoutMs` (then false). */
export async function until(done: () => boolean, timeoutMs: number, everyMs = 5): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

/** Error replies by errno name, for the report. */
export class ErrorCounts {
  total = 0;
  private readonly byName = new Map<string, number>();

  add(name: string): void {
    this.total++;
    this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
  }

  /** Into a counters record as `errors` and `err:<NAME>`. */
  into(counters: Record<string, number>): Record<string, number> {
    counters.errors = (counters.errors ?? 0) + this.total;
    for (const [k, v] of this.byName) counters[`err:${k}`] = v;
    return counters;
  }
}
