/**
 * The daemon's metrics in Prometheus's text format (prom-client), for
 * --metrics-listen. Everything is read from the daemon when scraped (counts
 * it keeps anyway), except requests, which are counted and timed as they
 * are served. Nothing here names a node or shows a value: only counts,
 * sizes, times, message types and domain ids.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { opName } from '../protocol/op.js';
import { treeSize } from '../store/size.js';
import type { Daemon } from './daemon.js';
import type { DurableLog } from './durable.js';
import type { RequestObserver } from './requests.js';

type Labels = Record<string, string>;

/** Seconds: from 10 µs (a read) to 1 s (a huge transaction, a slow disk). */
const LATENCY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];

export class Metrics implements RequestObserver {
  readonly registry = new Registry();
  /** Per message type, the counter's and histogram's labelled children (labels are looked up once). */
  private readonly perType: Array<{ count: Counter.Internal; time: Histogram.Internal<string> } | undefined> = [];
  private readonly requests: Counter<'type'>;
  private readonly latency: Histogram<'type'>;

  constructor(
    private readonly d: Daemon,
    durable?: DurableLog,
  ) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'tsxenstored_requests_total', help: 'Requests served, by message type', labelNames: ['type'], registers });
    this.latency = new Histogram({ name: 'tsxenstored_request_seconds', help: 'Time the daemon spent serving a request, by message type', labelNames: ['type'], buckets: LATENCY_BUCKETS, registers });

    this.counter('tsxenstored_transactions_started_total', 'Transactions started', [], () => [[{}, d.stats.started]]);
    this.counter('tsxenstored_transaction_commits_total', 'Transaction ends that committed or were refused, by how the commit was decided (eagain: refused, the caller retries)', ['decision'], () => [
      ...Object.entries(d.stats.commits).map(([decision, n]): [Labels, number] => [{ decision }, n]),
      [{ decision: 'eagain' }, d.stats.conflicts],
    ]);
    this.counter('tsxenstored_watch_events_total', 'Watch events queued to their connections', [], () => [[{}, d.watchers.events.sent]]);
    this.counter('tsxenstored_watch_events_dropped_total', 'Watch events dropped: over the payload limit, or to a connection whose backlog is past its bound', [], () => [[{}, d.watchers.events.dropped]]);
    this.counter('tsxenstored_connections_dropped_total', 'Connections the daemon closed for breaking its bounds', [], () => [[{}, d.stats.droppedConnections]]);
    this.counter('tsxenstored_gc_hints_total', 'Full garbage collections the daemon ran once idle after large deletions (reclaim-bytes)', [], () => [[{}, d.reclaim.hints]]);
    this.counter('tsxenstored_log_lines_dropped_total', 'Log lines dropped because the log file could not keep up, and log writes that failed (one may have held several lines)', [], () => [[{}, d.logger.dropped]]);

    this.gauge('tsxenstored_connections', 'Open connections, by kind (socket: dom0 tools; ring: a domain\'s shared page)', ['kind'], () => {
      let ring = 0;
      for (const c of d.conns) if (d.lifecycle.isRing(c)) ring++;
      return [
        [{ kind: 'socket' }, d.conns.size - ring],
        [{ kind: 'ring' }, ring],
      ];
    });
    this.gauge('tsxenstored_domains', 'Domains introduced', [], () => {
      let n = 0;
      for (const dom of d.domains.all()) if (dom.introduced) n++;
      return [[{}, n]];
    });
    this.gauge('tsxenstored_nodes', 'Nodes in the store', [], () => [[{}, treeSize(d.store.root).nodes]]);
    this.gauge('tsxenstored_node_bytes', 'Bytes of the nodes\' names and values', [], () => [[{}, treeSize(d.store.root).bytes]]);
    this.gauge('tsxenstored_domain_usage', 'What each domain that uses anything holds, by quota (nodes, watches, transactions, outstanding)', ['domid', 'quota'], () => {
      const use = new Map<number, { nodes: number; watches: number; transactions: number; outstanding: number }>();
      const of = (domid: number): { nodes: number; watches: number; transactions: number; outstanding: number } => {
        let u = use.get(domid);
        if (u === undefined) use.set(domid, (u = { nodes: 0, watches: 0, transactions: 0, outstanding: 0 }));
        return u;
      };
      for (const [domid, n] of d.store.usageTable()) of(domid).nodes = n;
      for (const c of d.conns) {
        const u = of(c.caller.domid);
        u.watches += c.watches.size;
        u.transactions += c.transactions.size;
        u.outstanding += c.queuedFrames;
      }
      const out: Array<[Labels, number]> = [];
      for (const [domid, u] of use) for (const [quota, n] of Object.entries(u)) out.push([{ domid: String(domid), quota }, n]);
      return out;
    });
    this.gauge('tsxenstored_history_revisions', 'Revisions the history holds', [], () => [[{}, d.history.head - d.history.oldest + 1]]);
    this.gauge('tsxenstored_history_bytes', 'Estimated bytes only the history\'s older revisions keep alive', [], () => [[{}, d.history.heldBytes]]);
    if (durable !== undefined) {
      const fsync = new Histogram({ name: 'tsxenstored_durable_sync_seconds', help: 'Time to write and fsync one turn\'s commits (--durable)', buckets: LATENCY_BUCKETS, registers });
      durable.onSync = (s) => fsync.observe(s);
    }
    // The process: CPU, memory, file descriptors, garbage collection and event-loop delay (nodejs_eventloop_lag_*).
    collectDefaultMetrics({ register: this.registry, prefix: 'tsxenstored_' });
  }

  request(type: number, seconds: number): void {
    let t = this.perType[type];
    if (t === undefined) {
      const name = opName(type);
      t = { count: this.requests.labels(name), time: this.latency.labels(name) };
      this.perType[type] = t;
    }
    t.count.inc();
    t.time.observe(seconds);
  }

  /** The text a scrape gets. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** A counter whose values are the daemon's own running totals, read at each scrape. */
  private counter(name: string, help: string, labelNames: string[], read: () => Array<[Labels, number]>): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, n] of read()) if (n > 0) this.inc(labels, n);
      },
    });
  }

  private gauge(name: string, help: string, labelNames: string[], read: () => Array<[Labels, number]>): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, n] of read()) this.set(labels, n);
      },
    });
  }
}
