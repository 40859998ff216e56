/**
 * The guest's side of the simulated Xen: what a guest kernel's xenbus does.
 * It maps its ring page, binds its event channel, writes requests into the
 * request ring, reads replies and events from the response ring, and can
 * reset the connection (XENSTORE_RECONNECT) to start afresh.
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import type { ByteChannel } from '../client/channel.js';
import { CONNECTED, CONNECTION, ERROR, ERROR_NONE, PAGE_SIZE, RECONNECT } from '../ring/layout.js';
import { Ring } from '../ring/ring.js';
import { NOTIFY } from './evtchn.js';
import { descriptorPath, evtchnPath, pagePath, type GuestDescriptor } from './layout.js';
import { mapShared } from './shm.js';

export function readDescriptor(dir: string, domid: number): GuestDescriptor {
  let text: string;
  try {
    text = readFileSync(descriptorPath(dir, domid), 'utf8');
  } catch {
    throw new Error(`domain ${domid} has no simulated ring in ${dir} (create it with: tsxenstore sim create-guest ${domid})`);
  }
  return JSON.parse(text) as GuestDescriptor;
}

export class GuestChannel implements ByteChannel {
  private readonly words: Int32Array;
  private readonly req: Ring;
  private readonly rsp: Ring;
  private readonly queue: Buffer[] = [];
  private onData: ((chunk: Buffer) => void) | undefined;
  private onClose: ((err?: Error) => void) | undefined;
  private resetWaiters: Array<() => void> = [];
  private closed = false;

  private constructor(
    readonly domid: number,
    page: SharedArrayBuffer,
    private readonly evtchn: Socket,
  ) {
    this.words = new Int32Array(page);
    this.req = Ring.requests(page);
    this.rsp = Ring.responses(page);
  }

  /** Maps domain `domid`'s page and binds its event channel, as the guest kernel does at boot. */
  static async open(domid: number, dir: string): Promise<GuestChannel> {
    const d = readDescriptor(dir, domid);
    const page = mapShared(pagePath(dir, d.gfn), PAGE_SIZE, false);
    const socket = netConnect(evtchnPath(dir));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.write(`bind ${domid} ${d.port}\n`);
        let reply = '';
        const onHello = (b: Buffer): void => {
          reply += b.toString('latin1');
          const nl = reply.indexOf('\n');
          if (nl < 0) return;
          socket.off('data', onHello);
          socket.off('error', reject);
          if (reply.slice(0, nl) !== 'OK') return reject(new Error(`event channel of domain ${domid} refused: ${reply.slice(0, nl)}`));
          resolve();
        };
        socket.on('data', onHello);
      });
    });
    return new GuestChannel(domid, page, socket);
  }

  /** The server_features word the daemon advertises. */
  get serverFeatures(): number {
    return Atomics.load(this.words, 516);
  }

  /** The error field (0 = none). */
  get error(): number {
    return Atomics.load(this.words, ERROR);
  }

  start(onData: (chunk: Buffer) => void, onClose: (err?: Error) => void): void {
    this.onData = onData;
    this.onClose = onClose;
    this.evtchn.on('data', () => this.kicked());
    this.evtchn.on('close', () => this.finish(new Error('event channel closed')));
    this.evtchn.on('error', () => undefined);
    this.kicked();
  }

  write(buf: Buffer): void {
    if (this.closed) return;
    this.queue.push(buf);
    this.pump();
  }

  /** Guest-initiated reset: drops every request, watch and transaction of this domain. */
  reset(): Promise<void> {
    this.queue.length = 0;
    Atomics.store(this.words, CONNECTION, RECONNECT);
    this.evtchn.write(NOTIFY);
    return new Promise((resolve) => this.resetWaiters.push(resolve));
  }

  /**
   * Ends this client's use of the ring, the way a socket close ends a dom0
   * client's: a reset is requested, so the daemon drops this domain's watches
   * and transactions instead of keeping them for whoever opens the ring next.
   */
  close(): void {
    if (this.closed) return;
    this.queue.length = 0;
    Atomics.store(this.words, CONNECTION, RECONNECT);
    this.closed = true;
    this.evtchn.end(NOTIFY);
    this.onClose?.();
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.evtchn.destroy();
    this.onClose?.(err);
  }

  private notify(): void {
    if (!this.closed) this.evtchn.write(NOTIFY);
  }

  private pump(): void {
    if (Atomics.load(this.words, CONNECTION) !== CONNECTED) return;
    let wrote = false;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.req.write(head);
      if (n === 0) break;
      wrote = true;
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
    }
    if (wrote) this.notify();
  }

  private kicked(): void {
    if (this.closed) return;
    if (this.resetWaiters.length > 0 && Atomics.load(this.words, CONNECTION) === CONNECTED) {
      const waiters = this.resetWaiters;
      this.resetWaiters = [];
      for (const w of waiters) w();
    }
    if (this.error !== ERROR_NONE) return this.finish(new Error(`the daemon flagged a protocol error on the ring (error ${this.error})`));
    for (;;) {
      const chunk = this.rsp.read();
      if (chunk.length === 0) break;
      this.notify(); // room freed in the response ring
      this.onData?.(chunk);
    }
    this.pump();
  }
}
