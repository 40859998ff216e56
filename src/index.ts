/**
 * tsxenstored's public entry point: the daemon core and its Unix transport,
 * for embedding the daemon in another Node program or test.
 */
export { Daemon, type DaemonOptions, type Stats } from './server/daemon.js';
export { UnixTransport, DEFAULT_SOCKET } from './server/transport-unix.js';
export { SETTINGS, defaultSettings, type Settings, type QuotaName } from './server/config.js';
export { Logger } from './server/log.js';
export { Op, opName } from './protocol/op.js';
export { XsError, type Errno, ERRNO_NAMES } from './protocol/errno.js';
export { FrameDecoder, type Frame } from './protocol/decoder.js';
export { encodeFrame, FrameBatch } from './protocol/encoder.js';

// Client library.
export { connect, XenStoreClient, type ConnectOptions, type RetryOptions, type WatchOptions } from './client/client.js';
export { Transaction } from './client/transaction.js';
export { XenStoreError, type XenStoreErrorCode } from './client/errors.js';
export { WatchStream, type WatchEvent } from './client/watch-stream.js';
export { parsePermission, formatPermission, type Permission, type Access } from './client/perms.js';
export { type Value } from './client/operations.js';
export { type ByteChannel, openSocket, defaultSocketPath } from './client/channel.js';
