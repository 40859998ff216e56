/**
 * The client library alone (`import { connect } from 'tsxenstored/client'`):
 * the protocol codec and the client, with no module of the daemon loaded.
 */
export { connect, XenStoreClient, type ConnectOptions, type RetryOptions, type WatchOptions } from './client.js';
export { Transaction } from './transaction.js';
export { XenStoreError, type XenStoreErrorCode } from './errors.js';
export { WatchStream, type WatchEvent } from './watch-stream.js';
export { parsePermission, formatPermission, type Permission, type Access } from './perms.js';
export { type Value } from './operations.js';
export { type ByteChannel, openSocket, defaultSocketPath } from './channel.js';
export { Op, opName } from '../protocol/op.js';
