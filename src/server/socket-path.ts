/**
 * Claiming a Unix socket path without stealing it: a socket file that still
 * accepts connections belongs to a live daemon (Xen's own xenstored, another
 * tsxenstored, a simulated Xen) and is never removed; only a stale one
 * (nobody listening) is replaced.
 */
import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';

export class PathInUseError extends Error {
  constructor(readonly path: string) {
    super(`${path} is in use: a daemon is listening on it (stop it first; tsxenstored never takes over a live socket)`);
    this.name = 'PathInUseError';
  }
}

/** Whether something accepts connections on the socket at `path`. */
export function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    // ECONNREFUSED: a stale file; ENOENT: none; EAGAIN: a full backlog is still a live listener.
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EAGAIN'));
  });
}

/**
 * Makes `path` free to bind: nothing there, or a stale socket file, which is
 * removed. Throws PathInUseError for a live socket, and refuses any other
 * kind of file.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  if (await listening(path)) throw new PathInUseError(path);
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** The identity of the file at `path` (to remove it at exit only if it is still ours), or undefined. */
export function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Removes `path` if it is still the file we created (`identity`), never a successor's. */
export function removeIfOurs(path: string, identity: string | undefined): void {
  if (identity === undefined || fileIdentity(path) !== identity) return;
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
