/**
 * The simulated Xen, the daemon's side: a DomainBackend whose ring pages are
 * shared-memory files and whose event channels are a Unix socket. INTRODUCE's
 * gfn names the page file the toolstack created; the port must be the one the
 * guest binds. Nothing here knows the XenStore protocol.
 */
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import type { DomainBackend, DomainEvents, DomainLink } from '../server/backend.js';
import { fdOf } from '../server/fd.js';
import { claimSocketPath } from '../server/socket-path.js';
import { PAGE_SIZE } from '../ring/layout.js';
import { NOTIFY, parseCommand } from './evtchn.js';
import { descriptorPath, evtchnPath, pagePath, type GuestDescriptor } from './layout.js';
import { mapShared } from './shm.js';

const MAX_LINE = 64;

interface Binding {
  readonly domid: number;
  readonly port: number;
  socket: Socket | undefined;
  /** A notification sent before the guest bound its end. */
  pending: boolean;
}

export class SimXen implements DomainBackend {
  private server: Server | undefined;
  private events: DomainEvents | undefined;
  private readonly bindings = new Map<number, Binding>();
  private readonly sockets = new Set<Socket>();

  constructor(readonly dir: string) {}

  /** Inherited from the previous daemon (live update): the listener's fd. */
  inheritedServerFd: number | undefined;
  /**
   * Set in the new daemon of a live update: evtchn.sock belongs to the
   * previous daemon, which keeps serving guests if this process fails before
   * the handover completes. Until takeOwnership(), this process must not
   * remove the file, neither as "stale" at start nor at close.
   */
  successor = false;
  /**
   * Whether closing may remove evtchn.sock: only once this process bound the
   * path itself or took over the simulated Xen (takeOwnership). False until
   * then, so that no path through close() (a failed start, a failed live
   * update) can remove a socket file another daemon is listening on.
   */
  private ownsPath = false;

  /** Called once a live update has completed: the socket file is ours now. */
  takeOwnership(): void {
    this.successor = false;
    this.ownsPath = true;
  }

  async start(events: DomainEvents): Promise<void> {
    this.events = events;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = evtchnPath(this.dir);
    this.ownsPath = false;
    // A successor never clears the path: without an inherited listener it
    // then fails to bind (the previous daemon's socket is there), which
    // aborts the live update instead of stealing the guests' event channels.
    // Nor does anyone take over a simulated Xen that another daemon is serving.
    if (this.inheritedServerFd === undefined && !this.successor) await claimSocketPath(path);
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (this.inheritedServerFd === undefined) server.listen(path, ready);
      else server.listen({ fd: this.inheritedServerFd }, ready);
    });
    // Bound here, the file is ours (and libuv removes it when the server closes);
    // an inherited listener's file stays the previous daemon's until takeOwnership().
    this.ownsPath = this.inheritedServerFd === undefined;
  }

  /** Event-channel file descriptors to hand to the next daemon: the listener and each bound guest. */
  handles(): { listener: number | undefined; bound: Array<{ domid: number; port: number; fd: number }> } {
    const bound: Array<{ domid: number; port: number; fd: number }> = [];
    for (const b of this.bindings.values()) {
      const fd = fdOf(b.socket);
      if (fd !== undefined) bound.push({ domid: b.domid, port: b.port, fd });
    }
    return { listener: fdOf(this.server), bound };
  }

  /** Stops (or restarts) reading guests' notifications. */
  freeze(frozen: boolean): void {
    for (const s of this.sockets) {
      if (frozen) s.pause();
      else s.resume();
    }
  }

  /** Takes over a guest's bound event channel inherited from the previous daemon. */
  adoptBound(domid: number, port: number, fd: number): void {
    const b = this.bindings.get(domid);
    const socket = new Socket({ fd, readable: true, writable: true });
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (b === undefined || b.port !== port) {
      socket.destroy();
      return;
    }
    b.socket = socket;
    socket.on('data', () => {
      if (this.bindings.get(domid) === b) this.events?.onNotify(domid);
    });
  }

  attach(domid: number, gfn: bigint, port: number): DomainLink {
    if (gfn < 0n) throw new Error(`gfn ${gfn} is negative`);
    const page = mapShared(pagePath(this.dir, gfn), PAGE_SIZE, false);
    const binding: Binding = { domid, port, socket: undefined, pending: false };
    this.bindings.set(domid, binding);
    return {
      page,
      notify: () => {
        if (binding.socket === undefined || binding.socket.destroyed) binding.pending = true;
        else binding.socket.write(NOTIFY);
      },
      detach: () => {
        if (this.bindings.get(domid) === binding) this.bindings.delete(domid);
        binding.socket?.destroy();
        binding.socket = undefined;
      },
    };
  }

  locate(domid: number): { gfn: bigint; port: number } | undefined {
    try {
      const d = JSON.parse(readFileSync(descriptorPath(this.dir, domid), 'utf8')) as GuestDescriptor;
      return { gfn: BigInt(d.gfn), port: d.port };
    } catch {
      return undefined;
    }
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let line = '';
    let bound: Binding | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (bound !== undefined) {
        if (this.bindings.get(bound.domid) === bound) this.events?.onNotify(bound.domid);
        return;
      }
      line += chunk.toString('latin1');
      for (;;) {
        const nl = line.indexOf('\n');
        if (nl < 0) {
          if (line.length > MAX_LINE) socket.destroy();
          return;
        }
        const cmd = parseCommand(line.slice(0, nl));
        const rest = line.slice(nl + 1);
        line = rest;
        if (cmd === undefined) return void socket.destroy();
        if (cmd.kind === 'dying') {
          this.events?.onDomainDeath(cmd.domid);
          continue;
        }
        const b = this.bindings.get(cmd.domid);
        if (b === undefined || b.port !== cmd.port) {
          socket.end('ENOENT\n');
          return;
        }
        b.socket?.destroy();
        b.socket = socket;
        bound = b;
        socket.write('OK\n');
        if (b.pending) {
          b.pending = false;
          socket.write(NOTIFY);
        }
        // Whatever the guest did before binding, look at its ring now.
        this.events?.onNotify(b.domid);
        return;
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.bindings.clear();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!this.ownsPath) return;
    try {
      unlinkSync(evtchnPath(this.dir));
    } catch {
      // gone
    }
  }
}
