/**
 * A domain's connection over its shared ring, the daemon's side: requests are
 * taken from the request ring, replies and events are copied into the
 * response ring as space allows (the rest waits here, counted as backlog), and
 * each side kicks the other through the event channel. A guest-initiated
 * reconnect (connection = RECONNECT) discards the connection and starts a new
 * one; a protocol violation sets the error field and the ring is ignored until
 * the guest resets it.
 */
import { CONNECTED, CONNECTION, ERROR, ERROR_NONE, ERROR_PROTO, ERROR_RINGIDX, RECONNECT, SERVER_FEATURES } from '../ring/layout.js';
import { Ring, RingIndexError } from '../ring/ring.js';
import type { DomainLink } from './backend.js';
import type { Connection, Sink } from './connection.js';
import type { Daemon } from './daemon.js';
import { SUPPORTED_FEATURES } from './domains.js';

export class RingConnection implements Sink {
  private readonly words: Int32Array;
  private readonly req: Ring;
  private readonly rsp: Ring;
  /** Output not yet in the ring, oldest first, with the frames each buffer holds. */
  private readonly queue: Array<{ buf: Buffer; frames: number }> = [];
  private queued = 0;
  private queuedFrames = 0;
  private paused = false;
  private conn: Connection | undefined;
  private detached = false;

  constructor(
    private readonly daemon: Daemon,
    readonly domid: number,
    private readonly link: DomainLink,
  ) {
    this.words = new Int32Array(link.page);
    this.req = Ring.requests(link.page);
    this.rsp = Ring.responses(link.page);
    Atomics.store(this.words, SERVER_FEATURES, SUPPORTED_FEATURES);
    this.conn = daemon.connect(domid, domid === 0, this);
  }

  get label(): string {
    return `ring dom${this.domid}`;
  }

  get backlog(): number {
    return this.queued;
  }

  get backlogFrames(): number {
    return this.queuedFrames;
  }

  write(buf: Buffer, frames: number): void {
    if (this.detached) return;
    this.queue.push({ buf, frames });
    this.queued += buf.length;
    this.queuedFrames += frames;
    try {
      this.pump();
    } catch (e) {
      // The guest corrupted its response indices: its problem, not everyone's.
      if (!(e instanceof RingIndexError)) throw e;
      this.violation(ERROR_RINGIDX, e.message);
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    // The daemon drains what it already holds; new bytes come on the next kick.
    queueMicrotask(() => this.kick());
  }

  /** The daemon gave up on this connection (protocol violation, overflow). */
  close(): void {
    const daemonInitiated = this.conn !== undefined;
    this.conn = undefined;
    this.dropQueue();
    if (daemonInitiated && !this.detached) {
      Atomics.store(this.words, ERROR, ERROR_PROTO);
      this.link.notify();
    }
  }

  get connection(): Connection | undefined {
    return this.conn;
  }

  /** Output not yet in the ring (live update hands it on). */
  unsent(): Buffer {
    return Buffer.concat(this.queue.map((q) => q.buf));
  }

  /** The guest signalled its event channel. */
  kick(): void {
    if (this.detached || this.daemon.frozen) return;
    if (Atomics.load(this.words, CONNECTION) === RECONNECT) return this.reconnect();
    if (Atomics.load(this.words, ERROR) !== ERROR_NONE) return; // ignored until reset
    try {
      this.pump();
      while (!this.paused && this.conn !== undefined) {
        const chunk = this.req.read();
        if (chunk.length === 0) break;
        this.link.notify(); // space freed in the request ring
        this.daemon.receive(this.conn, chunk);
      }
    } catch (e) {
      if (!(e instanceof RingIndexError)) throw e;
      this.violation(ERROR_RINGIDX, e.message);
    }
  }

  /** The domain is gone: stop touching its page. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) this.daemon.disconnect(conn);
    this.dropQueue();
    this.link.detach();
  }

  private pump(): void {
    let wrote = false;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.rsp.write(head.buf);
      if (n === 0) break;
      wrote = true;
      this.queued -= n;
      if (n === head.buf.length) {
        this.queue.shift();
        this.queuedFrames -= head.frames;
      } else {
        head.buf = head.buf.subarray(n);
      }
    }
    if (wrote) {
      this.link.notify();
      const conn = this.conn;
      if (conn !== undefined && conn.throttled) queueMicrotask(() => this.daemon.writable(conn));
    }
  }

  private violation(code: number, why: string): void {
    Atomics.store(this.words, ERROR, code);
    this.link.notify();
    const conn = this.conn;
    this.conn = undefined;
    this.dropQueue();
    if (conn !== undefined) this.daemon.disconnect(conn, `dom${this.domid}: ${why}; ring ignored until the guest resets it`);
  }

  /** Guest-initiated reset: forget everything, zero the rings, mark connected. */
  private reconnect(): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) this.daemon.disconnect(conn);
    this.dropQueue();
    this.paused = false;
    this.req.reset();
    this.rsp.reset();
    Atomics.store(this.words, ERROR, ERROR_NONE);
    Atomics.store(this.words, CONNECTION, CONNECTED);
    this.conn = this.daemon.connect(this.domid, this.domid === 0, this);
    this.link.notify();
  }

  private dropQueue(): void {
    this.queue.length = 0;
    this.queued = 0;
    this.queuedFrames = 0;
  }
}
