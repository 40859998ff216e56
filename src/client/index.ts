/**
 * The client library alone (`import { connect } from 'tsxenstored/client'`,
 * or `require('tsxenstored/client')`): the protocol codec and the client,
 * with no module of the daemon loaded.
 */
export { connect, XenStoreClient, type ConnectOptions, type ClientOptions, type ClientEvents, type WatchOptions } from './client.js';
export { DEFAULT_CONNECT_TIMEOUT_MS } from './connect.js';
export { DEFAULT_TRANSACTION_DEADLINE_MS, type TransactionOptions } from './retry.js';
export { type RequestOptions } from './requests.js';
export { Transaction } from './transaction.js';
export { XenStoreError, CLIENT_ERROR_CODES, isXenStoreErrorCode, type XenStoreErrorCode, type XenStoreErrorOptions } from './errors.js';
export { WatchStream, type WatchEvent } from './watch-stream.js';
export { parsePermission, formatPermission, type Permission, type Access } from './perms.js';
export { Operations, type Value } from './operations.js';
export { type ByteChannel, openSocket, defaultSocketPath, DEFAULT_SOCKET } from './channel.js';
export { DOMID_MAX } from './validate.js';
export { Op, opName, type OpName, type OpCode } from '../protocol/op.js';
export { ERRNO_NAMES, type Errno } from '../protocol/errno.js';
