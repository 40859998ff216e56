/**
 * Opening the daemon's socket for connect(). A daemon that is starting,
 * restarting or has a full listen backlog refuses for a moment
 * (ECONNREFUSED, EAGAIN): those attempts are retried with backoff until the
 * connect timeout.
 */
import { fullJitterMs, sleep } from './backoff.js';
import { openSocket, type ByteChannel } from './channel.js';
import { XenStoreError } from './errors.js';

/** How long connect() keeps trying by default: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The shortest time one attempt is given, however little of the connect timeout is left. */
const ATTEMPT_MIN_MS = 1_000;

const TRANSIENT = new Set(['ECONNREFUSED', 'EAGAIN']);

/**
 * Opens the socket, retrying while the daemon refuses for a moment, until
 * `timeoutMs` has passed (0: one attempt, as Xen's xs_open makes).
 */
export async function openWithRetry(path: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<ByteChannel> {
  const deadline = performance.now() + timeoutMs;
  for (let retry = 0; ; retry++) {
    const leftMs = Math.max(ATTEMPT_MIN_MS, deadline - performance.now());
    try {
      return await openSocket(path, leftMs, signal);
    } catch (e) {
      if (!(e instanceof XenStoreError) || !TRANSIENT.has(e.code)) throw e;
      const after = deadline - performance.now();
      if (after <= 0) {
        if (retry === 0) throw e;
        throw new XenStoreError(e.code, 'CONNECT', path, `${e.detail ?? e.code}; still refused after ${retry + 1} attempts in ${timeoutMs} ms`, { cause: e });
      }
      await sleep(Math.min(after, fullJitterMs(retry, 10, 500)), 'CONNECT', signal);
    }
  }
}
