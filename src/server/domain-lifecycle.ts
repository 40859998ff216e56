/**
 * Domains' lifecycle: the backend that reaches their rings, INTRODUCE (map
 * the ring, bind the event channel, @introduceDomain), shutdown
 * (@releaseDomain once; RESUME re-arms), RELEASE and death (drop the
 * connection, the nodes unless -K, every trace of the id, @releaseDomain),
 * SET_TARGET, and dom0's own ring. The ring protocol itself is
 * RingConnection's; the daemon is reached through LifecycleHost.
 */
import { XsError } from '../protocol/errno.js';
import type { Node } from '../store/node.js';
import { purgeDomain } from '../store/purge.js';
import type { Change } from '../store/state.js';
import type { Store } from '../store/store.js';
import type { DomainBackend, DomainLink } from './backend.js';
import type { Connection } from './connection.js';
import type { Domains } from './domains.js';
import type { Logger } from './log.js';
import type { RingConnection } from './ring-connection.js';

/** What the lifecycle needs of the daemon. */
export interface LifecycleHost {
  readonly domains: Domains;
  readonly conns: ReadonlySet<Connection>;
  readonly store: Store;
  readonly keepOrphans: boolean;
  readonly logger: Logger;
  disconnect(conn: Connection, reason?: string): void;
  announce(changes: readonly Change[]): void;
  announceSpecial(name: string): void;
  scheduleFlush(): void;
  /** The ring sessions changed (durable mode rewrites DIR/rings). */
  sessionsChanged(): void;
  /** Forgets what the daemon keeps per domain elsewhere (conflict credit, special-node permissions). */
  forgetDomain(domid: number): void;
  /** A domain's death changed the store (history, durability). */
  committed(before: Node, domid: number, op: string): void;
  makeRing(domid: number, link: DomainLink): RingConnection;
}

export class DomainLifecycle {
  private backend: DomainBackend | undefined;
  private readonly rings = new Map<number, RingConnection>();

  constructor(private readonly host: LifecycleHost) {}

  /** Lets INTRODUCE map rings through `backend` (the simulated or the real Xen). */
  async attachBackend(backend: DomainBackend): Promise<void> {
    this.backend = backend;
    await backend.start({
      onNotify: (domid) => this.rings.get(domid)?.kick(),
      onDomainDeath: (domid) => {
        const host = this.host;
        if (!host.domains.isIntroduced(domid)) return;
        const before = host.store.root;
        this.releaseDomain(domid);
        if (host.store.root !== before) host.committed(before, domid, `death of domain ${domid}`);
        host.scheduleFlush();
      },
      onDomainShutdown: (domid) => this.domainShutdown(domid),
    });
  }

  /**
   * Attaches the ring of the domain the daemon runs in (dom0's kernel xenbus),
   * if the backend has one and it is not attached yet (a restore or a live
   * update may already have brought it back with its watches).
   */
  attachLocalDomain(): void {
    const local = this.backend?.localDomain?.();
    if (local === undefined || this.rings.has(local.domid)) return;
    this.introduceDomain(local.domid, local.gfn, local.port);
    this.host.logger.info(`domain ${local.domid}'s own ring attached (event channel ${local.port})`);
  }

  /** Where the backend says `domid`'s ring is (the simulated Xen's descriptor), if it can tell. */
  locateRing(domid: number): { gfn: bigint; port: number } | undefined {
    return this.backend?.locate?.(domid);
  }

  /** Asks the backend to report domains that died or shut down (e.g. while no daemon ran). */
  recheckDomains(): void {
    this.backend?.checkDomains?.();
  }

  /** Whether `conn` is a domain's ring connection (not a socket). */
  isRing(conn: Connection): boolean {
    return this.rings.get(conn.caller.domid)?.connection === conn;
  }

  /** The connection of a domain's ring, if it has one. */
  ringConnection(domid: number): Connection | undefined {
    return this.rings.get(domid)?.connection;
  }

  /** All ring connections, for a live update. */
  ringConnections(): ReadonlyMap<number, RingConnection> {
    return this.rings;
  }

  /** The domain shut down or crashed but still exists: @releaseDomain once (RESUME re-arms). */
  domainShutdown(domid: number): void {
    const dom = this.host.domains.get(domid);
    if (dom === undefined || !dom.introduced || dom.shutdown) return;
    dom.shutdown = true;
    this.host.logger.info(`domain ${domid} shut down`);
    this.host.announceSpecial('@releaseDomain');
    this.host.scheduleFlush();
  }

  /** Stops talking to guests without touching their rings (shutdown, not death). */
  async closeBackend(): Promise<void> {
    for (const r of this.rings.values()) r.detach();
    this.rings.clear();
    await this.backend?.close();
    this.backend = undefined;
  }

  introduceDomain(domid: number, mfn: bigint, port: number): void {
    const host = this.host;
    const known = host.domains.get(domid) !== undefined;
    const dom = host.domains.ensure(domid);
    if (dom.introduced && dom.mfn === mfn && dom.port === port) return;
    const fresh = !dom.introduced;
    // A re-introduction with new coordinates (e.g. after resume) rebinds the ring.
    this.rings.get(domid)?.detach();
    this.rings.delete(domid);
    if (this.backend !== undefined) {
      let link;
      try {
        link = this.backend.attach(domid, mfn, port);
      } catch (e) {
        host.logger.warn(`INTRODUCE ${domid}: cannot map its ring (gfn ${mfn}, port ${port}): ${(e as Error).message}`);
        // A failed INTRODUCE leaves no record behind (a toolstack retrying wrong ids grows nothing).
        if (!known) host.domains.forget(domid);
        throw new XsError('EINVAL', `cannot map the ring of domain ${domid}: ${(e as Error).message}`);
      }
      const ring = host.makeRing(domid, link);
      this.rings.set(domid, ring);
      queueMicrotask(() => ring.kick()); // the guest may have written before we bound
    }
    dom.introduced = true;
    dom.mfn = mfn;
    dom.port = port;
    host.sessionsChanged();
    if (!fresh) return;
    host.logger.info(`domain ${domid} introduced (mfn ${mfn}, port ${port})`);
    host.announceSpecial('@introduceDomain');
  }

  /** RELEASE or domain death: drop its connections, its nodes and every trace of its id. */
  releaseDomain(domid: number): void {
    const host = this.host;
    host.sessionsChanged();
    this.rings.get(domid)?.detach();
    this.rings.delete(domid);
    for (const c of [...host.conns]) {
      if (c.caller.domid === domid && !c.caller.privileged) host.disconnect(c, `domain ${domid} released`);
      else if (c.caller.target === domid) c.caller = { ...c.caller, target: undefined };
    }
    purgeDomain(host.store, domid, host.keepOrphans);
    host.domains.forget(domid);
    // Nobody acts for a domain that is gone (nor for a later one with its id).
    for (const d of host.domains.all()) if (d.target === domid) d.target = undefined;
    host.forgetDomain(domid);
    host.logger.info(`domain ${domid} released`);
    host.announce(host.store.takeChanges());
    host.announceSpecial('@releaseDomain');
  }

  setTarget(domid: number, target: number): void {
    this.host.sessionsChanged();
    this.host.domains.ensure(domid).target = target;
    for (const c of this.host.conns) {
      if (c.caller.domid === domid && !c.caller.privileged) c.caller = { ...c.caller, target };
    }
  }
}
