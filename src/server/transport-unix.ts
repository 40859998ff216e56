/**
 * The Unix-socket transport: every connection on it is the privileged control
 * domain, as in Xen. Node's server accepts; each connection is then served
 * either by the `xsio` addon (native-io.ts: its fd polled on Node's loop,
 * read into a shared arena, replies sent at once) or, without the addon, by
 * a Node socket (socket-peer.ts). Bytes go straight to the daemon; output
 * back-pressure comes from the peer's own write queue.
 */
import { closeSync, mkdirSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { Connection } from './connection.js';
import { fdOf } from './fd.js';
import type { NativeIo } from './native-io.js';
import { NativePeer, StreamPeer, type Peer, type PeerEvents } from './socket-peer.js';
import { claimSocketPath, fileIdentity, removeIfOurs } from './socket-path.js';
import type { Daemon } from './daemon.js';

export const DEFAULT_SOCKET = '/var/run/xenstored/socket';

export class UnixTransport {
  private server: Server | undefined;
  private readonly accepted = new Map<Connection, Peer>();
  /** The socket file this process bound (removed at close only if still the same file). */
  private bound: string | undefined;
  /** Stops the daemon's flow control from hearing of the addon's turns. */
  private unobserve: (() => void) | undefined;

  /**
   * @param io serves the connections natively; undefined: with Node's sockets
   */
  constructor(
    private readonly daemon: Daemon,
    readonly path: string,
    private readonly io?: NativeIo,
  ) {
    // A turn's replies leave as soon as the addon's batch of input was served.
    this.unobserve = io?.observe(daemon.flow);
  }

  /** How connections are served: 'native' (the xsio addon) or 'stream' (Node's sockets). */
  get ioKind(): 'native' | 'stream' {
    return this.io === undefined ? 'stream' : 'native';
  }

  /**
   * Listens on the path, or (live update) on an inherited listening file
   * descriptor. Refuses (PathInUseError) a path another daemon listens on.
   */
  async listen(fd?: number): Promise<void> {
    if (fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      await claimSocketPath(this.path);
    }
    // Paused: a connection served natively is never read by Node.
    const server = createServer({ allowHalfOpen: false, pauseOnConnect: true }, (s) => this.accepted1(s));
    if (this.io === undefined) server.maxConnections = this.daemon.settings.connections;
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
    if (this.io !== undefined) return this.serve((events) => new NativePeer(this.io!, fd, events));
    return this.serve((events) => new StreamPeer(new Socket({ fd, readable: true, writable: true }), events));
  }

  /** File descriptors to hand to the next daemon: the listener and each connection's socket. */
  handles(): { listener: number | undefined; conns: Map<Connection, number> } {
    const conns = new Map<Connection, number>();
    for (const [c, p] of this.accepted) {
      const fd = p.fd;
      if (fd !== undefined) conns.set(c, fd);
    }
    return { listener: fdOf(this.server), conns };
  }

  /**
   * Stops (or restarts) reading every connection, for a live update. Bytes
   * already read but not processed stay in each connection's decoder and
   * travel on as pending input; the rest stays in the kernel with the fd.
   */
  freeze(frozen: boolean): void {
    for (const [conn, p] of this.accepted) p.freeze(conn, frozen);
  }

  /** Bytes still queued in user space for each connection (must reach the kernel before a handover). */
  unsentBytes(): number {
    let n = 0;
    for (const p of this.accepted.values()) n += p.backlog;
    return n;
  }

  /** A connection accepted by the server (paused). */
  private accepted1(socket: Socket): void {
    const io = this.io;
    if (io === undefined) {
      this.serve((events) => new StreamPeer(socket, events));
      socket.resume();
      return;
    }
    // Natively served: the addon takes its own fd for the socket, and Node's closes.
    const fd = fdOf(socket);
    try {
      if (fd === undefined || this.accepted.size >= this.daemon.settings.connections) return;
      const own = io.dup(fd);
      try {
        this.serve((events) => new NativePeer(io, own, events));
      } catch (e) {
        closeSync(own);
        throw e;
      }
    } catch (e) {
      // Out of file descriptors, say: this client is refused, the daemon carries on.
      this.daemon.logger.warn(`socket: cannot take the connection: ${(e as Error).message}`);
    } finally {
      socket.destroy();
    }
  }

  private serve(make: (events: PeerEvents) => Peer): Connection {
    const d = this.daemon;
    let conn: Connection | undefined;
    const peer = make({
      data: (chunk, transient) => {
        d.receive(conn!, chunk);
        // What the decoder keeps of a chunk that is about to be overwritten, it copies.
        if (transient) conn!.decoder.retain();
      },
      drained: () => d.writable(conn!),
      error: (e) => d.logger.debug(`${conn!.label}: ${e}`),
      closed: () => {
        this.accepted.delete(conn!);
        d.disconnect(conn!);
      },
    });
    conn = d.connect(0, true, peer);
    this.accepted.set(conn, peer);
    return conn;
  }

  close(): Promise<void> {
    this.unobserve?.();
    this.unobserve = undefined;
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
