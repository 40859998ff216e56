/**
 * The requests a connection has sent and not yet seen answered, by req_id.
 * A request the caller gave up on (AbortSignal, timeoutMs) stays here,
 * marked abandoned, until its reply comes: its req_id is not reused, and
 * the reply is recognised as late rather than as garbage.
 */
import { opName } from '../protocol/op.js';
import { abortError, timeoutError, XenStoreError } from './errors.js';

/** Per-request options, accepted by every client and transaction call. */
export interface RequestOptions {
  /** Gives up on the request when this signal aborts: rejects with an AbortError (code ECANCELED). */
  readonly signal?: AbortSignal | undefined;
  /** Gives up on the request after this many ms: rejects with a TimeoutError (code ETIMEDOUT). */
  readonly timeoutMs?: number | undefined;
}

/** A sent request. `args` are kept so a late reply can be undone (see XenStoreClient). */
export interface SentRequest {
  readonly type: number;
  readonly path: string | undefined;
  readonly args: readonly (string | Uint8Array)[];
}

interface Entry extends SentRequest {
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
  abandoned: boolean;
  /** Clears the timer and the abort listener. */
  release(): void;
}

/** What a reply's req_id refers to. */
export type Lookup = { readonly kind: 'waiting'; readonly entry: Entry } | { readonly kind: 'late'; readonly entry: SentRequest } | { readonly kind: 'unknown' };

const REQ_ID_MAX = 0xffff_ffff;

export class RequestTable {
  private readonly entries = new Map<number, Entry>();
  private nextId: number;

  /** @param firstId the first req_id to use (tests start near the wrap-around). */
  constructor(
    private readonly maxInFlight: number,
    firstId = 1,
  ) {
    this.nextId = firstId;
  }

  /** Requests sent and not yet answered, including abandoned ones. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Registers a request and sends it with `send(reqId)`. Rejects without
   * sending if the signal has already aborted or too many are in flight.
   */
  add(req: SentRequest, opts: RequestOptions, send: (reqId: number) => void): Promise<Buffer> {
    const op = opName(req.type);
    if (opts.signal?.aborted === true) return Promise.reject(abortError(op, req.path, opts.signal.reason));
    if (this.entries.size >= this.maxInFlight) {
      return Promise.reject(new XenStoreError('EBUSY', op, req.path, `${this.maxInFlight} requests already in flight`));
    }
    const reqId = this.allocate();
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const { signal, timeoutMs } = opts;
      const giveUp = (e: XenStoreError): void => {
        entry.abandoned = true;
        entry.release();
        reject(e);
      };
      const onAbort = (): void => giveUp(abortError(op, req.path, signal?.reason));
      const entry: Entry = {
        ...req,
        resolve,
        reject,
        abandoned: false,
        release: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      this.entries.set(reqId, entry);
      if (timeoutMs !== undefined) timer = setTimeout(() => giveUp(timeoutError(op, req.path, timeoutMs)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      send(reqId);
    });
  }

  /** Removes the request a reply answers and says whether its caller still waits. */
  take(reqId: number): Lookup {
    const entry = this.entries.get(reqId);
    if (entry === undefined) return { kind: 'unknown' };
    this.entries.delete(reqId);
    entry.release();
    return entry.abandoned ? { kind: 'late', entry } : { kind: 'waiting', entry };
  }

  /** Rejects every waiting request with `make(request)` and forgets them all. */
  failAll(make: (r: SentRequest) => XenStoreError): void {
    for (const e of this.entries.values()) {
      e.release();
      if (!e.abandoned) e.reject(make(e));
    }
    this.entries.clear();
  }

  /** The next req_id not in use (ids wrap around at 2^32 - 1, skipping 0). */
  private allocate(): number {
    while (this.entries.has(this.nextId)) this.advance();
    const id = this.nextId;
    this.advance();
    return id;
  }

  private advance(): void {
    this.nextId = this.nextId >= REQ_ID_MAX ? 1 : this.nextId + 1;
  }
}
