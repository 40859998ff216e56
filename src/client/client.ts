/**
 * XenStoreClient: the calls a program makes on a connection (connection.ts):
 * transactions retried until a deadline, watches as async iterables, the
 * domain, control, feature and quota calls; and connect().
 */
import { Op } from '../protocol/op.js';
import { defaultSocketPath, openSocket, type ByteChannel } from './channel.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, openWithRetry } from './connect.js';
import { Connection, type ClientOptions } from './connection.js';
import { abortError, XenStoreError } from './errors.js';
import { replyString } from './operations.js';
import type { RequestOptions } from './requests.js';
import { runTransaction, type TransactionOptions } from './retry.js';
import { Transaction } from './transaction.js';
import { checkCount, checkDomid, checkPathOrSpecial } from './validate.js';
import { WatchStream } from './watch-stream.js';

export type { ClientEvents, ClientOptions } from './connection.js';

export interface ConnectOptions extends ClientOptions {
  /** Socket path (default: $XENSTORED_PATH, else /var/run/xenstored/socket). */
  readonly path?: string;
  /**
   * An already open byte channel instead of a socket (e.g. a simulated
   * guest's ring: connectGuest() of the 'tsxenstored' entry).
   */
  readonly channel?: ByteChannel;
  /**
   * Keep retrying ECONNREFUSED and EAGAIN for this many ms (default 10000);
   * 0 makes one attempt. An attempt is given at least 1 s before it fails
   * with ETIMEDOUT.
   */
  readonly connectTimeoutMs?: number;
  /** Cancels connecting: rejects with an AbortError. */
  readonly signal?: AbortSignal;
  /**
   * Opt-in (default false; socket connections only): when the connection is
   * lost, keep the client and connect again (retrying until close()), then
   * register every open watch again. Requests in flight when the connection
   * dropped, or made before it is back, reject with ECONNRESET: whether the
   * daemon acted on them is unknown, so they are not replayed. Open
   * transactions are lost with the connection. See 'reconnecting' and
   * 'reconnect' in ClientEvents.
   */
  readonly reconnect?: boolean;
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

export class XenStoreClient extends Connection implements AsyncDisposable {
  private nextToken = 1;
  private readonly watchBuffer: number;

  /**
   * Wraps an open byte channel; most callers want connect() instead.
   * @param reopen opens a new channel after the connection is lost (the reconnect mode).
   */
  constructor(channel: ByteChannel, opts: ClientOptions = {}, reopen?: (signal: AbortSignal) => Promise<ByteChannel>) {
    super(channel, opts, reopen);
    this.watchBuffer = opts.watchBuffer ?? 1024;
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

  /** Watches `path` (or `@introduceDomain` / `@releaseDomain`). The first event is the path itself. */
  async watch(path: string, opts: WatchOptions = {}): Promise<WatchStream> {
    checkPathOrSpecial('WATCH', path);
    if (opts.depth !== undefined) checkCount('WATCH', 'depth', opts.depth);
    const token = opts.token ?? `tsxs:${this.nextToken++}`;
    if (this.watches.has(token)) throw new XenStoreError('EEXIST', 'WATCH', path, `token ${token} already in use`);
    const args = opts.depth === undefined ? [path, token] : [path, token, String(opts.depth)];
    const { signal } = opts;
    const onAbort = (): void => stream.cancel(abortError('WATCH', path, signal?.reason));
    const stream = new WatchStream(path, token, this.watchBuffer, async () => {
      signal?.removeEventListener('abort', onAbort);
      if (this.watches.get(token)?.stream !== stream) return; // ended with the connection
      this.watches.delete(token);
      if (this.connected) await this.call(Op.UNWATCH, 0, [path, token], path, undefined, {});
    });
    this.watches.set(token, { stream, args });
    try {
      await this.call(Op.WATCH, 0, args, path, undefined, { signal, timeoutMs: opts.timeoutMs });
    } catch (e) {
      this.watches.delete(token);
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
  if (opts.channel !== undefined) {
    if (opts.reconnect === true) throw new XenStoreError('EINVAL', 'CONNECT', undefined, 'reconnect needs a socket path, not a channel');
    return new XenStoreClient(opts.channel, opts);
  }
  const path = opts.path ?? defaultSocketPath();
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const channel = await openWithRetry(path, timeoutMs, opts.signal);
  const reopen = opts.reconnect === true ? (signal: AbortSignal) => openSocket(path, timeoutMs, signal) : undefined;
  return new XenStoreClient(channel, opts, reopen);
}
