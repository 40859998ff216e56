/**
 * A client connected as a simulated guest: over the guest's shared ring and
 * event channel (sim/guest.ts) instead of the daemon's socket. The client
 * itself knows nothing of the simulation; it takes the ring as its channel.
 */
import { connect, type ConnectOptions, type XenStoreClient } from '../client/client.js';
import { XenStoreError } from '../client/errors.js';
import { GuestChannel } from './guest.js';
import { DEFAULT_SIM_DIR } from './layout.js';

export interface GuestConnectOptions extends Omit<ConnectOptions, 'channel' | 'path'> {
  /** The simulated Xen's directory (default /dev/shm/tsxenstored, or $TSXENSTORED_SIM_DIR). */
  readonly simDir?: string;
}

/** Connects as guest `domid` of the simulated Xen. */
export async function connectGuest(domid: number, opts: GuestConnectOptions = {}): Promise<XenStoreClient> {
  const dir = opts.simDir ?? process.env.TSXENSTORED_SIM_DIR ?? DEFAULT_SIM_DIR;
  let channel;
  try {
    channel = await GuestChannel.open(domid, dir);
  } catch (e) {
    throw new XenStoreError('ECONNREFUSED', 'CONNECT', undefined, (e as Error).message);
  }
  return connect({ ...opts, channel });
}
