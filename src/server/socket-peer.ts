/**
 * The two ways a Unix-socket connection is served, behind one interface:
 * natively by the `xsio` addon (NativePeer), or by a Node socket (StreamPeer,
 * when the addon is not built). Both are the connection's Sink, and both can
 * be frozen for a live update and hand over their file descriptor.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Connection, Sink } from './connection.js';
import { fdOf } from './fd.js';
import type { NativeIo, NativeSocket } from './native-io.js';

/** What a peer reports to the transport. */
export interface PeerEvents {
  /** Bytes arrived; `transient`: the chunk is overwritten after this call (copy what is kept). */
  data(chunk: Buffer, transient: boolean): void;
  /** All queued output reached the kernel. */
  drained(): void;
  /** A socket error, for the debug log (the connection then closes). */
  error(message: string): void;
  /** The connection is gone (peer closed, failed, or closed by us). */
  closed(): void;
}

export interface Peer extends Sink {
  /** The file descriptor to hand to a successor (live update). */
  readonly fd: number | undefined;
  /** Stops or restarts reading (live update); bytes already read go to `conn`'s decoder. */
  freeze(conn: Connection, frozen: boolean): void;
}

/** Linger for a peer that does not read what is still queued when we close. */
const LINGER_MS = 1000;

export class NativePeer implements Peer {
  readonly label = 'socket';
  /** The kernel or the addon's queue has the bytes when write() returns. */
  readonly copies = true;
  /** Socket peers are dom0, exempt from the outstanding quota: not tracked. */
  readonly backlogFrames = 0;
  private readonly socket: NativeSocket;
  private finished = false;

  /** Serves `fd`, which becomes the addon's. */
  constructor(
    io: NativeIo,
    fd: number,
    private readonly events: PeerEvents,
  ) {
    this.socket = io.open(fd, {
      data: (chunk) => events.data(chunk, true),
      drained: () => events.drained(),
      end: (errno) => {
        if (errno !== 0) events.error(`socket: ${getSystemErrorName(-errno)}`);
        this.socket.close();
        this.finish();
      },
    });
  }

  /** Reports the end once, however it came. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.events.closed();
  }

  get fd(): number {
    return this.socket.fd;
  }

  get backlog(): number {
    return this.socket.backlog;
  }

  write(buf: Buffer): void {
    this.socket.write(buf);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.close(LINGER_MS);
    // As a Node socket says 'close' after end(): never within the closer's call.
    queueMicrotask(() => this.finish());
  }

  freeze(conn: Connection, frozen: boolean): void {
    // Nothing is read ahead in user space: unread bytes stay in the kernel.
    if (frozen) this.socket.pause();
    else if (!conn.throttled) this.socket.resume();
  }
}

export class StreamPeer implements Peer {
  readonly label = 'socket';
  readonly backlogFrames = 0;

  constructor(
    private readonly socket: Socket,
    events: PeerEvents,
  ) {
    socket.on('data', (chunk: Buffer) => events.data(chunk, false));
    socket.on('drain', () => events.drained());
    socket.on('error', (e) => events.error(e.message));
    socket.on('close', () => events.closed());
  }

  get fd(): number | undefined {
    return fdOf(this.socket);
  }

  get backlog(): number {
    return this.socket.writableLength;
  }

  write(buf: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(buf);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.end();
    // Do not wait for a peer that never reads.
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Bytes the stream layer had already read from the kernel are moved into
   * the connection's decoder, so that they travel on as pending input instead
   * of being lost with this process.
   */
  freeze(conn: Connection, frozen: boolean): void {
    const s = this.socket;
    const state = (s as unknown as { _readableState: { reading: boolean } })._readableState;
    if (!frozen) {
      s.resume();
      s.read(0); // restart reading at the handle
      return;
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
