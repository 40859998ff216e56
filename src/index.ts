/**
 * tsxenstored's public entry point: the daemon core and its Unix transport,
 * for embedding the daemon in another Node program or test, and the client.
 * The client alone, without loading the daemon: 'tsxenstored/client'.
 */
export { Daemon, type DaemonOptions, type Stats } from './server/daemon.js';
export { UnixTransport, DEFAULT_SOCKET } from './server/transport-unix.js';
export { SETTINGS, defaultSettings, type Settings, type QuotaName } from './server/config.js';
export { Logger } from './server/log.js';
export { Op, opName } from './protocol/op.js';
export { XsError, type Errno, ERRNO_NAMES } from './protocol/errno.js';
export { FrameDecoder, type Frame } from './protocol/decoder.js';
export { encodeFrame, FrameBatch } from './protocol/encoder.js';

// The client library (also alone, without the daemon: 'tsxenstored/client').
export { connect, DEFAULT_CONNECT_TIMEOUT_MS, type ConnectOptions, XenStoreClient, type ClientOptions, type ClientEvents, type WatchOptions } from './client/index.js';
export { DEFAULT_TRANSACTION_DEADLINE_MS, type TransactionOptions, type RequestOptions, Transaction } from './client/index.js';
export { XenStoreError, CLIENT_ERROR_CODES, isXenStoreErrorCode, type XenStoreErrorCode, WatchStream, type WatchEvent } from './client/index.js';
export { parsePermission, formatPermission, type Permission, type Access, type Value } from './client/index.js';
export { type ByteChannel, openSocket, defaultSocketPath } from './client/index.js';

// A client as a guest of the simulated Xen, over its shared-memory ring.
export { connectGuest, type GuestConnectOptions } from './sim/connect-guest.js';
