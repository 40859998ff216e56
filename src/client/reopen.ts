/**
 * The reconnect loop: open a new channel, and on any failure wait a
 * jittered, growing delay (capped at 2 s) and try again, until it succeeds
 * or the client is closed. A restarting daemon may be absent (ENOENT),
 * refusing (ECONNREFUSED) or slow for a while; all of these are worth waiting for.
 */
import { fullJitterMs, sleep } from './backoff.js';
import type { ByteChannel } from './channel.js';

/** The longest wait between two reconnect attempts, in ms. */
export const RECONNECT_DELAY_MAX_MS = 2_000;

/** Resolves with the first channel `open` gives; rejects only when `signal` aborts. */
export async function reopenUntilClosed(open: (signal: AbortSignal) => Promise<ByteChannel>, signal: AbortSignal): Promise<ByteChannel> {
  for (let retry = 0; ; retry++) {
    signal.throwIfAborted();
    try {
      return await open(signal);
    } catch (e) {
      if (signal.aborted) throw e;
    }
    await sleep(fullJitterMs(retry, 20, RECONNECT_DELAY_MAX_MS), 'CONNECT', signal);
  }
}
