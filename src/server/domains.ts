/**
 * Domain bookkeeping: which domains are introduced, their ring coordinates,
 * SET_TARGET links, server features and per-domain quota overrides.
 * dom0 is always known and introduced.
 */
import { quotaName, type QuotaName } from './config.js';

/** XENSTORE_SERVER_FEATURE_RECONNECTION | _ERROR | _WATCHDEPTH. */
export const SUPPORTED_FEATURES = 1 | 2 | 4;

export interface Domain {
  readonly domid: number;
  introduced: boolean;
  /** Guest frame of the ring page, as given to INTRODUCE (signed decimal on the wire). */
  mfn: bigint;
  port: number;
  target: number | undefined;
  /** @releaseDomain already sent for its shutdown (RESUME clears it). */
  shutdown: boolean;
  features: number;
  readonly quotas: Map<QuotaName, number>;
}

export class Domains {
  private readonly map = new Map<number, Domain>();

  constructor() {
    const dom0 = this.ensure(0);
    dom0.introduced = true;
  }

  get(domid: number): Domain | undefined {
    return this.map.get(domid);
  }

  /** The domain's record, created (not introduced) if unknown. */
  ensure(domid: number): Domain {
    let d = this.map.get(domid);
    if (d === undefined) {
      d = { domid, introduced: false, mfn: 0n, port: 0, target: undefined, shutdown: false, features: SUPPORTED_FEATURES, quotas: new Map() };
      this.map.set(domid, d);
    }
    return d;
  }

  isIntroduced(domid: number): boolean {
    return this.map.get(domid)?.introduced === true;
  }

  /** Forgets a domain entirely, so a later domain with the same id starts clean. */
  forget(domid: number): void {
    if (domid !== 0) this.map.delete(domid);
  }

  all(): IterableIterator<Domain> {
    return this.map.values();
  }

  /** Takes each domain's features and quota overrides from state records (quota names it does not know are ignored). */
  restoreSettings(records: Iterable<{ readonly domid: number; readonly features: number; readonly quotas: ReadonlyArray<readonly [string, number]> }>): void {
    for (const r of records) {
      const dom = this.ensure(r.domid);
      dom.features = r.features;
      for (const [raw, v] of r.quotas) {
        const name = quotaName(raw);
        if (name !== undefined) dom.quotas.set(name, v);
      }
    }
  }
}
