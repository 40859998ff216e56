/**
 * What a request handler may read and do: the narrow interface handlers get
 * (Request.services) instead of the daemon itself. The daemon implements it;
 * a handler cannot reach flow control, the backend, durability or the other
 * connections' output.
 */
import type { Perms } from '../store/perms.js';
import type { History } from '../store/history.js';
import type { Store } from '../store/store.js';
import type { Transaction } from '../txn/transaction.js';
import type { QuotaName, Settings } from './config.js';
import type { Connection, ConnWatch } from './connection.js';
import type { Domains } from './domains.js';
import type { Logger } from './log.js';
import type { Request } from './request.js';

export interface Services {
  // ---- what handlers read
  readonly store: Store;
  readonly settings: Settings;
  readonly domains: Domains;
  readonly history: History;
  readonly logger: Logger;
  /** Every connection (CONTROL reports). */
  readonly conns: ReadonlySet<Connection>;
  /** The watch index's size (CONTROL memreport). */
  readonly watches: { readonly size: number };
  /** Garbage collections asked for after large deletions (CONTROL memreport). */
  readonly reclaim: { readonly hints: number };
  /** A quota's value for a domain: its own override, else the global setting. */
  quota(domid: number, name: QuotaName): number;
  specialPermsOf(name: string): Perms;
  /** The whole state as a migration stream (CONTROL dump). */
  dumpStream(): Buffer;
  /** Invariant check (CONTROL check): the problems found, none if consistent. */
  check(): string[];

  // ---- what handlers do
  /** CONTROL log on|off: one log line per request. */
  requestLog: boolean;
  /** CONTROL live-update, when the daemon runs from the command line. */
  readonly liveUpdate: { control(r: Request, args: string[]): string } | undefined;
  setSpecialPerms(name: string, perms: Perms): void;
  introduceDomain(domid: number, mfn: bigint, port: number): void;
  releaseDomain(domid: number): void;
  setTarget(domid: number, target: number): void;
  addWatch(conn: Connection, key: string, w: Omit<ConnWatch, 'owner'>): ConnWatch | undefined;
  removeWatch(conn: Connection, key: string, entry: ConnWatch): void;
  dropWatches(conn: Connection): void;
  newTransaction(conn: Connection): Transaction;
  /** Commits `txn`; false means EAGAIN. */
  commit(conn: Connection, txn: Transaction): boolean;
}
