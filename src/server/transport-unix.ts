/**
 * The Unix-socket transport: every connection on it is the privileged control
 * domain, as in Xen. Bytes go straight to the daemon; output back-pressure
 * comes from the socket's own write queue.
 */
import { mkdirSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { Connection, Sink } from './connection.js';
import { fdOf } from './fd.js';
import { claimSocketPath, fileIdentity, removeIfOurs } from './socket-path.js';
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

export class UnixTransport {
  private server: Server | undefined;
  private readonly accepted = new Map<Connection, Socket>();
  /** The socket file this process bound (removed at close only if still the same file). */
  private bound: string | undefined;

  constructor(
    private readonly daemon: Daemon,
    readonly path: string,
  ) {}

  /**
   * Listens on the path, or (live update) on an inherited listening file
   * descriptor. Refuses (PathInUseError) a path another daemon listens on.
   */
  async listen(fd?: number): Promise<void> {
    if (fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      await claimSocketPath(this.path);
    }
    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    server.maxConnections = this.daemon.settings.connections;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        server.on('error', (e) => this.daemon.logger.error(`socket server: ${e.message}`));
        resolve();
      };
      if (fd === undefined) server.listen(this.path, ready);
      else server.listen({ fd }, ready);
    });
    this.bound = fileIdentity(this.path);
  }

  /** Takes over a connected socket inherited from the previous daemon (live update). */
  adopt(fd: number): Connection {
    return this.accept(new Socket({ fd, readable: true, writable: true }));
  }

  /** File descriptors to hand to the next daemon: the listener and each connection's socket. */
  handles(): { listener: number | undefined; conns: Map<Connection, number> } {
    const conns = new Map<Connection, number>();
    for (const [c, s] of this.accepted) {
      const fd = fdOf(s);
      if (fd !== undefined) conns.set(c, fd);
    }
    return { listener: fdOf(this.server), conns };
  }

  /**
   * Stops (or restarts) reading every connection, for a live update. Bytes
   * the stream layer had already read from the kernel are moved into the
   * connection's decoder, so that they travel on as pending input instead of
   * being lost with this process.
   */
  freeze(frozen: boolean): void {
    for (const [conn, s] of this.accepted) {
      const state = (s as unknown as { _readableState: { reading: boolean } })._readableState;
      if (!frozen) {
        s.resume();
        s.read(0); // restart reading at the handle
        continue;
      }
      s.pause();
      const handle = (s as unknown as { _handle: { readStop?: () => number; reading?: boolean } | null })._handle;
      if (handle?.readStop !== undefined) {
        handle.reading = false;
        handle.readStop();
      }
      // While state.reading is set, read() only hands out what is buffered.
      for (let chunk = s.read() as Buffer | null; chunk !== null; chunk = s.read() as Buffer | null) conn.decoder.feed(chunk);
      state.reading = false; // so that a thaw asks the handle to read again
    }
  }

  /** Bytes still queued in user space for each connection (must reach the kernel before a handover). */
  unsentBytes(): number {
    let n = 0;
    for (const s of this.accepted.values()) n += s.writableLength;
    return n;
  }

  private accept(socket: Socket): Connection {
    const d = this.daemon;
    const conn = d.connect(0, true, new SocketSink(socket));
    this.accepted.set(conn, socket);
    socket.on('data', (chunk: Buffer) => d.receive(conn, chunk));
    socket.on('drain', () => d.writable(conn));
    socket.on('error', (e) => d.logger.debug(`${conn.label}: ${e.message}`));
    socket.on('close', () => {
      this.accepted.delete(conn);
      d.disconnect(conn);
    });
    return conn;
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    // Only this transport's connections: guests' rings stay as they are, so
    // that a restarted daemon can pick them up again.
    for (const c of [...this.accepted.keys()]) this.daemon.disconnect(c);
    this.accepted.clear();
    // Only the file we listen on (bound, or inherited from our predecessor): never a
    // successor's or another daemon's, nor anything if we never listened.
    removeIfOurs(this.path, this.bound);
    if (server === undefined) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
