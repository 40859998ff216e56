/**
 * A stand-in for native/xsxen.node, for the Xen backend's unit tests: no
 * hypervisor runs on a test machine, so the kernel devices and libxenctrl are
 * modelled here (bindings, mappings, a domain list) and every call is
 * recorded. The real addon is proven in the Xen lab (lab/), not here.
 */
import type { XenAddon } from '../../src/xen/native.js';

export interface FakeDomain {
  flags: number;
  /** INTRODUCE's remote port this domain offers, bindable once. */
  port: number;
}

export class FakeAddon implements XenAddon {
  readonly calls: string[] = [];
  readonly domains = new Map<number, FakeDomain>();
  /** Local port -> [domid, remote port]; the VIRQ is [-1, virq]. */
  readonly bound = new Map<number, [number, number]>();
  readonly pages = new Map<SharedArrayBuffer, { domid: number; how: string; released: boolean }>();
  readonly notified: number[] = [];
  failGrant = false;
  failForeign = false;
  failBind = false;
  failVirq = false;
  failDomainList = false;
  private nextPort = 10;
  private nextFd = 100;
  private watcher: ((ports: number[], errno: number) => void) | undefined;
  readonly closed: number[] = [];

  evtchnOpen(): number {
    this.calls.push('evtchnOpen');
    return this.nextFd++;
  }
  evtchnBindInterdomain(_fd: number, domid: number, port: number): number {
    this.calls.push(`bind ${domid}:${port}`);
    const d = this.domains.get(domid);
    if (this.failBind || d === undefined || d.port !== port) throw Object.assign(new Error('bind interdomain event channel: Invalid argument'), { errno: 22 });
    for (const [r, p] of this.bound.values()) if (r === domid && p === port) throw new Error('bind interdomain event channel: Device or resource busy');
    const local = this.nextPort++;
    this.bound.set(local, [domid, port]);
    return local;
  }
  evtchnBindVirq(_fd: number, virq: number): number {
    if (this.failVirq) throw new Error('bind VIRQ: Device or resource busy');
    const local = this.nextPort++;
    this.bound.set(local, [-1, virq]);
    return local;
  }
  evtchnNotify(_fd: number, port: number): void {
    if (!this.bound.has(port)) throw new Error('notify event channel: Invalid argument');
    this.notified.push(port);
  }
  evtchnUnbind(_fd: number, port: number): void {
    this.calls.push(`unbind ${port}`);
    if (!this.bound.delete(port)) throw new Error('unbind event channel: Invalid argument');
  }
  evtchnUnmask(): void {}
  evtchnWatch(_fd: number, cb: (ports: number[], errno: number) => void): number {
    this.watcher = cb;
    return 1;
  }
  evtchnUnwatch(): void {
    this.watcher = undefined;
  }
  /** The hypervisor signals `ports` (as the poll handle would report them). */
  fire(...ports: number[]): void {
    this.watcher?.(ports, 0);
  }
  get watching(): boolean {
    return this.watcher !== undefined;
  }
  gntOpen(): number {
    return this.nextFd++;
  }
  mapGrant(_fd: number, domid: number, ref: number): SharedArrayBuffer {
    this.calls.push(`mapGrant ${domid} ref ${ref}`);
    if (this.failGrant || !this.domains.has(domid)) throw new Error('gntdev map grant: Invalid argument');
    return this.page(domid, 'grant');
  }
  mapForeign(domid: number, gfn: bigint): SharedArrayBuffer {
    this.calls.push(`mapForeign ${domid} gfn ${gfn}`);
    if (this.failForeign || !this.domains.has(domid)) throw new Error('foreign map of the guest\'s frame: Operation not permitted');
    return this.page(domid, 'foreign');
  }
  mapKva(path: string): SharedArrayBuffer {
    this.calls.push(`mapKva ${path}`);
    return this.page(0, 'kva');
  }
  unmap(page: SharedArrayBuffer): void {
    const p = this.pages.get(page);
    if (p !== undefined) p.released = true;
  }
  domainInfo(first: number): [number, number] | null {
    if (this.failDomainList) throw new Error('cannot load libxenctrl (libxenctrl.so: cannot open shared object file)');
    const ids = [...this.domains.keys()].filter((d) => d >= first).sort((a, b) => a - b);
    return ids.length === 0 ? null : [ids[0]!, this.domains.get(ids[0]!)!.flags];
  }
  closeFd(fd: number): void {
    this.closed.push(fd);
  }
  /** The local port bound to `domid`'s ring, if any. */
  portOf(domid: number): number | undefined {
    for (const [local, [d]] of this.bound) if (d === domid) return local;
    return undefined;
  }
  private page(domid: number, how: string): SharedArrayBuffer {
    const p = new SharedArrayBuffer(4096);
    this.pages.set(p, { domid, how, released: false });
    return p;
  }
}
