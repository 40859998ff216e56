/**
 * The daemon's watches: registration (per connection and in the index), the
 * permissions of the special nodes (@introduceDomain, @releaseDomain), and
 * delivery of what watch/fire.ts says must be heard, within bounds: an event
 * over the payload limit is dropped (as the C daemon does), and a connection
 * whose backlog is past its hard bound gets no more (it is dropped at the
 * next flush).
 */
import { PAYLOAD_MAX } from '../protocol/limits.js';
import { DEFAULT_PERMS, type Perms } from '../store/perms.js';
import type { Change } from '../store/state.js';
import { changeEvents, specialEvents } from '../watch/fire.js';
import { WatchIndex } from '../watch/watch-index.js';
import type { Settings } from './config.js';
import type { Connection, ConnWatch } from './connection.js';

export interface WatchersHost {
  readonly settings: Settings;
  /** `conn` has output for the next flush. */
  markDirty(conn: Connection): void;
  /** `conn`'s watches changed (durable mode's DIR/rings records those of ring connections). */
  watchesChanged(conn: Connection): void;
}

/** A watch whose connection is closed hears nothing. */
const LIVE = (w: ConnWatch): boolean => !w.owner.closed;

export class Watchers {
  readonly index = new WatchIndex<ConnWatch>();
  /** Events queued to their connections, and events dropped (over the payload limit, or a backlog past its bound). */
  readonly events = { sent: 0, dropped: 0 };
  private readonly specialPerms = new Map<string, Perms>();

  constructor(private readonly host: WatchersHost) {}

  /** Registers a watch (checks done by the caller). Undefined if it exists already. */
  add(conn: Connection, key: string, w: Omit<ConnWatch, 'owner'>): ConnWatch | undefined {
    if (conn.watches.has(key)) return undefined;
    const entry: ConnWatch = { ...w, owner: conn };
    conn.watches.set(key, entry);
    this.index.add(entry);
    this.host.watchesChanged(conn);
    return entry;
  }

  remove(conn: Connection, key: string, entry: ConnWatch): void {
    if (conn.watches.get(key) !== entry) return;
    conn.watches.delete(key);
    this.index.remove(entry);
    this.host.watchesChanged(conn);
  }

  /** Every watch of `conn` (RESET_WATCHES, or the connection closes). */
  drop(conn: Connection): void {
    if (conn.watches.size > 0) this.host.watchesChanged(conn);
    for (const w of conn.watches.values()) this.index.remove(w);
    conn.watches.clear();
  }

  /** Sends watch events for changes, to watchers allowed to read the node. */
  announce(changes: readonly Change[]): void {
    for (const e of changeEvents(changes, this.index, LIVE)) this.queue(e.watch.owner, e.path, e.token);
  }

  /** Fires a special watch (@introduceDomain, @releaseDomain) for those allowed. */
  announceSpecial(name: string): void {
    for (const e of specialEvents(name, this.specialPermsOf(name), this.index, LIVE)) this.queue(e.watch.owner, e.path, e.token);
  }

  specialPermsOf(name: string): Perms {
    return this.specialPerms.get(name) ?? DEFAULT_PERMS;
  }

  setSpecialPerms(name: string, perms: Perms): void {
    this.specialPerms.set(name, perms);
  }

  /** A domain is gone: special nodes that named it go back to the default permissions. */
  forgetDomain(domid: number): void {
    for (const [name, perms] of this.specialPerms) {
      if (perms.some((p) => p.domid === domid)) this.specialPerms.set(name, DEFAULT_PERMS);
    }
  }

  private queue(conn: Connection, path: string, token: string): void {
    if (Buffer.byteLength(path, 'latin1') + Buffer.byteLength(token, 'latin1') + 2 > PAYLOAD_MAX) {
      this.events.dropped++;
      return;
    }
    const s = this.host.settings;
    const hard = conn.caller.privileged ? s['connection-hard-bytes'] : s['domain-output-bytes'];
    this.host.markDirty(conn);
    if (conn.queuedBytes > hard) {
      this.events.dropped++;
      return;
    }
    this.events.sent++;
    conn.event(path, token);
  }
}
