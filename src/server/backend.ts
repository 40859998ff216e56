/**
 * How the daemon reaches domains' rings: a DomainBackend maps the ring page
 * named by INTRODUCE and binds its event channel; the daemon sees a
 * DomainLink per introduced domain. Two implementations: the simulated Xen
 * (src/sim/) and, designed in docs/xen-backend.md, the real one.
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
  /** Releases everything the backend holds. */
  close(): Promise<void>;
}
