/**
 * The one table of limits. Quotas (`quota: true`) bind unprivileged domains,
 * carry the C xenstored's names and defaults, can be set per domain with
 * SET_QUOTA, and have the C daemon's command-line flag where it has one.
 * The others bound the daemon's own resources and apply to every connection.
 */
export interface Setting {
  readonly name: string;
  readonly descr: string;
  readonly def: number;
  /** Per-domain quota (GET_QUOTA/SET_QUOTA, dom0 exempt). */
  readonly quota: boolean;
  /** Long flag of the C xenstored, if it has one (e.g. entry-nb). */
  readonly flag?: string;
  readonly short?: string;
}

export const SETTINGS = [
  { name: 'nodes', descr: 'Nodes owned per domain', def: 1000, quota: true, flag: 'entry-nb', short: 'E' },
  { name: 'watches', descr: 'Watches per domain', def: 128, quota: true, flag: 'watch-nb', short: 'W' },
  { name: 'transactions', descr: 'Open transactions per domain connection', def: 10, quota: true, flag: 'transaction', short: 't' },
  { name: 'outstanding', descr: 'Requests per domain whose replies are not yet delivered', def: 20, quota: true },
  { name: 'transaction-nodes', descr: 'Distinct nodes one transaction may access', def: 1024, quota: true },
  { name: 'permissions', descr: 'Permission entries per node', def: 5, quota: true, flag: 'perm-nb', short: 'A' },
  { name: 'path-max', descr: 'Length of a node path (relative to the domain home)', def: 2048, quota: true, flag: 'path-max', short: 'M' },
  { name: 'node-size', descr: 'Size of a node value in bytes', def: 2048, quota: true, flag: 'entry-size', short: 'S' },
  { name: 'connection-soft-bytes', descr: 'Queued output above which a connection\'s requests stop being read', def: 64 * 1024, quota: false },
  { name: 'connection-hard-bytes', descr: 'Queued output (replies and watch events) at which a connection is dropped', def: 16 * 1024 * 1024, quota: false },
  { name: 'connection-transactions', descr: 'Open transactions per connection for any caller, dom0 included', def: 1024, quota: false },
  { name: 'connection-watches', descr: 'Watches per connection for any caller, dom0 included', def: 65536, quota: false },
  { name: 'connections', descr: 'Simultaneous socket connections', def: 4096, quota: false },
  { name: 'transaction-log-entries', descr: 'Requests a transaction records for replay at commit', def: 1024, quota: false },
  { name: 'conflict-burst', descr: 'Conflicts a guest may cause other domains before it is slowed down', def: 5, quota: false },
  { name: 'conflict-rate', descr: 'Conflict credit a guest regains per second (0: no conflict credit)', def: 2, quota: false },
  { name: 'domain-output-bytes', descr: 'Queued output (replies and watch events) at which a guest connection is dropped', def: 1024 * 1024, quota: false },
  { name: 'turn-guest-requests', descr: 'Requests of unprivileged connections served per event-loop turn, so the control domain waits at most that long (0: no limit)', def: 16, quota: false },
  { name: 'history', descr: 'Committed revisions kept for tsxenstore log/diff/read --at and Git export (0: off)', def: 1000, quota: false },
  { name: 'history-bytes', descr: 'Estimated bytes old revisions may keep alive; the oldest are dropped past it', def: 32 * 1024 * 1024, quota: false },
  { name: 'reclaim-bytes', descr: 'Estimated bytes of deleted nodes and dropped history after which the daemon, once idle, runs one full garbage collection to give the memory back (0: never)', def: 32 * 1024 * 1024, quota: false },
  { name: 'durable-snapshot-bytes', descr: 'With --durable: log size after which the store is snapshotted and the log emptied', def: 16 * 1024 * 1024, quota: false },
  { name: 'transaction-log-bytes', descr: 'Bytes of requests and answers a transaction records for replay', def: 256 * 1024, quota: false },
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]['name'];
export type QuotaName = Extract<(typeof SETTINGS)[number], { quota: true }>['name'];

export const QUOTA_NAMES: readonly QuotaName[] = SETTINGS.filter((s) => s.quota).map((s) => s.name as QuotaName);

/** Older names still understood (state files, -Q, CONTROL quota set). */
const ALIASES: ReadonlyMap<string, SettingName> = new Map([['node-permissions', 'permissions']]);

/** The setting `s` names (by its name or an older alias), if any. */
export function settingName(s: string): SettingName | undefined {
  return SETTINGS.some((x) => x.name === s) ? (s as SettingName) : ALIASES.get(s);
}

/** The quota `s` names (by its name or an older alias), if any. */
export function quotaName(s: string): QuotaName | undefined {
  const n = settingName(s);
  return n !== undefined && (QUOTA_NAMES as readonly string[]).includes(n) ? (n as QuotaName) : undefined;
}

export type Settings = Record<SettingName, number>;

export function defaultSettings(): Settings {
  const out = {} as Settings;
  for (const s of SETTINGS) out[s.name] = s.def;
  return out;
}

/** The settings as a state stream's global-quota record carries them: quotas, then the daemon's own limits. */
export function settingsByKind(s: Settings): { perDomain: Array<[string, number]>; global: Array<[string, number]> } {
  return {
    perDomain: SETTINGS.filter((x) => x.quota).map((x): [string, number] => [x.name, s[x.name]]),
    global: SETTINGS.filter((x) => !x.quota).map((x): [string, number] => [x.name, s[x.name]]),
  };
}

/** The settings a state stream names that this daemon knows (older names too); the rest are ignored. */
export function knownSettings(named: Iterable<[string, number]>): Partial<Settings> {
  const out: Partial<Settings> = {};
  for (const [raw, v] of named) {
    const name = settingName(raw);
    if (name !== undefined) out[name] = v;
  }
  return out;
}
