/**
 * A client connected as a simulated guest: over the guest's shared ring and
 * event channel (sim/guest.ts) instead of the daemon's socket. The client
 * itself knows nothing of the simulation; it takes the ring as its channel.
 * A failure says which step failed: no such guest, no daemon serving the
 * simulated Xen, or the shared-memory addon not built.
 */
import { connect, type ConnectOptions, type XenStoreClient } from '../client/client.js';
import { XenStoreError, type XenStoreErrorCode } from '../client/errors.js';
import { GuestChannel, readDescriptor } from './guest.js';
import { DEFAULT_SIM_DIR } from './layout.js';
import { AddonMissingError } from './shm.js';

export interface GuestConnectOptions extends Omit<ConnectOptions, 'channel' | 'path'> {
  /** The simulated Xen's directory (default /dev/shm/tsxenstored, or $TSXENSTORED_SIM_DIR). */
  readonly simDir?: string;
}

function guestError(code: XenStoreErrorCode, domid: number, detail: string, cause: unknown): XenStoreError {
  return new XenStoreError(code, 'CONNECT', `domain ${domid}`, detail, { cause });
}

/** Why opening guest `domid`'s ring in `dir` failed, as a XenStoreError. */
function explain(e: unknown, domid: number, dir: string): XenStoreError {
  if (e instanceof AddonMissingError) return guestError('ENOSYS', domid, e.message, e);
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT') {
    return guestError('ECONNREFUSED', domid, `no daemon serves the simulated Xen in ${dir} (start one with: tsxenstored --sim-dir ${dir})`, e);
  }
  return guestError('ECONNREFUSED', domid, e instanceof Error ? e.message : String(e), e);
}

/** Connects as guest `domid` of the simulated Xen. */
export async function connectGuest(domid: number, opts: GuestConnectOptions = {}): Promise<XenStoreClient> {
  const dir = opts.simDir ?? process.env.TSXENSTORED_SIM_DIR ?? DEFAULT_SIM_DIR;
  try {
    readDescriptor(dir, domid);
  } catch (e) {
    throw guestError('ENOENT', domid, (e as Error).message, e);
  }
  let channel;
  try {
    channel = await GuestChannel.open(domid, dir);
  } catch (e) {
    throw explain(e, domid, dir);
  }
  return connect({ ...opts, channel });
}
