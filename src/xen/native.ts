/**
 * The real Xen backend's native addon (native/xsxen.cc): event channels,
 * guest page mappings and the hypervisor's domain list. Loaded on first use,
 * so that the package works (with the simulated Xen) where it is not built.
 */
import { loadAddon } from '../server/native-addon.js';

export interface XenAddon {
  evtchnOpen(): number;
  evtchnBindInterdomain(fd: number, domid: number, port: number): number;
  evtchnBindVirq(fd: number, virq: number): number;
  evtchnNotify(fd: number, port: number): void;
  evtchnUnbind(fd: number, port: number): void;
  evtchnUnmask(fd: number, port: number): void;
  /** Calls `cb` with the ports that fired (already unmasked), or a non-zero errno. */
  evtchnWatch(fd: number, cb: (ports: number[], errno: number) => void): number;
  evtchnUnwatch(id: number): void;
  gntOpen(): number;
  mapGrant(gntFd: number, domid: number, ref: number): SharedArrayBuffer;
  mapForeign(domid: number, gfn: bigint): SharedArrayBuffer;
  mapKva(path: string): SharedArrayBuffer;
  /** Gives the guest's page back now; the buffer stays readable (zeros). */
  unmap(page: SharedArrayBuffer): void;
  /** [domid, XEN_DOMINF_* flags] of the first domain whose id is >= first, or null. */
  domainInfo(first: number): [number, number] | null;
  closeFd(fd: number): void;
}

let addon: XenAddon | undefined;

export function loadXenAddon(): XenAddon {
  addon ??= loadAddon<XenAddon>('xsxen', 'Xen');
  return addon;
}
