/**
 * In-process test harness: a Daemon core with connections whose transport is
 * an in-memory Sink. Requests are encoded frames fed to `daemon.receive`;
 * what the daemon writes back is decoded with the real FrameDecoder.
 *
 *   const h = new Harness();
 *   const c = h.connect();                 // dom0, privileged
 *   c.call(Op.WRITE, pathValue('/a', 'x')) // -> { reply, events }
 *
 * Nothing here is specific to one test: reuse it.
 */
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op, opName } from '../../src/protocol/op.js';
import type { Connection, Sink } from '../../src/server/connection.js';
import { Daemon, type DaemonOptions } from '../../src/server/daemon.js';
import { Logger } from '../../src/server/log.js';
import { childNodes } from '../../src/store/children.js';
import type { Node } from '../../src/store/node.js';
import { formatPerms } from '../../src/store/perms.js';

/** A Sink that keeps everything written, for the test to take. */
export class MemorySink implements Sink {
  private chunks: Buffer[] = [];
  /** Frames written since the last take. */
  frames = 0;
  backlog = 0;
  backlogFrames = 0;
  paused = false;
  closed = false;

  constructor(readonly label = 'mem') {}

  write(buf: Buffer, frames: number): void {
    this.chunks.push(Buffer.from(buf));
    this.frames += frames;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  close(): void {
    this.closed = true;
  }

  /** Everything written since the last take. */
  take(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    this.frames = 0;
    return out;
  }
}

/** A decoded frame the daemon sent (payload copied). */
export interface OutFrame {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Buffer;
}

export interface WatchEvent {
  readonly path: string;
  readonly token: string;
}

/** The answer to one request, and the watch events the same turn sent to this connection. */
export interface CallResult {
  readonly reply: OutFrame;
  readonly events: WatchEvent[];
  /** Every frame in arrival order (reply and events). */
  readonly frames: OutFrame[];
}

// ---- payload helpers --------------------------------------------------------

/** Each string NUL-terminated, in order (latin1); Buffers are appended raw (no NUL). */
export function payload(...parts: ReadonlyArray<string | Uint8Array>): Buffer {
  const bufs: Buffer[] = [];
  for (const p of parts) bufs.push(typeof p === 'string' ? Buffer.from(`${p}\0`, 'latin1') : Buffer.from(p));
  return Buffer.concat(bufs);
}

/** WRITE's payload: path NUL value. */
export function pathValue(path: string, value: string | Uint8Array): Buffer {
  return payload(path, typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
}

/** Splits a payload of NUL-terminated strings (a trailing unterminated piece is kept). */
export function decodeStrings(b: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < b.length) {
    let end = b.indexOf(0, start);
    if (end < 0) end = b.length;
    out.push(b.toString('latin1', start, end));
    start = end + 1;
  }
  return out;
}

export function parseEvent(f: OutFrame): WatchEvent {
  const [path, token] = decodeStrings(f.payload);
  return { path: path ?? '', token: token ?? '' };
}

/** "ENOENT" for an ERROR reply, else undefined. */
export function errorName(f: OutFrame): string | undefined {
  return f.type === Op.ERROR ? f.payload.toString('latin1').replace(/\0$/, '') : undefined;
}

/** Short human form of a reply, for assertion messages. */
export function describe(f: OutFrame): string {
  const err = errorName(f);
  if (err !== undefined) return `ERROR ${err}`;
  return `${opName(f.type)} ${JSON.stringify(f.payload.toString('latin1'))}`;
}

// ---- connections -------------------------------------------------------------

export class Client {
  readonly sink: MemorySink;
  readonly conn: Connection;
  private readonly decoder = new FrameDecoder();
  private nextReqId = 1;
  /** Events that arrived with replies of the convenience calls (ok, read, ...), for events(). */
  private stash: WatchEvent[] = [];

  constructor(
    readonly daemon: Daemon,
    domid = 0,
    privileged = true,
    label = `mem${domid}`,
  ) {
    this.sink = new MemorySink(label);
    this.conn = daemon.connect(domid, privileged, this.sink);
  }

  /** Sends one request; returns its req_id. Replies stay queued until `frames()`. */
  send(type: number, body: Uint8Array, txId = 0, reqId = this.nextReqId++): number {
    this.daemon.receive(this.conn, encodeFrame(type, reqId, txId, body));
    this.daemon.flush(); // the daemon defers output to the end of the turn: take it now
    return reqId;
  }

  /** Frames the daemon wrote to this connection since the last call. */
  frames(): OutFrame[] {
    this.decoder.feed(this.sink.take());
    const out: OutFrame[] = [];
    for (;;) {
      const f = this.decoder.next();
      if (f === undefined) return out;
      out.push({ type: f.type, reqId: f.reqId, txId: f.txId, payload: Buffer.from(f.payload) });
    }
  }

  /**
   * Watch events not yet seen by the test: those that came with replies to
   * ok()/read()/write()/... and those received since (fails on anything else).
   */
  events(): WatchEvent[] {
    const out = this.stash;
    this.stash = [];
    for (const f of this.frames()) {
      if (f.type !== Op.WATCH_EVENT) throw new Error(`expected only watch events, got ${describe(f)}`);
      out.push(parseEvent(f));
    }
    return out;
  }

  /**
   * Sends a request and returns its reply and the watch events that came with
   * it (which events() will not return again). Any frame already pending must
   * have been taken (frames()/events()).
   */
  call(type: number, body: Uint8Array, txId = 0): CallResult {
    const reqId = this.send(type, body, txId);
    const frames = this.frames();
    const replies = frames.filter((f) => f.type !== Op.WATCH_EVENT);
    const reply = replies[0];
    if (replies.length !== 1 || reply === undefined) {
      throw new Error(`${opName(type)}: expected one reply, got ${replies.length}: ${replies.map(describe).join(', ')}`);
    }
    if (reply.reqId !== reqId) throw new Error(`${opName(type)}: reply has req_id ${reply.reqId}, sent ${reqId}`);
    if (reply.txId !== txId) throw new Error(`${opName(type)}: reply has tx_id ${reply.txId}, sent ${txId}`);
    if (reply.type !== type && reply.type !== Op.ERROR) throw new Error(`${opName(type)}: reply of type ${opName(reply.type)}`);
    return { reply, events: frames.filter((f) => f.type === Op.WATCH_EVENT).map(parseEvent), frames };
  }

  /** Sends a request that must succeed; returns the reply payload. Events that came with it are kept for events(). */
  ok(type: number, body: Uint8Array, txId = 0): Buffer {
    const { reply, events } = this.call(type, body, txId);
    this.stash.push(...events);
    const err = errorName(reply);
    if (err !== undefined) throw new Error(`${opName(type)} ${JSON.stringify(body.toString())}: ${err}`);
    return reply.payload;
  }

  // Conveniences for the common requests.
  read(path: string, txId = 0): Buffer {
    return this.ok(Op.READ, payload(path), txId);
  }

  write(path: string, value: string | Uint8Array, txId = 0): void {
    this.ok(Op.WRITE, pathValue(path, value), txId);
  }

  directory(path: string, txId = 0): string[] {
    return decodeStrings(this.ok(Op.DIRECTORY, payload(path), txId));
  }

  startTransaction(): number {
    return Number(decodeStrings(this.ok(Op.TRANSACTION_START, payload('')))[0]);
  }

  /** TRANSACTION_END; returns 'OK' or the error name (e.g. 'EAGAIN'). Events are kept for events(). */
  endTransaction(txId: number, commit = true): string {
    const { reply, events } = this.call(Op.TRANSACTION_END, payload(commit ? 'T' : 'F'), txId);
    this.stash.push(...events);
    return errorName(reply) ?? 'OK';
  }
}

/** A daemon that logs only errors, and makes clients. */
export class Harness {
  readonly daemon: Daemon;

  constructor(opts: DaemonOptions = {}) {
    this.daemon = new Daemon({ logger: new Logger('error'), ...opts });
  }

  connect(domid = 0, privileged = true): Client {
    return new Client(this.daemon, domid, privileged);
  }
}

// ---- store dump ---------------------------------------------------------------

export interface DumpedNode {
  readonly value: Buffer;
  /** As GET_PERMS would list them, e.g. ['n0', 'r5']. */
  readonly perms: string[];
}

/** Every node of the daemon's live tree by absolute path ('/' for the root). */
export function dumpStore(daemon: Daemon): Map<string, DumpedNode> {
  const out = new Map<string, DumpedNode>();
  const stack: Array<[Node, string]> = [[daemon.store.root, '/']];
  while (stack.length > 0) {
    const [n, path] = stack.pop()!;
    out.set(path, { value: Buffer.from(n.value), perms: formatPerms(n.perms) });
    for (const c of childNodes(n.children)) stack.push([c, path === '/' ? `/${c.name}` : `${path}/${c.name}`]);
  }
  return out;
}
