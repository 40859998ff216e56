/**
 * A minimal raw XenStore wire client over node:net, for sending malformed or
 * unusual input. Independent of src/ on purpose: it is what a foreign client
 * would do (header = four little-endian u32: type, req_id, tx_id, len).
 */
import { connect, type Socket } from 'node:net';

export const XS = {
  DIRECTORY: 1,
  READ: 2,
  WATCH: 4,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  RM: 13,
  WATCH_EVENT: 15,
  ERROR: 16,
} as const;

export const HEADER = 16;

export interface Message {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Buffer;
}

export function frame(type: number, reqId: number, txId: number, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(type, 0);
  h.writeUInt32LE(reqId, 4);
  h.writeUInt32LE(txId, 8);
  h.writeUInt32LE(body.length, 12);
  return Buffer.concat([h, body]);
}

/** NUL-terminates each part and concatenates them. */
export function z(...parts: string[]): string {
  return parts.map((p) => `${p}\0`).join('');
}

export class RawConn {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Message[] = [];
  private waiters: Array<() => void> = [];
  private nextReq = 1;
  closed = false;
  /** Set once 'close' is seen; resolves then. */
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {
      // EPIPE / ECONNRESET after the daemon closed us: 'close' follows.
    });
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      while (this.buf.length >= HEADER) {
        const len = this.buf.readUInt32LE(12);
        if (this.buf.length < HEADER + len) break;
        this.queue.push({
          type: this.buf.readUInt32LE(0),
          reqId: this.buf.readUInt32LE(4),
          txId: this.buf.readUInt32LE(8),
          payload: Buffer.from(this.buf.subarray(HEADER, HEADER + len)),
        });
        this.buf = this.buf.subarray(HEADER + len);
      }
      this.wake();
    });
  }

  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawConn(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((f) => f !== done);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(t);
        resolve();
      };
      this.waiters.push(done);
    });
  }

  sendRaw(buf: Buffer): void {
    this.socket.write(buf);
  }

  /** Sends one request; returns its req_id. */
  send(type: number, payload: Buffer | string, txId = 0): number {
    const reqId = this.nextReq++;
    this.sendRaw(frame(type, reqId, txId, payload));
    return reqId;
  }

  /** The next message (reply or event). Rejects if the connection closes or the timeout passes. */
  async next(timeoutMs = 60_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) return m;
      if (this.closed) throw new Error('connection closed');
      await this.changed(Math.max(1, deadline - Date.now()));
    }
  }

  /** The reply to `reqId`, skipping watch events. */
  async reply(reqId: number, timeoutMs = 60_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (m.type !== XS.WATCH_EVENT && m.reqId === reqId) return m;
    }
  }

  async request(type: number, payload: Buffer | string, txId = 0, timeoutMs = 60_000): Promise<Message> {
    return this.reply(this.send(type, payload, txId), timeoutMs);
  }

  /** Resolves once the daemon has closed the connection; rejects after the timeout. */
  waitClosed(timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
      void this.closedPromise.then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** "TYPE payload" for assertion messages, e.g. `ERROR "EINVAL\0"`. */
export function show(m: Message): string {
  const name = Object.entries(XS).find(([, v]) => v === m.type)?.[0] ?? String(m.type);
  const p = m.payload.length > 60 ? `${m.payload.subarray(0, 60).toString('latin1')}...(${m.payload.length} bytes)` : m.payload.toString('latin1');
  return `${name} rid=${m.reqId} tx=${m.txId} ${JSON.stringify(p)}`;
}
