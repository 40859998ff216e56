/**
 * Waiting before a retry: exponential backoff with full jitter (a uniform
 * delay between 0 and min(cap, base * 2^attempt)), so that clients which
 * collided once spread out instead of colliding again in step; and a sleep
 * that an AbortSignal cuts short.
 */
import { abortError } from './errors.js';

/** The delay before retry number `attempt` (0 for the first retry), in ms. */
export function fullJitterMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  return random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}

/** Resolves after `ms`; rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, op: string, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(abortError(op, undefined, signal.reason));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(op, undefined, signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
