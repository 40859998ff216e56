/**
 * How the daemon reaches domains' rings: a DomainBackend maps the ring page
 * named by INTRODUCE and binds its event channel; the daemon sees a
 * DomainLink per introduced domain. Two implementations: the simulated Xen
 * (src/sim/) and the real one (src/xen/, docs/xen-backend.md).
 */

export interface DomainLink {
  /** The domain's ring page (struct xenstore_domain_interface, 4096 bytes). */
  readonly page: SharedArrayBuffer;
  /** Signals the domain's event channel. */
  notify(): void;
  /** Unbinds the event channel and unmaps the page. */
  detach(): void;
}

export interface DomainEvents {
  /** The domain signalled its event channel. */
  onNotify(domid: number): void;
  /** The hypervisor reports the domain dying or gone (VIRQ_DOM_EXC). */
  onDomainDeath(domid: number): void;
  /** The hypervisor reports the domain shut down (or crashed) but still there. */
  onDomainShutdown?(domid: number): void;
}

/** The ring of the domain the daemon runs in (dom0's kernel xenbus). */
export interface LocalDomain {
  readonly domid: number;
  readonly gfn: bigint;
  readonly port: number;
}

export interface DomainBackend {
  /** Called once by the daemon before any attach. */
  start(events: DomainEvents): Promise<void>;
  /** Maps the page `gfn` of `domid` and binds `port`; throws if either is impossible. */
  attach(domid: number, gfn: bigint, port: number): DomainLink;
  /**
   * Where an already running domain's ring is (its gfn and port), for
   * re-attaching after a restore; undefined if the backend cannot tell.
   */
  locate?(domid: number): { gfn: bigint; port: number } | undefined;
  /**
   * The daemon's own domain's ring, if it has one to serve (on Xen: dom0's
   * xsd_kva page and xsd_port), attached by the daemon right after start.
   */
  localDomain?(): LocalDomain | undefined;
  /** Reports (through the events) every attached domain that is dying, gone or shut down. */
  checkDomains?(): void;
  /** Releases everything the backend holds. */
  close(): Promise<void>;
}

/**
 * What the real Xen backend hands to the next daemon of a live update: the
 * event-channel fd (every binding, VIRQ_DOM_EXC included, lives on it) and
 * which local port serves which domain.
 */
export interface XenHandover {
  readonly evtchnFd: number;
  readonly virqPort: number;
  readonly bound: ReadonlyArray<{ domid: number; remotePort: number; localPort: number }>;
}

/**
 * What live update needs of the simulated Xen (src/sim/sim-xen.ts): its
 * event-channel descriptors to hand over, a way to stop reading them, and,
 * in the next daemon, a way to adopt each bound one.
 */
export interface SimHandover {
  handles(): { listener: number | undefined; bound: Array<{ domid: number; port: number; fd: number }> };
  freeze(frozen: boolean): void;
  adoptBound(domid: number, port: number, fd: number): void;
}
