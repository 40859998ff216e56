/**
 * A raw XenStore connection for the load generator: requests are appended to
 * a FrameBatch and leave in one write per flush(); replies are decoded with
 * the protocol's FrameDecoder and handed to one callback as (type, reqId,
 * txId, payload) with no promise or closure per request. Works over any
 * ByteChannel: the Unix socket (dom0) or a guest's ring.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { ByteChannel } from '../../src/client/channel.js';
import { toErrorCode, XenStoreError } from '../../src/client/errors.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { FrameBatch } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';

export type FrameHandler = (type: number, reqId: number, txId: number, payload: Buffer) => void;

const U32 = 0x1_0000_0000;

export class RawConn {
  private readonly decoder = new FrameDecoder();
  private readonly batch = new FrameBatch(4096);
  private nextReqId = 1;
  private handler: FrameHandler = () => undefined;
  private afterChunk: () => void = () => undefined;
  private closeHook: (err?: Error) => void = () => undefined;
  closed = false;
  closeError: Error | undefined;

  constructor(readonly channel: ByteChannel) {
    channel.start(
      (chunk) => this.onData(chunk),
      (err) => {
        this.closed = true;
        this.closeError = err;
        this.closeHook(err);
      },
    );
  }

  /**
   * Connects to a daemon's socket. A daemon with a short listen backlog (the
   * C xenstored) refuses connects with EAGAIN while it has not accepted the
   * previous ones: wait a little and try again.
   */
  static async socket(path: string): Promise<RawConn> {
    for (let attempt = 1; ; attempt++) {
      try {
        return new RawConn(await FastSocketChannel.open(path));
      } catch (e) {
        if (!(e instanceof XenStoreError) || e.code !== 'EAGAIN' || attempt >= 500) throw e;
        await new Promise((r) => setTimeout(r, Math.min(50, attempt)));
      }
    }
  }

  /** Every reply and watch event goes to `h` (replaces the previous handler). */
  onFrame(h: FrameHandler): void {
    this.handler = h;
  }

  /** `f` runs after the frames of each received chunk were handled: refill and flush there, once per chunk. */
  onChunkDone(f: () => void): void {
    this.afterChunk = f;
  }

  /** `f` runs once when the daemon closes the connection (replaces the previous hook). */
  onClose(f: (err?: Error) => void): void {
    this.closeHook = f;
  }

  /** Queues a request; returns its req_id. Nothing is sent before flush(). */
  send(type: number, txId: number, payload: Uint8Array): number {
    const id = this.nextReqId;
    this.nextReqId = id + 1 >= U32 ? 1 : id + 1;
    this.batch.add(type, id, txId, payload);
    return id;
  }

  /** Sends every queued request in one write. */
  flush(): void {
    if (this.batch.bytes === 0 || this.closed) return;
    this.channel.write(this.batch.take());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }

  /**
   * `chunk` may be a view into a buffer the channel reuses for its next read
   * (FastSocketChannel): frames are handled before returning, and a partial
   * frame left in the decoder is copied out of it.
   */
  private onData(chunk: Buffer): void {
    const fresh = this.decoder.buffered === 0; // then the decoder holds `chunk` itself, not a copy
    this.decoder.feed(chunk);
    for (let f = this.decoder.next(); f !== undefined; f = this.decoder.next()) {
      this.handler(f.type, f.reqId, f.txId, f.payload);
    }
    const left = this.decoder.buffered;
    if (fresh && left > 0) {
      const tail = Buffer.from(chunk.subarray(chunk.length - left));
      this.decoder.reset();
      this.decoder.feed(tail);
    }
    this.afterChunk();
  }
}

/**
 * A Unix-socket channel that reads with net's `onread` option: one reused
 * buffer per connection and no stream machinery per read, which roughly
 * halves the generator's cost per reply. The chunk handed on is only valid
 * during the callback (RawConn copies what it keeps).
 */
export class FastSocketChannel implements ByteChannel {
  private onData: (chunk: Buffer) => void = () => undefined;

  private constructor(private readonly socket: Socket) {}

  static open(path: string): Promise<FastSocketChannel> {
    return new Promise((resolve, reject) => {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      let ch: FastSocketChannel | undefined;
      const socket = netConnect({
        path,
        onread: {
          buffer,
          callback: (n: number, buf: Uint8Array): boolean => {
            ch?.onData(Buffer.from(buf.buffer, buf.byteOffset, n));
            return true;
          },
        },
      });
      ch = new FastSocketChannel(socket);
      socket.once('connect', () => resolve(ch));
      socket.once('error', (e: NodeJS.ErrnoException) => reject(new XenStoreError(toErrorCode(e.code ?? 'ECONNREFUSED'), 'CONNECT', path, e.message)));
    });
  }

  write(buf: Buffer): void {
    this.socket.write(buf);
  }

  start(onData: (chunk: Buffer) => void, onClose: (err?: Error) => void): void {
    this.onData = onData;
    let error: Error | undefined;
    this.socket.on('error', (e) => {
      error = e;
    });
    this.socket.on('close', () => onClose(error));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A request/reply pair for setup and teardown, outside the hot loop. */
export function call(conn: RawConn, type: number, txId: number, payload: Uint8Array): Promise<{ type: number; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    if (conn.closed) return reject(new Error('connection closed'));
    const id = conn.send(type, txId, payload);
    conn.onChunkDone(() => undefined);
    conn.onClose((err) => reject(new Error(`the daemon closed the connection${err === undefined ? '' : `: ${err.message}`}`)));
    conn.onFrame((t, reqId, _tx, p) => {
      if (reqId === id && t !== Op.WATCH_EVENT) resolve({ type: t, payload: Buffer.from(p) });
    });
    conn.flush();
  });
}

/** The payload of a request whose arguments are NUL-terminated strings, then optional raw bytes. */
export function payload(args: readonly string[], raw?: string): Buffer {
  let s = '';
  for (const a of args) s += a + '\0';
  if (raw !== undefined) s += raw;
  return Buffer.from(s, 'latin1');
}

/** True if the reply payload is exactly "OK\0". */
export function isOk(p: Buffer): boolean {
  return p.length === 3 && p[0] === 0x4f && p[1] === 0x4b && p[2] === 0;
}

/** The errno name of an ERROR payload ("EAGAIN\0" -> "EAGAIN"). */
export function errnoOf(p: Buffer): string {
  const end = p.indexOf(0);
  return p.toString('latin1', 0, end < 0 ? p.length : end);
}

/** True if an ERROR payload is EAGAIN, without making a string. */
export function isEagain(p: Buffer): boolean {
  return p.length >= 6 && p[0] === 0x45 && p[1] === 0x41 && p[2] === 0x47 && p[3] === 0x41 && p[4] === 0x49 && p[5] === 0x4e;
}
