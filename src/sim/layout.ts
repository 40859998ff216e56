/**
 * Where the simulated Xen keeps things: one directory (by default under
 * /dev/shm) holding each guest's ring page file (page-<gfn>), each guest's
 * descriptor (domain-<domid>.json: what a real guest learns from its start
 * info), and the event-channel socket (evtchn.sock).
 */
import { join } from 'node:path';

export const DEFAULT_SIM_DIR = '/dev/shm/tsxenstored';

export interface GuestDescriptor {
  readonly domid: number;
  readonly gfn: string; // decimal; bigint on the wire
  readonly port: number;
}

export const pagePath = (dir: string, gfn: bigint | string): string => join(dir, `page-${gfn}`);
export const descriptorPath = (dir: string, domid: number): string => join(dir, `domain-${domid}.json`);
export const evtchnPath = (dir: string): string => join(dir, 'evtchn.sock');
