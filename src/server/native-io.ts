/**
 * Socket connections served by the `xsio` addon instead of Node's streams:
 * the fds are polled on Node's own loop, what the ready ones have to say is
 * read into one arena shared by every connection (no Buffer, no stream state
 * per read) and handed over in one call per loop turn, and a reply is written
 * with one send(2) at once, the addon queueing only what the kernel refuses. At one request in flight per connection, which is how
 * libxenstore talks, that is most of the daemon's work per request; the
 * benchmark's sequential rows measure it (README, "Performance").
 *
 * The addon is optional: without it (not built) the transport uses Node's
 * sockets, which behave the same.
 */
import { loadAddon } from './native-addon.js';

interface XsioAddon {
  init(callback: (kind: number, a: number, b: number) => void, arena: Buffer, records: Int32Array): void;
  dup(fd: number): number;
  open(fd: number): number;
  write(id: number, buf: Uint8Array): number;
  pause(id: number): void;
  resume(id: number): void;
  close(id: number, linger: boolean): void;
}

const DATA = 0;
const END = 1;
const SENT = 2;
const TURN = 3;
/** The addon's bounds: one read takes at most 64 KiB; a turn holds at most 1024 records. */
const ARENA_BYTES = 256 * 1024;
const MAX_RECORDS = 1024;

/** What a native connection reports to its owner. */
export interface NativeEvents {
  /** Bytes arrived: a view into the shared arena, valid only during the call (copy what you keep). */
  data(chunk: Buffer): void;
  /** The connection is finished (EOF, or a failure: errno); nothing more will be read. */
  end(errno: number): void;
  /** The kernel took all queued output. */
  drained(): void;
}

/** Told around each turn's delivery of input: what the connections' data caused can leave at batchServed(). */
export interface TurnObserver {
  batchStarted(): void;
  batchServed(): void;
}

/** One connection's fd, read and written by the addon. */
export class NativeSocket {
  /** Bytes the addon holds for a writable fd. */
  private queued = 0;
  private closed = false;

  constructor(
    private readonly io: NativeIo,
    readonly id: number,
    readonly fd: number,
    readonly events: NativeEvents,
  ) {}

  get backlog(): number {
    return this.queued;
  }

  /** False once the connection failed (the failure is also reported through end()). */
  write(buf: Uint8Array): boolean {
    if (this.closed) return false;
    const r = this.io.addon.write(this.id, buf);
    if (r < 0) {
      this.io.fail(this, -r);
      return false;
    }
    this.queued = r;
    return true;
  }

  pause(): void {
    if (!this.closed) this.io.addon.pause(this.id);
  }

  resume(): void {
    if (!this.closed) this.io.addon.resume(this.id);
  }

  /** Closes the fd: at once, or with `lingerMs`, once what is queued was sent (dropped if the peer does not read it within that time). */
  close(lingerMs?: number): void {
    if (this.closed) return;
    this.closed = true;
    this.io.forget(this);
    const linger = lingerMs !== undefined;
    this.io.addon.close(this.id, linger);
    if (linger && this.queued > 0) setTimeout(() => this.io.addon.close(this.id, false), lingerMs).unref();
  }


  /** @internal the addon's report of a writable fd. */
  sent(remaining: number): void {
    this.queued = remaining;
    if (remaining === 0) this.events.drained();
  }
}

export class NativeIo {
  private readonly sockets = new Map<number, NativeSocket>();
  /** One arena for a turn's reads: the largest frame fits many times over. */
  private readonly arena = Buffer.alloc(ARENA_BYTES);
  /** A turn's records, 4 numbers each: kind (DATA, END), id, offset in the arena, length or errno. */
  private readonly records = new Int32Array(4 * MAX_RECORDS);
  /** Replaced, never changed in place, so that a batch ends with the observers it started with. */
  private observers: readonly TurnObserver[] = [];

  private constructor(readonly addon: XsioAddon) {
    addon.init((kind, a, b) => this.onEvent(kind, a, b), this.arena, this.records);
  }

  private static instance: NativeIo | undefined;

  /** The process's native I/O (the addon has one callback per process); throws AddonMissingError if not built. */
  static get(): NativeIo {
    NativeIo.instance ??= new NativeIo(loadAddon<XsioAddon>('xsio', 'socket I/O'));
    return NativeIo.instance;
  }

  /** Serves `fd` (which becomes the addon's: it closes it). */
  open(fd: number, events: NativeEvents): NativeSocket {
    const s = new NativeSocket(this, this.addon.open(fd), fd, events);
    this.sockets.set(s.id, s);
    return s;
  }

  /** Tells `o` of every turn's delivery until the returned function is called. */
  observe(o: TurnObserver): () => void {
    this.observers = [...this.observers, o];
    return () => void (this.observers = this.observers.filter((x) => x !== o));
  }

  /** A duplicate of `fd` (which stays its owner's). */
  dup(fd: number): number {
    return this.addon.dup(fd);
  }

  /** @internal */
  forget(s: NativeSocket): void {
    this.sockets.delete(s.id);
  }

  /** @internal a write failed (EPIPE, ECONNRESET...): reported as the end of the connection, outside the writer's call. */
  fail(s: NativeSocket, errno: number): void {
    queueMicrotask(() => {
      if (this.sockets.get(s.id) === s) s.events.end(errno);
    });
  }

  private onEvent(kind: number, a: number, b: number): void {
    if (kind === SENT) {
      this.sockets.get(a)?.sent(b);
      return;
    }
    if (kind !== TURN) return;
    const observers = this.observers;
    for (const o of observers) o.batchStarted();
    try {
      this.deliver(a);
    } finally {
      for (const o of observers) o.batchServed();
    }
  }

  private deliver(count: number): void {
    const r = this.records;
    for (let i = 0; i < count; i++) {
      const s = this.sockets.get(r[4 * i + 1]! >>> 0);
      if (s === undefined) continue; // closed earlier in this turn
      const off = r[4 * i + 2]!;
      const n = r[4 * i + 3]!;
      if (r[4 * i] === DATA) s.events.data(this.arena.subarray(off, off + n));
      else if (r[4 * i] === END) s.events.end(n);
    }
  }
}
