/**
 * One client connection's wire and lifecycle: requests matched to replies by
 * req_id, watch events routed by token, protocol violations ending the
 * connection, 'close'/'error' events, and the opt-in reconnect that opens a
 * new channel after the daemon went away and registers the watches again.
 */
import './dispose-symbol.js';
import { EventEmitter } from 'node:events';
import { FrameDecoder, FrameTooLongError, type Frame } from '../protocol/decoder.js';
import { encodeFrame } from '../protocol/encoder.js';
import { PAYLOAD_MAX } from '../protocol/limits.js';
import { Op, opName } from '../protocol/op.js';
import type { ByteChannel } from './channel.js';
import { XenStoreError, toErrorCode } from './errors.js';
import { Operations, replyString, splitStrings, type Value } from './operations.js';
import { reopenUntilClosed } from './reopen.js';
import { RequestTable, type RequestOptions, type SentRequest } from './requests.js';
import type { WatchStream } from './watch-stream.js';

/** Options of a connection, whatever carries it. */
export interface ClientOptions {
  /** Requests allowed in flight at once (abandoned ones count until answered); more are rejected with EBUSY (default 4096). */
  readonly maxInFlight?: number;
  /** Events a watch buffers for a slow consumer before failing with EOVERFLOW (default 1024). */
  readonly watchBuffer?: number;
  /** The timeoutMs of every request that sets none (default: none). */
  readonly requestTimeoutMs?: number;
}

/** The client's events and their arguments. */
export interface ClientEvents {
  /**
   * The client is finished (once): after close(), or when the connection
   * ended and no reconnect is configured. The error says why: ECLOSED after
   * close(), ECONNRESET if the daemon went away, EPROTO if it broke the protocol.
   */
  close: [error: XenStoreError];
  /**
   * The connection failed (daemon gone, protocol broken). Emitted only if
   * someone listens, so an unhandled 'error' never crashes the process: the
   * pending requests reject anyway.
   */
  error: [error: XenStoreError];
  /** With `reconnect`: the connection was lost; requests reject with ECONNRESET until 'reconnect'. */
  reconnecting: [error: XenStoreError];
  /** With `reconnect`: a new connection is up and the watches are registered on it again. */
  reconnect: [];
}

/** A watch the connection routes events to, and the WATCH arguments that register it. */
export interface WatchEntry {
  readonly stream: WatchStream;
  readonly args: readonly string[];
}

const ZERO = Buffer.from([0]);
const noop = (): void => undefined;

export class Connection extends Operations {
  private readonly decoder = new FrameDecoder();
  private readonly requests: RequestTable;
  private readonly events = new EventEmitter();
  /** Watches by token. */
  protected readonly watches = new Map<string, WatchEntry>();
  private closedError: XenStoreError | undefined;
  private lostError: XenStoreError | undefined;
  private readonly requestTimeoutMs: number | undefined;
  /** Which channel is current: callbacks of an older one are ignored. */
  private generation = 0;
  private readonly lifetime = new AbortController();

  /**
   * @param channel an open byte channel.
   * @param reopen with it, a lost connection is replaced by `reopen()`'s
   *   channel (retried until close()) instead of ending the client.
   */
  constructor(
    private channel: ByteChannel,
    opts: ClientOptions = {},
    private readonly reopen?: (signal: AbortSignal) => Promise<ByteChannel>,
  ) {
    super((type, txId, args, path, raw, ro) => this.request(type, txId, args, path, raw, ro), 0);
    this.requests = new RequestTable(opts.maxInFlight ?? 4096);
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.attach(channel);
  }

  /** Requests sent and not yet answered (including those the caller gave up on). */
  get inFlight(): number {
    return this.requests.size;
  }

  /** True once the client is finished (closed, or its connection ended without reconnect). */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** True while a connection is up: not closed, not waiting to reconnect. */
  get connected(): boolean {
    return this.closedError === undefined && this.lostError === undefined;
  }

  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this {
    this.events.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): this {
    this.events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Closes the connection; requests still in flight are rejected with ECLOSED. */
  close(): void {
    this.lifetime.abort();
    this.finish(new XenStoreError('ECLOSED', 'CLOSE', undefined, 'closed by the client'));
    this.channel.close();
  }

  /** close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private attach(channel: ByteChannel): void {
    const gen = ++this.generation;
    channel.start(
      (chunk) => {
        if (gen === this.generation) this.onData(chunk);
      },
      (err) => {
        if (gen === this.generation) this.lost(new XenStoreError('ECONNRESET', 'CONNECTION', undefined, err?.message ?? 'the daemon closed the connection', { cause: err }));
      },
    );
  }

  private request(type: number, txId: number, args: readonly Value[], path: string | undefined, raw?: Uint8Array, opts: RequestOptions = {}): Promise<Buffer> {
    const down = this.closedError ?? this.lostError;
    if (down !== undefined) return Promise.reject(new XenStoreError(down.code, opName(type), path, this.closedError !== undefined ? 'connection closed' : 'reconnecting'));
    const parts: Buffer[] = [];
    for (const a of args) parts.push(typeof a === 'string' ? Buffer.from(a, 'utf8') : Buffer.from(a), ZERO);
    if (raw !== undefined) parts.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
    const payload = Buffer.concat(parts);
    if (payload.length > PAYLOAD_MAX) {
      return Promise.reject(new XenStoreError('E2BIG', opName(type), path, `request of ${payload.length} bytes; the protocol allows ${PAYLOAD_MAX}`));
    }
    const withDefault = opts.timeoutMs === undefined && this.requestTimeoutMs !== undefined ? { ...opts, timeoutMs: this.requestTimeoutMs } : opts;
    return this.requests.add({ type, path, args }, withDefault, (reqId) => this.channel.write(encodeFrame(type, reqId, txId, payload)));
  }

  private onData(chunk: Buffer): void {
    const gen = this.generation;
    this.decoder.feed(chunk);
    while (gen === this.generation && this.closedError === undefined && this.lostError === undefined) {
      let f: Frame | undefined;
      try {
        f = this.decoder.next();
      } catch (e) {
        if (!(e instanceof FrameTooLongError)) throw e;
        this.lost(new XenStoreError('EPROTO', 'RECEIVE', undefined, e.message));
        return;
      }
      if (f === undefined) return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    if (f.type === Op.WATCH_EVENT) {
      const [path, token] = splitStrings(f.payload);
      if (path !== undefined && token !== undefined) this.watches.get(token)?.stream.push({ path, token });
      return;
    }
    const found = this.requests.take(f.reqId);
    if (found.kind === 'unknown') {
      this.lost(new XenStoreError('EPROTO', 'RECEIVE', undefined, `a ${opName(f.type)} reply with req_id ${f.reqId}, which no request has`));
      return;
    }
    const req = found.entry;
    if (f.type !== Op.ERROR && f.type !== req.type) {
      const e = new XenStoreError('EPROTO', opName(req.type), req.path, `answered with a ${opName(f.type)} reply`);
      if (found.kind === 'waiting') found.entry.reject(e); // taken from the table: lost() no longer sees it
      this.lost(e);
      return;
    }
    if (found.kind === 'late') this.undoLate(req, f);
    else if (f.type === Op.ERROR) {
      const wire = replyString(f.payload);
      const code = toErrorCode(wire);
      found.entry.reject(new XenStoreError(code, opName(req.type), req.path, code === 'EUNKNOWN' ? `the daemon answered ${JSON.stringify(wire.slice(0, 64))}` : undefined));
    } else found.entry.resolve(Buffer.from(f.payload));
  }

  /**
   * A reply to a request the caller gave up on. Most need nothing; a
   * transaction or a watch that was set up after all is undone, so that
   * giving up leaks nothing in the daemon.
   */
  private undoLate(req: SentRequest, f: Frame): void {
    if (f.type === Op.TRANSACTION_START) {
      const id = Number(replyString(f.payload));
      if (Number.isInteger(id) && id > 0) this.request(Op.TRANSACTION_END, id, ['F'], undefined, undefined, {}).catch(noop);
    } else if (f.type === Op.WATCH) {
      const [path, token] = req.args;
      if (typeof path === 'string' && typeof token === 'string' && !this.watches.has(token)) {
        this.request(Op.UNWATCH, 0, [path, token], path, undefined, {}).catch(noop);
      }
    }
  }

  /** The connection failed or ended under us: reconnect if configured, else finish. */
  private lost(e: XenStoreError): void {
    if (this.closedError !== undefined || this.lostError !== undefined) return;
    if (this.events.listenerCount('error') > 0) this.events.emit('error', e);
    this.channel.close();
    if (this.reopen === undefined) {
      this.finish(e);
      return;
    }
    this.lostError = e;
    this.generation++;
    this.decoder.reset();
    // Whether the daemon acted on these is unknown: they cannot be replayed blindly.
    this.requests.failAll((r) => new XenStoreError(e.code, opName(r.type), r.path, e.message));
    this.events.emit('reconnecting', e);
    void this.reconnect(this.reopen);
  }

  private async reconnect(reopen: (signal: AbortSignal) => Promise<ByteChannel>): Promise<void> {
    let channel: ByteChannel;
    try {
      channel = await reopenUntilClosed(reopen, this.lifetime.signal);
    } catch {
      return; // close() was called meanwhile
    }
    if (this.closedError !== undefined) {
      channel.close();
      return;
    }
    this.channel = channel;
    this.lostError = undefined;
    this.attach(channel);
    const again = [...this.watches.entries()].map(([token, w]) =>
      this.call(Op.WATCH, 0, w.args, w.args[0]).catch((err: unknown) => {
        // Lost again already: the watch waits for the next connection. Refused by the daemon: it ends.
        if (this.closedError !== undefined || this.lostError !== undefined) return;
        this.watches.delete(token);
        w.stream.fail(err instanceof Error ? err : new Error(String(err)));
      }),
    );
    await Promise.all(again);
    if (this.closedError === undefined && this.lostError === undefined) this.events.emit('reconnect');
  }

  /** The client is finished: reject everything, end the watches, emit 'close'. */
  private finish(e: XenStoreError): void {
    if (this.closedError !== undefined) return;
    this.closedError = e;
    this.requests.failAll((r) => new XenStoreError(e.code, opName(r.type), r.path, e.message));
    for (const w of this.watches.values()) w.stream.fail(e);
    this.watches.clear();
    this.events.emit('close', e);
  }
}
