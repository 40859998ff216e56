/**
 * The metrics endpoint (--metrics-listen ADDR): HTTP, GET /metrics only
 * (anything else is 404, or 405 for another method on /metrics), on a TCP
 * address (127.0.0.1 unless a host is named) or a Unix socket path. A scrape
 * is rendered in memory and handed to the socket: a slow scraper holds only
 * its own response's bytes, never the daemon. Connections are bounded in
 * number and time.
 */
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';
import { claimSocketPath, removeIfOurs, fileIdentity } from './socket-path.js';

export type MetricsAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** Parses ADDR: `PORT`, `HOST:PORT`, `[IPv6]:PORT`, or a Unix socket path (anything with a '/'). */
export function parseMetricsAddress(s: string): MetricsAddress {
  if (s.includes('/')) return { path: s };
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?([0-9]{1,5})$/.exec(s);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || port < 1 || port > 65535) throw new Error(`--metrics-listen ${JSON.stringify(s)}: expected PORT, HOST:PORT or a socket path`);
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

const MAX_SCRAPERS = 8;
const SCRAPE_TIMEOUT_MS = 10_000;

export class MetricsServer {
  private server: Server | undefined;
  private bound: string | undefined;

  constructor(
    private readonly metrics: Metrics,
    readonly address: MetricsAddress,
  ) {}

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
        return;
      }
      this.metrics.scrape().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.metrics.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (e: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`);
        },
      );
    });
    server.maxConnections = MAX_SCRAPERS;
    server.requestTimeout = SCRAPE_TIMEOUT_MS;
    server.headersTimeout = SCRAPE_TIMEOUT_MS;
    server.keepAliveTimeout = 5_000;
    server.setTimeout(SCRAPE_TIMEOUT_MS, (socket) => socket.destroy());
    const a = this.address;
    if ('path' in a) await claimSocketPath(a.path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        server.on('error', () => undefined);
        resolve();
      };
      if ('path' in a) server.listen(a.path, ready);
      else server.listen(a.port, a.host, ready);
    });
    this.server = server;
    if ('path' in a) this.bound = fileIdentity(a.path);
  }

  /** Where it listens, for the log (a TCP port 0 becomes the real port). */
  describe(): string {
    const a = this.server?.address();
    if (a === null || a === undefined) return '';
    return typeof a === 'string' ? a : `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) =>
      server.close(() => {
        if ('path' in this.address) removeIfOurs(this.address.path, this.bound);
        resolve();
      }),
    );
  }
}
