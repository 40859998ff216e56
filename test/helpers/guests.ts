/**
 * Helpers for end-to-end tests of guest domains on the simulated Xen.
 *
 *  - simDirOf(), dom0(): the daemon's simulation directory and a dom0 client.
 *  - GuestProcess: a guest domain in its own process (fixtures/guest-runner.js),
 *    driven by JSON lines; its operations reject with GuestError (code = errno).
 *  - RawRing: the test itself as a guest, writing the shared page directly
 *    (indices, headers, half messages) and kicking the event channel.
 *  - killDomain(): the simulated VIRQ_DOM_EXC, waiting until the daemon has
 *    forgotten the domain (nothing removed by the toolstack yet).
 *  - fdCount(), pageFiles(), errCode().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type XenStoreClient } from '../../src/client/client.js';
import { XenStoreError } from '../../src/client/errors.js';
import { FrameDecoder, FrameTooLongError, type Frame } from '../../src/protocol/decoder.js';
import { Op } from '../../src/protocol/op.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { CONNECTED, CONNECTION, ERROR, PAGE_SIZE, RECONNECT, REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD } from '../../src/ring/layout.js';
import { Ring } from '../../src/ring/ring.js';
import { readDescriptor } from '../../src/sim/guest.js';
import { descriptorPath, evtchnPath, pagePath } from '../../src/sim/layout.js';
import { mapShared } from '../../src/sim/shm.js';
import { signalDeath } from '../../src/sim/toolstack.js';
import type { GuestCommand, GuestMessage } from '../sim/fixtures/guest-protocol.js';
import { DEFAULT_TIMEOUT_MS, projectRoot, waitFor, type DaemonHandle } from './daemon.js';

/** The simulated Xen's directory of a daemon started by startDaemon()/useDaemon(). */
export function simDirOf(h: DaemonHandle): string {
  return join(h.dir, 'sim');
}

/** A dom0 client on the daemon's socket. */
export function dom0(h: DaemonHandle): Promise<XenStoreClient> {
  return connect({ path: h.socket });
}

/** An error a guest operation answered. */
export class GuestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GuestError';
  }
}

/**
 * Resolves with the error code `p` rejects with (XenStoreError or GuestError);
 * rejects if `p` succeeds.
 */
export async function errCode(p: Promise<unknown>): Promise<string> {
  try {
    const v = await p;
    throw new Error(`expected an error, got success (${JSON.stringify(v)})`);
  } catch (e) {
    if (e instanceof GuestError || e instanceof XenStoreError) return e.code;
    throw e;
  }
}

/** Open file descriptors of a process (Linux /proc). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Names of the ring page files in the simulation directory. */
export function pageFiles(simDir: string): string[] {
  return readdirSync(simDir).filter((f) => f.startsWith('page-'));
}

/** Removes a guest's page file and descriptor (what destroyGuest() does after the daemon is told). */
export function removeGuestFiles(simDir: string, domid: number): void {
  try {
    rmSync(pagePath(simDir, readDescriptor(simDir, domid).gfn), { force: true });
  } catch {
    // no descriptor
  }
  rmSync(descriptorPath(simDir, domid), { force: true });
}

/**
 * Signals domain `domid`'s death through the simulated VIRQ and waits until
 * the daemon has released it. Unlike destroyGuest(), removes nothing itself.
 */
export async function killDomain(client: XenStoreClient, simDir: string, domid: number): Promise<void> {
  await signalDeath(simDir, domid);
  await waitFor(async () => !(await client.isDomainIntroduced(domid)), { what: `domain ${domid} to be released after its death` });
}

// ---- a guest in its own process ------------------------------------------------

type Value = string | readonly string[] | number | null;

interface Waiter {
  readonly resolve: (v: Value) => void;
  readonly reject: (e: Error) => void;
}

const live = new Set<GuestProcess>();

export function runnerScript(): string {
  return join(projectRoot(), 'dist', 'test', 'sim', 'fixtures', 'guest-runner.js');
}

export class GuestProcess {
  /** Watch events received, oldest first. */
  readonly events: Array<{ readonly token: string; readonly path: string }> = [];
  /** Set when the guest's connection ended (ring detached, error flagged). */
  closed: string | undefined;
  exited = false;
  private stderrText = '';
  private readonly pending = new Map<number, Waiter>();
  private nextId = 1;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly domid: number,
    private readonly child: ChildProcess,
  ) {
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', () => {
        this.exited = true;
        live.delete(this);
        for (const w of this.pending.values()) w.reject(new Error(`guest ${domid} process exited; stderr: ${this.stderrText}`));
        this.pending.clear();
        resolve();
      });
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.stderrText += d;
    });
    child.stdin?.on('error', () => undefined);
  }

  /** Starts a guest process connected over domain `domid`'s ring (the domain must exist). */
  static async start(domid: number, simDir: string): Promise<GuestProcess> {
    const child = spawn(process.execPath, [runnerScript(), String(domid), simDir], { stdio: ['pipe', 'pipe', 'pipe'] });
    const g = new GuestProcess(domid, child);
    live.add(g);
    const ready = new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        let m: GuestMessage;
        try {
          m = JSON.parse(line) as GuestMessage;
        } catch {
          return;
        }
        if (m.kind === 'ready') resolve();
        else if (m.kind === 'fatal') reject(new Error(`guest ${domid}: ${m.message}`));
        else g.onMessage(m);
      });
      void g.exitPromise.then(() => reject(new Error(`guest ${domid} process exited before it was ready: ${g.stderrText}`)));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), DEFAULT_TIMEOUT_MS);
    try {
      await ready;
    } finally {
      clearTimeout(timer);
    }
    return g;
  }

  get stderr(): string {
    return this.stderrText;
  }

  private onMessage(m: GuestMessage): void {
    if (m.kind === 'event') this.events.push({ token: m.token, path: m.path });
    else if (m.kind === 'closed') this.closed = m.message;
    else if (m.kind === 'reply') {
      const w = this.pending.get(m.id);
      if (w === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(new GuestError(m.code, `guest ${this.domid}: ${m.message}`));
    }
  }

  /** Sends one command; resolves with its value or rejects with GuestError. */
  request(cmd: GuestCommand): Promise<Value> {
    if (this.exited) return Promise.reject(new Error(`guest ${this.domid} process has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin?.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  async read(path: string, tx?: number): Promise<string> {
    return asString(await this.request({ op: 'read', path, tx }));
  }

  async write(path: string, value: string, tx?: number): Promise<void> {
    await this.request({ op: 'write', path, value, tx });
  }

  async mkdir(path: string, tx?: number): Promise<void> {
    await this.request({ op: 'mkdir', path, tx });
  }

  async rm(path: string, tx?: number): Promise<void> {
    await this.request({ op: 'rm', path, tx });
  }

  async directory(path: string, tx?: number): Promise<string[]> {
    return asStrings(await this.request({ op: 'directory', path, tx }));
  }

  async getPerms(path: string): Promise<string[]> {
    return asStrings(await this.request({ op: 'getPerms', path }));
  }

  async setPerms(path: string, perms: readonly string[]): Promise<void> {
    await this.request({ op: 'setPerms', path, perms });
  }

  async watch(path: string, token: string): Promise<void> {
    await this.request({ op: 'watch', path, token });
  }

  async unwatch(token: string): Promise<void> {
    await this.request({ op: 'unwatch', token });
  }

  async txStart(): Promise<number> {
    const v = await this.request({ op: 'txStart' });
    if (typeof v !== 'number') throw new Error(`txStart answered ${JSON.stringify(v)}`);
    return v;
  }

  async txCommit(tx: number): Promise<void> {
    await this.request({ op: 'txCommit', tx });
  }

  async txAbort(tx: number): Promise<void> {
    await this.request({ op: 'txAbort', tx });
  }

  /** Guest-initiated reconnect: the daemon forgets this guest's watches and transactions. */
  async reset(): Promise<void> {
    await this.request({ op: 'reset' });
  }

  /** Any request by message type; resolves with the reply payload (latin1). */
  async raw(type: number, args: readonly string[]): Promise<string> {
    return asString(await this.request({ op: 'raw', type, args }));
  }

  /** Events of one token, oldest first. */
  eventsOf(token: string): string[] {
    return this.events.filter((e) => e.token === token).map((e) => e.path);
  }

  /** Waits until an event of `token` for `path` has arrived. */
  waitEvent(token: string, path: string): Promise<true> {
    return waitFor(() => this.eventsOf(token).includes(path) || undefined, { what: `guest ${this.domid}: event ${path} for ${token}` });
  }

  /** The process exits at once (no goodbye to the daemon), as a crashing guest. */
  async die(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    await this.exitPromise;
  }

  /** Ends the process politely. */
  async stop(): Promise<void> {
    if (!this.exited) this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

/** Stops every guest process still running (for after() hooks). */
export async function stopAllGuests(): Promise<void> {
  await Promise.all([...live].map((g) => g.die()));
}

function asString(v: Value): string {
  if (typeof v !== 'string') throw new Error(`expected a string, got ${JSON.stringify(v)}`);
  return v;
}

function asStrings(v: Value): string[] {
  if (!Array.isArray(v)) throw new Error(`expected a list, got ${JSON.stringify(v)}`);
  return v.map((x) => String(x));
}

// ---- the test as a guest, on the raw page ---------------------------------------

/** A decoded frame from the response ring (payload copied). */
export interface RingFrame {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Buffer;
}

/** NUL-terminated strings, as request payloads. */
export function z(...parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'latin1');
}

/**
 * Domain `domid`'s shared page mapped by the test, with the event channel
 * bound: the test writes indices and bytes as a (possibly malicious) guest.
 * Binding replaces any other binding of the domain (e.g. a GuestChannel's).
 * The one raw-ring guest of the test suites (sim, persist and XSA tests).
 */
export class RawRing {
  readonly words: Int32Array;
  readonly req: Ring;
  readonly rsp: Ring;
  /** Notifications received from the daemon. */
  notifications = 0;
  /** Frames read from the response ring, oldest first. */
  readonly frames: RingFrame[] = [];
  /** Read the response ring whenever the daemon kicks (false: a guest that never reads). */
  autoRead = true;
  /** Set if the daemon's end of the event channel closed. */
  evtchnClosed = false;
  /** Set to the announced length if the daemon sent a frame over 4096 bytes (a protocol violation). */
  oversized: number | undefined;
  private readonly decoder = new FrameDecoder();
  private nextReq = 1;
  private wakers: Array<() => void> = [];

  private constructor(
    readonly domid: number,
    page: SharedArrayBuffer,
    private readonly socket: Socket,
  ) {
    this.words = new Int32Array(page);
    this.req = Ring.requests(page);
    this.rsp = Ring.responses(page);
  }

  static async open(simDir: string, domid: number): Promise<RawRing> {
    const d = readDescriptor(simDir, domid);
    const page = mapShared(pagePath(simDir, d.gfn), PAGE_SIZE, false);
    const socket = netConnect(evtchnPath(simDir));
    let ring: RawRing | undefined;
    await new Promise<void>((resolve, reject) => {
      let hello = '';
      socket.once('error', reject);
      socket.once('connect', () => socket.write(`bind ${domid} ${d.port}\n`));
      socket.on('data', (b: Buffer) => {
        if (ring !== undefined) return ring.onKick();
        hello += b.toString('latin1');
        const nl = hello.indexOf('\n');
        if (nl < 0) return;
        if (hello.slice(0, nl) !== 'OK') return reject(new Error(`bind of domain ${domid} refused: ${hello}`));
        socket.off('error', reject);
        socket.on('error', () => undefined);
        ring = new RawRing(domid, page, socket);
        socket.on('close', () => {
          if (ring !== undefined) ring.evtchnClosed = true;
        });
        resolve();
      });
    });
    return ring!;
  }

  /** The page's error field (0: none, 3: ERROR_PROTO, set when the daemon drops the connection). */
  get error(): number {
    return Atomics.load(this.words, ERROR);
  }

  get connection(): number {
    return Atomics.load(this.words, CONNECTION);
  }

  /** [req_cons, req_prod, rsp_cons, rsp_prod] as u32. */
  indices(): [number, number, number, number] {
    return [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD].map((i) => Atomics.load(this.words, i) >>> 0) as [number, number, number, number];
  }

  /** Stores a raw u32 control field (Int32 index). */
  set(index: number, value: number): void {
    Atomics.store(this.words, index, value | 0);
  }

  /** Signals the daemon. */
  kick(): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.from([1]));
  }

  private onKick(): void {
    this.notifications++;
    if (this.autoRead) this.drain();
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  /**
   * Polls `cond` after every notification from the daemon (and every 20 ms, in
   * case one was coalesced) until it holds; rejects after a generous deadline.
   */
  async until<T>(cond: () => T | false | undefined, what: string): Promise<T> {
    const deadline = Date.now() + DEFAULT_TIMEOUT_MS;
    for (;;) {
      const v = cond();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (domain ${this.domid}, error field ${this.error})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        this.wakers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Reads whatever the response ring holds into `frames`; kicks if it freed space. */
  drain(): number {
    let total = 0;
    for (;;) {
      const chunk = this.rsp.read();
      if (chunk.length === 0) break;
      total += chunk.length;
      if (this.oversized !== undefined) continue; // the stream is broken past an oversized frame
      this.decoder.feed(chunk);
      try {
        for (let f: Frame | undefined; (f = this.decoder.next()) !== undefined; ) {
          this.frames.push({ type: f.type, reqId: f.reqId, txId: f.txId, payload: Buffer.from(f.payload) });
        }
      } catch (e) {
        if (!(e instanceof FrameTooLongError)) throw e;
        this.oversized = e.len;
      }
    }
    if (total > 0) this.kick();
    return total;
  }

  /** A fresh request id. */
  reqId(): number {
    return this.nextReq++;
  }

  /** Writes bytes into the request ring as space allows (no kick); returns bytes written. */
  put(bytes: Buffer): number {
    return this.req.write(bytes);
  }

  /** Writes what fits of `bytes` without waiting (a guest that does not care); kicks; returns the bytes written. */
  tryPut(bytes: Buffer): number {
    const n = this.req.write(bytes);
    this.kick();
    return n;
  }

  /** Writes all of `bytes` (waiting for room, kicking as it goes). */
  async putAll(bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      off += this.req.write(bytes, off);
      this.kick();
      if (off < bytes.length) await this.until(() => this.req.writable() > 0, `room in domain ${this.domid}'s request ring`);
    }
  }

  /** Writes a whole request frame; returns its req_id. */
  async send(type: number, payload: Buffer, txId = 0, reqId = this.reqId()): Promise<number> {
    await this.putAll(encodeFrame(type, reqId, txId, payload));
    return reqId;
  }

  /** Waits for the reply to `reqId` (reading the ring as needed). */
  reply(reqId: number, what = `reply ${reqId} on domain ${this.domid}'s ring`): Promise<RingFrame> {
    return this.until(() => {
      this.drain();
      return this.frames.find((f) => f.reqId === reqId && f.type !== Op.WATCH_EVENT);
    }, what);
  }

  /** Sends a request and waits for its reply. */
  async request(type: number, payload: Buffer, txId = 0): Promise<RingFrame> {
    return this.reply(await this.send(type, payload, txId));
  }

  /** Watch events received (path, token), oldest first. */
  events(): Array<{ path: string; token: string }> {
    return this.frames
      .filter((f) => f.type === Op.WATCH_EVENT)
      .map((f) => {
        const [path = '', token = ''] = f.payload.toString('latin1').split('\0');
        return { path, token };
      });
  }

  /** The guest-initiated reset (XENSTORE_RECONNECT): a fresh connection, the ring emptied. */
  async reset(): Promise<void> {
    Atomics.store(this.words, CONNECTION, RECONNECT);
    this.kick();
    await this.until(() => Atomics.load(this.words, CONNECTION) === CONNECTED, 'the reconnect');
    this.frames.length = 0;
    this.decoder.reset();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** "ENOENT" for an ERROR reply, else the payload without its trailing NUL. */
export function payloadText(f: RingFrame): string {
  const s = f.payload.toString('latin1');
  return s.endsWith('\0') ? s.slice(0, -1) : s;
}
