/**
 * The paths the scenarios use, in one place so that setup (main thread) and
 * load (workers) agree.
 */

/** The three shared keys a VM-start transaction reads. */
export const SHARED_KEYS = ['/vm/bench/name', '/vm/bench/uuid', '/vm/bench/image'] as const;
export const SHARED_VALUES = ['bench-vm', '00000000-0000-4000-8000-000000000001', '/var/lib/xen/images/bench.img'] as const;

/** The hot key of the hotkey and counter patterns. */
export const COUNTER_KEY = '/vm/bench/counter';

/** The 20 keys a VM start writes under the domain's device directory. */
export const DEVICE_KEYS = [
  'vbd/51712/backend', 'vbd/51712/backend-id', 'vbd/51712/state', 'vbd/51712/virtual-device',
  'vbd/51712/device-type', 'vbd/51712/ring-ref', 'vbd/51712/event-channel',
  'vif/0/backend', 'vif/0/backend-id', 'vif/0/state', 'vif/0/handle', 'vif/0/mac',
  'vif/0/ring-ref', 'vif/0/event-channel',
  'console/backend', 'console/backend-id', 'console/state', 'console/ring-ref', 'console/port', 'console/type',
] as const;

export const VMSTART_WRITES = DEVICE_KEYS.length;

export function devicePaths(domid: number): string[] {
  return DEVICE_KEYS.map((k) => `/local/domain/${domid}/device/${k}`);
}

/** Scale key i: a 3-level fan-out of 1000 directories under /s. */
export function scalePath(i: number): string {
  return `/s/${i % 1000}/${Math.floor(i / 1000)}`;
}

/** Watched subtree of the watch scenario, and the writer's key for a slot. */
export const WATCH_ROOT = '/w';
export const WATCH_SLOTS = 4096;
export function watchPath(slot: number): string {
  return `${WATCH_ROOT}/k${slot}`;
}

/** Directory listed by the latency scenario's DIRECTORY. */
export const DIR_PATH = '/bench/dir';
export const DIR_CHILDREN = 16;

/** The sequential scenario's watched subtree (its own: an external daemon keeps other scenarios' state). */
export const SEQ_WATCH_ROOT = '/wseq';

/** Domid ranges, so scenarios sharing one daemon never collide. */
export const SEQ_DOMID_BASE = 10001;
export const VMSTART_DOMID_BASE = 1;
export const DOM0_VMSTART_DOMID_BASE = 20001;
export const GUEST_DOMID_BASE = 1;

/** The fairness scenario: the shared counter every guest may write, and its guests' domids. */
export const FAIR_KEY = '/bench/fair/counter';
export const FAIR_DOMID_BASE = 30001;

/** The floods scenario: its flooding guests' domids, and the key dom0's prober reads. */
export const FLOOD_DOMID_BASE = 31001;
export const FLOOD_PROBE_KEY = '/bench/floods/probe';
