/**
 * XenStoreClient: many requests in flight on one connection, matched by
 * req_id; transactions with bounded, jittered retry; watches as async
 * iterables; every failure a XenStoreError.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameDecoder, FrameTooLongError, type Frame } from '../protocol/decoder.js';
import { encodeFrame } from '../protocol/encoder.js';
import { Op, opName } from '../protocol/op.js';
import { defaultSocketPath, openSocket, type ByteChannel } from './channel.js';
import { XenStoreError } from './errors.js';
import { Operations, replyString, splitStrings, type Value } from './operations.js';
import { Transaction } from './transaction.js';
import { WatchStream } from './watch-stream.js';

export interface ConnectOptions {
  /** Socket path (default: $XENSTORED_PATH, else /var/run/xenstored/socket). */
  readonly path?: string;
  /**
   * An already open byte channel instead of a socket (e.g. a simulated
   * guest's ring: sim/connect-guest.ts).
   */
  readonly channel?: ByteChannel;
  /** Requests allowed in flight at once; more are rejected with EBUSY (default 4096). */
  readonly maxInFlight?: number;
  /** Events a watch buffers for a slow consumer before failing with EOVERFLOW (default 1024). */
  readonly watchBuffer?: number;
}

export interface RetryOptions {
  /** Attempts before giving up with EAGAIN (default 16). */
  readonly maxAttempts?: number;
  /** First backoff in ms, doubled each attempt with full jitter (default 1). */
  readonly baseDelayMs?: number;
  /** Backoff ceiling in ms (default 200). */
  readonly maxDelayMs?: number;
}

export interface WatchOptions {
  /** Only report changes at most this many levels below the path (WATCHDEPTH feature). */
  readonly depth?: number;
  /** The token to use (default: a unique one). */
  readonly token?: string;
}

interface Pending {
  readonly type: number;
  readonly path: string | undefined;
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
}

export class XenStoreClient extends Operations {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<string, WatchStream>();
  private nextReqId = 1;
  private nextToken = 1;
  private closedError: XenStoreError | undefined;
  private readonly maxInFlight: number;
  private readonly watchBuffer: number;

  constructor(
    private readonly channel: ByteChannel,
    opts: ConnectOptions = {},
  ) {
    super((type, txId, args, path, raw) => this.request(type, txId, args, path, raw), 0);
    this.maxInFlight = opts.maxInFlight ?? 4096;
    this.watchBuffer = opts.watchBuffer ?? 1024;
    channel.start(
      (chunk) => this.onData(chunk),
      (err) => this.onClose(err),
    );
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  private request(type: number, txId: number, args: readonly Value[], path: string | undefined, raw?: Uint8Array): Promise<Buffer> {
    if (this.closedError !== undefined) return Promise.reject(new XenStoreError(this.closedError.code, opName(type), path, 'connection closed'));
    if (this.pending.size >= this.maxInFlight) {
      return Promise.reject(new XenStoreError('EBUSY', opName(type), path, `${this.maxInFlight} requests already in flight`));
    }
    const parts: Buffer[] = [];
    for (const a of args) {
      parts.push(typeof a === 'string' ? Buffer.from(a, 'utf8') : Buffer.from(a), ZERO);
    }
    if (raw !== undefined) parts.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
    const payload = Buffer.concat(parts);
    if (payload.length > 4096) return Promise.reject(new XenStoreError('E2BIG', opName(type), path, 'request larger than 4096 bytes'));
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0xffff_ffff ? 1 : this.nextReqId + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { type, path, resolve, reject });
      this.channel.write(encodeFrame(type, reqId, txId, payload));
    });
  }

  private onData(chunk: Buffer): void {
    this.decoder.feed(chunk);
    for (;;) {
      let f: Frame | undefined;
      try {
        f = this.decoder.next();
      } catch (e) {
        if (e instanceof FrameTooLongError) {
          this.shutdown(new XenStoreError('EPROTO', 'RECEIVE', undefined, e.message));
          this.channel.close();
          return;
        }
        throw e;
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
    const p = this.pending.get(f.reqId);
    if (p === undefined) return; // not ours (e.g. answered after a timeout); ignore
    this.pending.delete(f.reqId);
    if (f.type === Op.ERROR) p.reject(new XenStoreError(replyString(f.payload), opName(p.type), p.path));
    else if (f.type !== p.type) p.reject(new XenStoreError('EPROTO', opName(p.type), p.path, `reply of type ${opName(f.type)}`));
    else p.resolve(Buffer.from(f.payload));
  }

  private onClose(err?: Error): void {
    this.shutdown(new XenStoreError('ECONNRESET', 'CONNECTION', undefined, err?.message ?? 'the daemon closed the connection'));
  }

  private shutdown(e: XenStoreError): void {
    if (this.closedError !== undefined) return;
    this.closedError = e;
    for (const p of this.pending.values()) p.reject(new XenStoreError(e.code, opName(p.type), p.path, e.message));
    this.pending.clear();
    for (const s of this.streams.values()) s.fail(e);
    this.streams.clear();
  }

  /** Closes the connection; requests still in flight are rejected with ECLOSED. */
  close(): void {
    this.shutdown(new XenStoreError('ECLOSED', 'CLOSE', undefined, 'closed by the client'));
    this.channel.close();
  }

  // ---- transactions ------------------------------------------------------

  async startTransaction(): Promise<Transaction> {
    const id = Number(replyString(await this.call(Op.TRANSACTION_START, 0, [''], undefined)));
    return new Transaction(this.call, id);
  }

  /**
   * Runs `fn` in a transaction and commits. On EAGAIN (a conflict) `fn` runs
   * again on a fresh transaction, after a jittered exponential backoff, up to
   * `maxAttempts` times; then EAGAIN is thrown. If `fn` throws, the
   * transaction is aborted and the error passed on.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
    const attempts = opts.maxAttempts ?? 16;
    const base = opts.baseDelayMs ?? 1;
    const ceiling = opts.maxDelayMs ?? 200;
    for (let i = 0; i < attempts; i++) {
      const tx = await this.startTransaction();
      let result: T;
      try {
        result = await fn(tx);
      } catch (e) {
        await tx.abort().catch(() => undefined);
        throw e;
      }
      try {
        await tx.commit();
        return result;
      } catch (e) {
        if (!(e instanceof XenStoreError) || e.code !== 'EAGAIN') throw e;
      }
      await sleep(Math.random() * Math.min(ceiling, base * 2 ** i));
    }
    throw new XenStoreError('EAGAIN', 'TRANSACTION_END', undefined, `still conflicting after ${attempts} attempts`);
  }

  // ---- watches -------------------------------------------------------------

  /** Watches `path` (or @introduceDomain / @releaseDomain). The first event is the path itself. */
  async watch(path: string, opts: WatchOptions = {}): Promise<WatchStream> {
    const token = opts.token ?? `tsxs:${this.nextToken++}`;
    if (this.streams.has(token)) throw new XenStoreError('EEXIST', 'WATCH', path, `token ${token} already in use`);
    const args = opts.depth === undefined ? [path, token] : [path, token, String(opts.depth)];
    const stream = new WatchStream(path, token, this.watchBuffer, async () => {
      this.streams.delete(token);
      if (this.closedError === undefined) await this.call(Op.UNWATCH, 0, [path, token], path);
    });
    this.streams.set(token, stream);
    try {
      await this.call(Op.WATCH, 0, args, path);
    } catch (e) {
      this.streams.delete(token);
      throw e;
    }
    return stream;
  }

  // ---- domains, control, features, quotas ------------------------------------

  async introduce(domid: number, mfn: number | bigint, port: number): Promise<void> {
    await this.call(Op.INTRODUCE, 0, [String(domid), String(mfn), String(port)], undefined);
  }

  async release(domid: number): Promise<void> {
    await this.call(Op.RELEASE, 0, [String(domid)], undefined);
  }

  async resume(domid: number): Promise<void> {
    await this.call(Op.RESUME, 0, [String(domid)], undefined);
  }

  async setTarget(domid: number, target: number): Promise<void> {
    await this.call(Op.SET_TARGET, 0, [String(domid), String(target)], undefined);
  }

  async getDomainPath(domid: number): Promise<string> {
    return replyString(await this.call(Op.GET_DOMAIN_PATH, 0, [String(domid)], undefined));
  }

  async isDomainIntroduced(domid: number): Promise<boolean> {
    return replyString(await this.call(Op.IS_DOMAIN_INTRODUCED, 0, [String(domid)], undefined)) === 'T';
  }

  /** Sends a CONTROL command (as xenstore-control does) and returns the daemon's text answer. */
  async control(command: string, ...args: string[]): Promise<string> {
    return replyString(await this.call(Op.CONTROL, 0, [command, ...args], undefined));
  }

  /** The feature bits the daemon supports, or those enabled for `domid`. */
  async getFeatures(domid?: number): Promise<number> {
    return Number(replyString(await this.call(Op.GET_FEATURE, 0, domid === undefined ? [] : [String(domid)], undefined)));
  }

  async setFeatures(domid: number, mask: number): Promise<void> {
    await this.call(Op.SET_FEATURE, 0, [String(domid), String(mask)], undefined);
  }

  /** Names of the quotas the daemon knows. */
  async quotaNames(): Promise<string[]> {
    return replyString(await this.call(Op.GET_QUOTA, 0, [], undefined)).split(' ').filter((s) => s !== '');
  }

  /** A quota's global value, or its value for `domid`. */
  async getQuota(name: string, domid?: number): Promise<number> {
    const args = domid === undefined ? [name] : [String(domid), name];
    return Number(replyString(await this.call(Op.GET_QUOTA, 0, args, undefined)));
  }

  /** Sets a quota globally, or for `domid` only. */
  async setQuota(name: string, value: number, domid?: number): Promise<void> {
    const args = domid === undefined ? [name, String(value)] : [String(domid), name, String(value)];
    await this.call(Op.SET_QUOTA, 0, args, undefined);
  }
}

const ZERO = Buffer.from([0]);

/** Connects to a XenStore daemon. */
export async function connect(opts: ConnectOptions = {}): Promise<XenStoreClient> {
  const channel = opts.channel ?? (await openSocket(opts.path ?? defaultSocketPath()));
  return new XenStoreClient(channel, opts);
}
