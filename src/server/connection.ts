/**
 * One client of the daemon, whatever carries its bytes (Unix socket today,
 * a domain's ring later): its identity, its decoder, its batched output, its
 * transactions and watches. The transport is reached only through `Sink`.
 */
import { FrameDecoder } from '../protocol/decoder.js';
import { FrameBatch } from '../protocol/encoder.js';
import { Op } from '../protocol/op.js';
import { domainHome } from '../store/path.js';
import type { Caller } from '../store/perms.js';
import type { Transaction } from '../txn/transaction.js';
import type { Watch, WatchOwner } from '../watch/watch-index.js';

/** What a transport offers the daemon. */
export interface Sink {
  /** Hands bytes (`frames` whole frames) to the transport. */
  write(buf: Buffer, frames: number): void;
  /** Bytes handed over but not yet delivered to the peer. */
  readonly backlog: number;
  /** Frames handed over and not yet wholly delivered to the peer. */
  readonly backlogFrames: number;
  /** Stop / restart delivering received bytes. */
  pause(): void;
  resume(): void;
  /** Ends the connection (after flushing what was written, if possible). */
  close(): void;
  /** How the transport names this peer in logs. */
  readonly label: string;
  /** write() is done with the buffer when it returns (it may be reused at once). */
  readonly copies?: boolean;
}

export interface ConnWatch extends Watch {
  readonly owner: Connection;
}

export class Connection implements WatchOwner {
  caller: Caller;
  readonly home: string;
  readonly decoder = new FrameDecoder();
  readonly out = new FrameBatch(1024);
  readonly transactions = new Map<number, Transaction>();
  /** Keyed by `${path}\0${token}`. */
  readonly watches = new Map<string, ConnWatch>();
  closed = false;
  /** Reading stopped because output is backed up. */
  throttled = false;
  /** Output kept back (the reply to a live update, sent by the next daemon). */
  held = false;
  /** A reply is being prepared asynchronously (Request.defer): nothing more is read until it is queued. */
  awaiting = false;
  private nextTxId = 1;

  constructor(
    readonly id: number,
    domid: number,
    privileged: boolean,
    readonly sink: Sink,
  ) {
    this.caller = { domid, privileged, target: undefined };
    this.home = domainHome(domid);
  }

  get label(): string {
    return `conn ${this.id} (${this.sink.label}, dom${this.caller.domid})`;
  }

  /** Bytes of output waiting here or in the transport. */
  get queuedBytes(): number {
    return this.out.bytes + this.sink.backlog;
  }

  reply(type: number, reqId: number, txId: number, payload: Uint8Array): void {
    this.out.add(type, reqId, txId, payload);
  }

  event(path: string, token: string): void {
    this.out.addTwoStrings(Op.WATCH_EVENT, 0, 0, path, token);
  }

  /** Makes sure ids handed out later start after `id` (adopted transactions). */
  skipTxId(id: number): void {
    if (id >= this.nextTxId && id < 0xffff_fffe) this.nextTxId = id + 1;
  }

  /** A fresh transaction id: never 0, never one in use. */
  allocTxId(): number {
    for (;;) {
      const id = this.nextTxId;
      this.nextTxId = id >= 0xffff_fffe ? 1 : id + 1;
      if (!this.transactions.has(id)) return id;
    }
  }

  /** Replies and events not yet delivered (for the outstanding quota). */
  get queuedFrames(): number {
    return this.out.frames + this.sink.backlogFrames;
  }

  /** Sends what is batched; returns the bytes written. */
  flush(): number {
    if (this.closed || this.held || this.out.bytes === 0) return 0;
    const frames = this.out.frames;
    const n = this.out.bytes;
    if (this.sink.copies === true) {
      this.sink.write(this.out.view(), frames);
      this.out.clear();
    } else {
      this.sink.write(this.out.take(), frames);
    }
    return n;
  }
}
