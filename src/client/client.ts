/**
 * XenStoreClient: many requests in flight on one connection, matched by
 * req_id; transactions retried until a deadline; watches as async
 * iterables; 'close' and 'error' events; every failure a XenStoreError.
 */
import { EventEmitter } from 'node:events';
import { FrameDecoder, FrameTooLongError, type Frame } from '../protocol/decoder.js';
import { encodeFrame } from '../protocol/encoder.js';
import { PAYLOAD_MAX } from '../protocol/limits.js';
import { Op, opName } from '../protocol/op.js';
import { defaultSocketPath, type ByteChannel } from './channel.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, openWithRetry } from './connect.js';
import { XenStoreError, toErrorCode } from './errors.js';
import { Operations, replyString, splitStrings, type Value } from './operations.js';
import { RequestTable, type RequestOptions, type SentRequest } from './requests.js';
import { runTransaction, type TransactionOptions } from './retry.js';
import { Transaction } from './transaction.js';
import { checkCount, checkDomid, checkWatchPath } from './validate.js';
import { WatchStream } from './watch-stream.js';

/** Options of a connection, whatever carries it. */
export interface ClientOptions {
  /** Requests allowed in flight at once (abandoned ones count until answered); more are rejected with EBUSY (default 4096). */
  readonly maxInFlight?: number;
  /** Events a watch buffers for a slow consumer before failing with EOVERFLOW (default 1024). */
  readonly watchBuffer?: number;
  /** The timeoutMs of every request that sets none (default: none). */
  readonly requestTimeoutMs?: number;
}

export interface ConnectOptions extends ClientOptions {
  /** Socket path (default: $XENSTORED_PATH, else /var/run/xenstored/socket). */
  readonly path?: string;
  /**
   * An already open byte channel instead of a socket (e.g. a simulated
   * guest's ring: connectGuest() of the 'tsxenstored' entry).
   */
  readonly channel?: ByteChannel;
  /** Give up connecting after this many ms, retries included (default 10000): rejects with ETIMEDOUT. */
  readonly connectTimeoutMs?: number;
  /** Cancels connecting: rejects with an AbortError. */
  readonly signal?: AbortSignal;
}

export interface WatchOptions {
  /** Only report changes at most this many levels below the path (WATCHDEPTH feature). */
  readonly depth?: number;
  /** The token to use (default: a unique one). */
  readonly token?: string;
  /**
   * Ends the watch: the iterator rejects with an AbortError and UNWATCH is
   * sent. Also cancels the WATCH request itself if it has not been answered.
   */
  readonly signal?: AbortSignal;
  /** Timeout of the WATCH request (not of the watch). */
  readonly timeoutMs?: number;
}

/** The client's events and their arguments. */
export interface ClientEvents {
  /**
   * The connection ended, for whatever reason (once). The error says why:
   * ECLOSED after close(), ECONNRESET if the daemon went away, EPROTO if it
   * broke the protocol.
   */
  close: [error: XenStoreError];
  /**
   * The connection failed (daemon gone, protocol broken), just before
   * 'close'. Emitted only if someone listens, so an unhandled 'error' never
   * crashes the process: the pending requests reject anyway.
   */
  error: [error: XenStoreError];
}

const ZERO = Buffer.from([0]);
const noop = (): void => undefined;

export class XenStoreClient extends Operations implements AsyncDisposable {
  private readonly decoder = new FrameDecoder();
  private readonly requests: RequestTable;
  private readonly streams = new Map<string, WatchStream>();
  private readonly events = new EventEmitter();
  private nextToken = 1;
  private closedError: XenStoreError | undefined;
  private readonly watchBuffer: number;
  private readonly requestTimeoutMs: number | undefined;

  /** Wraps an open byte channel; most callers want connect() instead. */
  constructor(
    private readonly channel: ByteChannel,
    opts: ClientOptions = {},
  ) {
    super((type, txId, args, path, raw, ro) => this.request(type, txId, args, path, raw, ro), 0);
    this.requests = new RequestTable(opts.maxInFlight ?? 4096);
    this.watchBuffer = opts.watchBuffer ?? 1024;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    channel.start(
      (chunk) => this.onData(chunk),
      (err) => this.onClose(err),
    );
  }

  /** Requests sent and not yet answered (including those the caller gave up on). */
  get inFlight(): number {
    return this.requests.size;
  }

  /** True once the connection has ended (closed, failed, or lost). */
  get closed(): boolean {
    return this.closedError !== undefined;
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

  private request(type: number, txId: number, args: readonly Value[], path: string | undefined, raw?: Uint8Array, opts: RequestOptions = {}): Promise<Buffer> {
    if (this.closedError !== undefined) return Promise.reject(new XenStoreError(this.closedError.code, opName(type), path, 'connection closed'));
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
    this.decoder.feed(chunk);
    while (this.closedError === undefined) {
      let f: Frame | undefined;
      try {
        f = this.decoder.next();
      } catch (e) {
        if (!(e instanceof FrameTooLongError)) throw e;
        this.fail(new XenStoreError('EPROTO', 'RECEIVE', undefined, e.message));
        return;
      }
      if (f === undefined) return;
      this.onFrame(f);
    }
  }

  private onFrame(f: Frame): void {
    if (f.type === Op.WATCH_EVENT) {
      const [path, token] = splitStrings(f.payload);
      if (path !== undefined && token !== undefined) this.streams.get(token)?.push({ path, token });
      return;
    }
    const found = this.requests.take(f.reqId);
    if (found.kind === 'unknown') {
      this.fail(new XenStoreError('EPROTO', 'RECEIVE', undefined, `a ${opName(f.type)} reply with req_id ${f.reqId}, which no request has`));
      return;
    }
    const req = found.entry;
    if (f.type !== Op.ERROR && f.type !== req.type) {
      const e = new XenStoreError('EPROTO', opName(req.type), req.path, `answered with a ${opName(f.type)} reply`);
      if (found.kind === 'waiting') found.entry.reject(e); // taken from the table: fail() no longer sees it
      this.fail(e);
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
      if (typeof path === 'string' && typeof token === 'string' && !this.streams.has(token)) {
        this.request(Op.UNWATCH, 0, [path, token], path, undefined, {}).catch(noop);
      }
    }
  }

  private onClose(err?: Error): void {
    this.fail(new XenStoreError('ECONNRESET', 'CONNECTION', undefined, err?.message ?? 'the daemon closed the connection', { cause: err }));
  }

  /** The connection failed: end it, tell whoever listens, then reject everything. */
  private fail(e: XenStoreError): void {
    if (this.closedError !== undefined) return;
    if (this.events.listenerCount('error') > 0) this.events.emit('error', e);
    this.shutdown(e);
    this.channel.close();
  }

  private shutdown(e: XenStoreError): void {
    if (this.closedError !== undefined) return;
    this.closedError = e;
    this.requests.failAll((r) => new XenStoreError(e.code, opName(r.type), r.path, e.message));
    for (const s of this.streams.values()) s.fail(e);
    this.streams.clear();
    this.events.emit('close', e);
  }

  /** Closes the connection; requests still in flight are rejected with ECLOSED. */
  close(): void {
    this.shutdown(new XenStoreError('ECLOSED', 'CLOSE', undefined, 'closed by the client'));
    this.channel.close();
  }

  /** close(), for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  // ---- transactions ------------------------------------------------------

  /**
   * Starts a transaction. The options apply to TRANSACTION_START; their
   * signal also becomes the default of the transaction's own requests.
   */
  async startTransaction(opts: RequestOptions = {}): Promise<Transaction> {
    const id = Number(replyString(await this.call(Op.TRANSACTION_START, 0, [''], undefined, undefined, opts)));
    return new Transaction(this.call, id, { signal: opts.signal });
  }

  /**
   * Runs `fn` in a transaction and commits. On EAGAIN (a conflict) `fn` runs
   * again on a fresh transaction after a jittered exponential backoff, until
   * `deadlineMs` (default 5000 ms) has passed; then EAGAIN is thrown. If `fn`
   * throws anything else, the transaction is aborted and the error passed on.
   * `fn` may run several times: keep side effects outside it.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    return runTransaction((ro) => this.startTransaction(ro), fn, opts);
  }

  // ---- watches -------------------------------------------------------------

  /** Watches `path` (or @introduceDomain / @releaseDomain). The first event is the path itself. */
  async watch(path: string, opts: WatchOptions = {}): Promise<WatchStream> {
    checkWatchPath('WATCH', path);
    if (opts.depth !== undefined) checkCount('WATCH', 'depth', opts.depth);
    const token = opts.token ?? `tsxs:${this.nextToken++}`;
    if (this.streams.has(token)) throw new XenStoreError('EEXIST', 'WATCH', path, `token ${token} already in use`);
    const args = opts.depth === undefined ? [path, token] : [path, token, String(opts.depth)];
    const { signal } = opts;
    const onAbort = (): void => stream.cancel(new XenStoreError('ECANCELED', 'WATCH', path, 'aborted', { cause: signal?.reason, name: 'AbortError' }));
    const stream = new WatchStream(path, token, this.watchBuffer, async () => {
      signal?.removeEventListener('abort', onAbort);
      this.streams.delete(token);
      if (this.closedError === undefined) await this.call(Op.UNWATCH, 0, [path, token], path, undefined, {});
    });
    this.streams.set(token, stream);
    try {
      await this.call(Op.WATCH, 0, args, path, undefined, { signal, timeoutMs: opts.timeoutMs });
    } catch (e) {
      this.streams.delete(token);
      throw e;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted === true) onAbort();
    return stream;
  }

  // ---- domains, control, features, quotas ------------------------------------

  private async domainCall(type: number, args: readonly string[], opts: RequestOptions | undefined): Promise<string> {
    return replyString(await this.call(type, 0, args, undefined, undefined, opts ?? {}));
  }

  async introduce(domid: number, mfn: number | bigint, port: number, opts?: RequestOptions): Promise<void> {
    checkDomid('INTRODUCE', domid);
    checkCount('INTRODUCE', 'mfn', mfn);
    checkCount('INTRODUCE', 'port', port, 0xffff_ffff);
    await this.domainCall(Op.INTRODUCE, [String(domid), String(mfn), String(port)], opts);
  }

  async release(domid: number, opts?: RequestOptions): Promise<void> {
    checkDomid('RELEASE', domid);
    await this.domainCall(Op.RELEASE, [String(domid)], opts);
  }

  async resume(domid: number, opts?: RequestOptions): Promise<void> {
    checkDomid('RESUME', domid);
    await this.domainCall(Op.RESUME, [String(domid)], opts);
  }

  async setTarget(domid: number, target: number, opts?: RequestOptions): Promise<void> {
    checkDomid('SET_TARGET', domid);
    checkDomid('SET_TARGET', target);
    await this.domainCall(Op.SET_TARGET, [String(domid), String(target)], opts);
  }

  async getDomainPath(domid: number, opts?: RequestOptions): Promise<string> {
    checkDomid('GET_DOMAIN_PATH', domid);
    return this.domainCall(Op.GET_DOMAIN_PATH, [String(domid)], opts);
  }

  async isDomainIntroduced(domid: number, opts?: RequestOptions): Promise<boolean> {
    checkDomid('IS_DOMAIN_INTRODUCED', domid);
    return (await this.domainCall(Op.IS_DOMAIN_INTRODUCED, [String(domid)], opts)) === 'T';
  }

  /** Sends a CONTROL command (as xenstore-control does) and returns the daemon's text answer. */
  async control(command: string, ...args: string[]): Promise<string> {
    return this.domainCall(Op.CONTROL, [command, ...args], undefined);
  }

  /** The feature bits the daemon supports, or those enabled for `domid`. */
  async getFeatures(domid?: number, opts?: RequestOptions): Promise<number> {
    if (domid !== undefined) checkDomid('GET_FEATURE', domid);
    return Number(await this.domainCall(Op.GET_FEATURE, domid === undefined ? [] : [String(domid)], opts));
  }

  async setFeatures(domid: number, mask: number, opts?: RequestOptions): Promise<void> {
    checkDomid('SET_FEATURE', domid);
    checkCount('SET_FEATURE', 'mask', mask, 0xffff_ffff);
    await this.domainCall(Op.SET_FEATURE, [String(domid), String(mask)], opts);
  }

  /** Names of the quotas the daemon knows. */
  async quotaNames(opts?: RequestOptions): Promise<string[]> {
    return (await this.domainCall(Op.GET_QUOTA, [], opts)).split(' ').filter((s) => s !== '');
  }

  /** A quota's global value, or its value for `domid`. */
  async getQuota(name: string, domid?: number, opts?: RequestOptions): Promise<number> {
    if (domid !== undefined) checkDomid('GET_QUOTA', domid);
    return Number(await this.domainCall(Op.GET_QUOTA, domid === undefined ? [name] : [String(domid), name], opts));
  }

  /** Sets a quota globally, or for `domid` only. */
  async setQuota(name: string, value: number, domid?: number, opts?: RequestOptions): Promise<void> {
    checkCount('SET_QUOTA', 'value', value);
    if (domid !== undefined) checkDomid('SET_QUOTA', domid);
    await this.domainCall(Op.SET_QUOTA, domid === undefined ? [name, String(value)] : [String(domid), name, String(value)], opts);
  }
}

/** Connects to a XenStore daemon (retrying ECONNREFUSED and EAGAIN until connectTimeoutMs). */
export async function connect(opts: ConnectOptions = {}): Promise<XenStoreClient> {
  const channel = opts.channel ?? (await openWithRetry(opts.path ?? defaultSocketPath(), opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, opts.signal));
  return new XenStoreClient(channel, opts);
}
