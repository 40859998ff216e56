/**
 * The real Xen backend: a DomainBackend on a Xen host's dom0, through
 * /dev/xen/evtchn, /dev/xen/gntdev (or /dev/xen/privcmd) and libxenctrl, all
 * reached through the native addon (src/xen/native.ts).
 *
 * - A guest's page is its grant GNTTAB_RESERVED_XENSTORE, mapped with gntdev;
 *   if that fails, the gfn from INTRODUCE is mapped with privcmd.
 * - dom0's own page is xsd_kva, on the port in xsd_port (the local domain's
 *   ring, attached at start so that dom0's kernel xenbus works).
 * - VIRQ_DOM_EXC says that some domain changed state; the backend then asks
 *   the hypervisor about each domain it has attached and reports those that
 *   shut down (still there) and those that are dying or gone.
 *
 * Live update hands the event-channel fd (with its bindings) to the next
 * daemon, which adopts it (`inherited`) and maps the pages again.
 */
import { readFileSync, existsSync } from 'node:fs';
import type { DomainBackend, DomainEvents, DomainLink, LocalDomain, XenHandover } from '../server/backend.js';
import { loadXenAddon, type XenAddon } from './native.js';

export const VIRQ_DOM_EXC = 3;
export const GNTTAB_RESERVED_XENSTORE = 1;
export const XEN_DOMINF_DYING = 1 << 0;
export const XEN_DOMINF_SHUTDOWN = 1 << 2;

/** Where dom0's own xenstore page and port are, in the order the C daemon looks. */
export const KVA_PATHS = ['/dev/xen/xsd_kva', '/proc/xen/xsd_kva'] as const;
export const PORT_PATHS = ['/dev/xen/xsd_port', '/proc/xen/xsd_port'] as const;


export interface XenBackendOptions {
  readonly log: (level: 'warn' | 'info' | 'debug', msg: string) => void;
  /** A live update's inherited event channels. */
  readonly inherited?: XenHandover;
  /** Override the addon (tests). */
  readonly addon?: XenAddon;
}

interface Bound {
  readonly domid: number;
  readonly remotePort: number;
  readonly localPort: number;
  readonly page: SharedArrayBuffer;
}

/** Whether this looks like a Xen host's control domain (the devices the backend needs exist). */
export function xenPresent(): boolean {
  return existsSync('/dev/xen/evtchn');
}

function firstExisting(paths: readonly string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

export class XenBackend implements DomainBackend {
  private readonly x: XenAddon;
  private events: DomainEvents | undefined;
  private evtchnFd = -1;
  private gntFd = -1;
  private virqPort = -1;
  private watchId = 0;
  /** Attached domains by local port, and by domid. */
  private readonly byPort = new Map<number, Bound>();
  private readonly byDomid = new Map<number, Bound>();
  /** Inherited bindings not yet claimed by attach(), by domid. */
  private readonly inheritedBound = new Map<number, { remotePort: number; localPort: number }>();

  constructor(private readonly opts: XenBackendOptions) {
    this.x = opts.addon ?? loadXenAddon();
  }

  async start(events: DomainEvents): Promise<void> {
    this.events = events;
    const x = this.x;
    const inh = this.opts.inherited;
    try {
      // The domain list first: it is what fails when the tools and the hypervisor disagree.
      x.domainInfo(0);
    } catch (e) {
      throw new Error(`cannot read the hypervisor's domain list: ${(e as Error).message}`);
    }
    if (inh !== undefined) {
      this.evtchnFd = inh.evtchnFd;
      this.virqPort = inh.virqPort;
      for (const b of inh.bound) this.inheritedBound.set(b.domid, { remotePort: b.remotePort, localPort: b.localPort });
    } else {
      this.evtchnFd = x.evtchnOpen();
      try {
        this.virqPort = x.evtchnBindVirq(this.evtchnFd, VIRQ_DOM_EXC);
      } catch (e) {
        x.closeFd(this.evtchnFd);
        this.evtchnFd = -1;
        throw new Error(`cannot bind VIRQ_DOM_EXC (is another xenstored running?): ${(e as Error).message}`);
      }
    }
    try {
      this.gntFd = x.gntOpen();
    } catch (e) {
      this.opts.log('warn', `${(e as Error).message}: guests' pages will be mapped with privcmd`);
    }
    this.watch();
  }

  private watch(): void {
    this.watchId = this.x.evtchnWatch(this.evtchnFd, (ports, errno) => this.fired(ports, errno));
  }

  /** Stops (or restarts) reading event channels (live-update handover). */
  freeze(frozen: boolean): void {
    if (frozen && this.watchId !== 0) {
      this.x.evtchnUnwatch(this.watchId);
      this.watchId = 0;
    } else if (!frozen && this.watchId === 0 && this.evtchnFd >= 0) {
      this.watch();
      // Anything that fired while frozen is pending again: look at every ring.
      for (const b of this.byDomid.values()) this.events?.onNotify(b.domid);
    }
  }

  /** What the next daemon of a live update inherits. */
  handover(): XenHandover {
    return {
      evtchnFd: this.evtchnFd,
      virqPort: this.virqPort,
      bound: [...this.byDomid.values()].map((b) => ({ domid: b.domid, remotePort: b.remotePort, localPort: b.localPort })),
    };
  }

  private fired(ports: number[], errno: number): void {
    if (errno !== 0) this.opts.log('warn', `reading /dev/xen/evtchn failed (errno ${errno})`);
    for (const p of ports) {
      if (p === this.virqPort) {
        this.opts.log('debug', 'VIRQ_DOM_EXC');
        this.checkDomains();
      }
      else {
        const b = this.byPort.get(p);
        if (b !== undefined) this.events?.onNotify(b.domid);
      }
    }
  }

  /** VIRQ_DOM_EXC: report each attached guest that shut down, is dying, or is gone. */
  checkDomains(): void {
    for (const b of [...this.byDomid.values()]) {
      if (b.domid === 0) continue;
      let info: [number, number] | null;
      try {
        info = this.x.domainInfo(b.domid);
      } catch (e) {
        this.opts.log('warn', `domain list: ${(e as Error).message}`);
        return;
      }
      const exists = info !== null && info[0] === b.domid;
      const flags = exists ? info![1] : 0;
      this.opts.log('debug', `domain ${b.domid}: ${exists ? `flags ${flags.toString(16)}` : 'gone'}`);
      if (!exists || (flags & XEN_DOMINF_DYING) !== 0) this.events?.onDomainDeath(b.domid);
      else if ((flags & XEN_DOMINF_SHUTDOWN) !== 0) this.events?.onDomainShutdown?.(b.domid);
    }
  }

  localDomain(): LocalDomain | undefined {
    const port = firstExisting(PORT_PATHS);
    const kva = firstExisting(KVA_PATHS);
    if (port === undefined || kva === undefined) return undefined;
    const n = Number(readFileSync(port, 'latin1').trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${port} holds no event channel port`);
    return { domid: 0, gfn: 0n, port: n };
  }

  private mapPage(domid: number, gfn: bigint): SharedArrayBuffer {
    if (domid === 0) {
      const kva = firstExisting(KVA_PATHS);
      if (kva === undefined) throw new Error(`no ${KVA_PATHS.join(' or ')}`);
      return this.x.mapKva(kva);
    }
    const why: string[] = [];
    if (this.gntFd >= 0) {
      try {
        return this.x.mapGrant(this.gntFd, domid, GNTTAB_RESERVED_XENSTORE);
      } catch (e) {
        why.push((e as Error).message);
      }
    }
    try {
      return this.x.mapForeign(domid, gfn);
    } catch (e) {
      why.push((e as Error).message);
    }
    throw new Error(why.join('; '));
  }

  attach(domid: number, gfn: bigint, port: number): DomainLink {
    if (this.evtchnFd < 0) throw new Error('the Xen backend is not started');
    const page = this.mapPage(domid, gfn);
    let localPort: number;
    const inh = this.inheritedBound.get(domid);
    if (inh !== undefined && inh.remotePort === port) {
      this.inheritedBound.delete(domid);
      localPort = inh.localPort;
    } else {
      try {
        localPort = this.x.evtchnBindInterdomain(this.evtchnFd, domid, port);
      } catch (e) {
        this.x.unmap(page);
        throw e;
      }
    }
    const b: Bound = { domid, remotePort: port, localPort, page };
    this.byPort.set(localPort, b);
    this.byDomid.set(domid, b);
    let detached = false;
    return {
      page,
      notify: () => {
        if (detached) return;
        try {
          this.x.evtchnNotify(this.evtchnFd, localPort);
        } catch (e) {
          this.opts.log('debug', `notify domain ${domid} (port ${localPort}): ${(e as Error).message}`);
        }
      },
      detach: () => {
        if (detached) return;
        detached = true;
        if (this.byDomid.get(domid) === b) this.byDomid.delete(domid);
        if (this.byPort.get(localPort) === b) this.byPort.delete(localPort);
        try {
          this.x.evtchnUnbind(this.evtchnFd, localPort);
        } catch (e) {
          this.opts.log('debug', `unbind port ${localPort} of domain ${domid}: ${(e as Error).message}`);
        }
        this.x.unmap(page);
      },
    };
  }

  locate(domid: number): { gfn: bigint; port: number } | undefined {
    if (domid === 0) return this.localDomain();
    const inh = this.inheritedBound.get(domid);
    return inh === undefined ? undefined : { gfn: 0n, port: inh.remotePort };
  }

  async close(): Promise<void> {
    if (this.watchId !== 0) this.x.evtchnUnwatch(this.watchId);
    this.watchId = 0;
    for (const b of [...this.byDomid.values()]) {
      this.x.unmap(b.page);
    }
    this.byDomid.clear();
    this.byPort.clear();
    // Closing the fd unbinds every port: guests' channels fall back to unbound,
    // waiting for the next daemon to bind them again.
    if (this.evtchnFd >= 0) this.x.closeFd(this.evtchnFd);
    if (this.gntFd >= 0) this.x.closeFd(this.gntFd);
    this.evtchnFd = -1;
    this.gntFd = -1;
  }
}
