/**
 * How the client reaches a daemon: a byte channel. The Unix socket is one;
 * a guest's shared-memory ring is another.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { XenStoreError } from './errors.js';

export interface ByteChannel {
  write(buf: Buffer): void;
  /** Registers the receiver of incoming bytes and of the end of the channel. */
  start(onData: (chunk: Buffer) => void, onClose: (err?: Error) => void): void;
  close(): void;
}

export const DEFAULT_SOCKET = '/var/run/xenstored/socket';

/** The socket path: explicit, else $XENSTORED_PATH, else Xen's default. */
export function defaultSocketPath(): string {
  return process.env.XENSTORED_PATH ?? DEFAULT_SOCKET;
}

class SocketChannel implements ByteChannel {
  constructor(private readonly socket: Socket) {}
  write(buf: Buffer): void {
    this.socket.write(buf);
  }
  start(onData: (chunk: Buffer) => void, onClose: (err?: Error) => void): void {
    let error: Error | undefined;
    this.socket.on('data', onData);
    this.socket.on('error', (e) => {
      error = e;
    });
    this.socket.on('close', () => onClose(error));
  }
  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

export function openSocket(path: string, timeoutMs = 10_000): Promise<ByteChannel> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new XenStoreError('ETIMEDOUT', 'CONNECT', path, 'no answer from the daemon'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(new SocketChannel(socket));
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new XenStoreError(e.code ?? 'ECONNREFUSED', 'CONNECT', path, `cannot reach xenstored at ${path}: ${e.message}`));
    });
  });
}
