/**
 * The Unix-socket transport: every connection on it is the privileged control
 * domain, as in Xen. Bytes go straight to the daemon; output back-pressure
 * comes from the socket's own write queue.
 */
import { mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Connection, Sink } from './connection.js';
import type { Daemon } from './daemon.js';

export const DEFAULT_SOCKET = '/var/run/xenstored/socket';

class SocketSink implements Sink {
  constructor(private readonly socket: Socket) {}
  write(buf: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(buf);
  }
  get backlog(): number {
    return this.socket.writableLength;
  }
  /** Socket peers are dom0, exempt from the outstanding quota: not tracked. */
  readonly backlogFrames = 0;
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  close(): void {
    this.socket.end();
    // Do not wait for a peer that never reads.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
  readonly label = 'socket';
}

/** Removes a leftover socket file, refusing to touch anything that is not a socket. */
function clearStale(path: string): void {
  try {
    if (!statSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export class UnixTransport {
  private server: Server | undefined;
  private readonly accepted = new Set<Connection>();

  constructor(
    private readonly daemon: Daemon,
    readonly path: string,
  ) {}

  listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    clearStale(this.path);
    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    server.maxConnections = this.daemon.settings.connections;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        server.on('error', (e) => this.daemon.logger.error(`socket server: ${e.message}`));
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    const d = this.daemon;
    const conn = d.connect(0, true, new SocketSink(socket));
    this.accepted.add(conn);
    socket.on('data', (chunk: Buffer) => d.receive(conn, chunk));
    socket.on('drain', () => d.writable(conn));
    socket.on('error', (e) => d.logger.debug(`${conn.label}: ${e.message}`));
    socket.on('close', () => {
      this.accepted.delete(conn);
      d.disconnect(conn);
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // Only this transport's connections: guests' rings stay as they are, so
    // that a restarted daemon can pick them up again.
    for (const c of [...this.accepted]) this.daemon.disconnect(c);
    this.accepted.clear();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
