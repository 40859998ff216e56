/**
 * How the client reaches a daemon: a byte channel. The Unix socket is one;
 * a guest's shared-memory ring is another.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { abortError, toErrorCode, XenStoreError } from './errors.js';

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

/**
 * One attempt to open the daemon's Unix socket. Rejects with a XenStoreError
 * whose code is the system's (ENOENT, ECONNREFUSED, EAGAIN, ...), ETIMEDOUT
 * after `timeoutMs`, or an AbortError.
 */
export function openSocket(path: string, timeoutMs = 10_000, signal?: AbortSignal): Promise<ByteChannel> {
  if (signal?.aborted === true) return Promise.reject(abortError('CONNECT', path, signal.reason));
  return new Promise((resolve, reject) => {
    const socket = netConnect(path);
    const fail = (e: XenStoreError): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(e);
    };
    const onAbort = (): void => fail(abortError('CONNECT', path, signal?.reason));
    const timer = setTimeout(() => fail(new XenStoreError('ETIMEDOUT', 'CONNECT', path, `no answer from the daemon within ${timeoutMs} ms`, { name: 'TimeoutError' })), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.setNoDelay(true);
      resolve(new SocketChannel(socket));
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'EUNKNOWN';
      fail(new XenStoreError(toErrorCode(code), 'CONNECT', path, `cannot reach xenstored at ${path}: ${e.message}`, { cause: e }));
    });
  });
}
