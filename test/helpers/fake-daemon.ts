/**
 * A fake daemon for client tests: a real Unix socket in a private temp
 * directory whose every received frame is handed to the test, which answers
 * (or not, or with garbage) as it likes. Requests arrive on a queue, so a
 * test awaits the next one instead of sleeping.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, XenStoreError, type XenStoreClient } from '../../src/client/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';

export interface FakeRequest {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  /** The payload's NUL-separated strings (the trailing empty one dropped). */
  readonly args: readonly string[];
  readonly conn: FakeConnection;
}

export interface FakeConnection {
  readonly socket: Socket;
  /** Sends a frame as is. */
  send(type: number, reqId: number, txId: number, payload: string | Buffer): void;
  /** Answers a request with its own type and `payload` (a string gets its NUL). */
  reply(req: FakeRequest, payload?: string): void;
  /** Answers with an ERROR frame carrying `errno`. */
  error(req: FakeRequest, errno: string): void;
}

export interface FakeDaemon {
  readonly path: string;
  /** The next request received (on any connection), in arrival order. */
  next(): Promise<FakeRequest>;
  /** Connections accepted so far. */
  readonly connections: readonly FakeConnection[];
  /** Stops listening, destroys every connection, removes the directory. */
  stop(): Promise<void>;
}

function strings(b: Buffer): string[] {
  const parts = b.toString('utf8').split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function fakeConnection(socket: Socket): FakeConnection {
  const conn: FakeConnection = {
    socket,
    send: (type, reqId, txId, payload) => {
      socket.write(encodeFrame(type, reqId, txId, typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload));
    },
    reply: (req, payload = 'OK') => conn.send(req.type, req.reqId, req.txId, `${payload}\0`),
    error: (req, errno) => conn.send(Op.ERROR, req.reqId, req.txId, `${errno}\0`),
  };
  return conn;
}

/** Starts a fake daemon listening on a fresh socket. */
export async function startFakeDaemon(): Promise<FakeDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'tsxs-fake-'));
  const path = join(dir, 'socket');
  const queue: FakeRequest[] = [];
  const waiters: Array<(r: FakeRequest) => void> = [];
  const connections: FakeConnection[] = [];
  const deliver = (r: FakeRequest): void => {
    const w = waiters.shift();
    if (w !== undefined) w(r);
    else queue.push(r);
  };
  const server: Server = createServer((socket) => {
    const conn = fakeConnection(socket);
    connections.push(conn);
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      decoder.feed(chunk);
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        deliver({ type: f.type, reqId: f.reqId, txId: f.txId, args: strings(Buffer.from(f.payload)), conn });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    connections,
    next: () => {
      const r = queue.shift();
      return r !== undefined ? Promise.resolve(r) : new Promise((resolve) => waiters.push(resolve));
    },
    async stop() {
      for (const c of connections) c.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** For assert.rejects: a XenStoreError with this code (and this name, if given). */
export function xsCode(code: string, name?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof XenStoreError, `expected a XenStoreError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (name !== undefined) assert.equal(e.name, name, e.message);
    return true;
  };
}

/** A fake daemon and a client connected to it. */
export interface FakePair {
  readonly fake: FakeDaemon;
  readonly client: XenStoreClient;
  /** Closes the client and stops the fake. */
  stop(): Promise<void>;
}

/** Starts a fake daemon and connects a client to it. */
export async function fakePair(): Promise<FakePair> {
  const fake = await startFakeDaemon();
  const client = await connect({ path: fake.path });
  return {
    fake,
    client,
    async stop() {
      client.close();
      await fake.stop();
    },
  };
}
