/**
 * The shared page of a domain (xs_wire.h struct xenstore_domain_interface):
 * two 1024-byte rings, then u32 fields. Offsets are in bytes; the u32 fields
 * are also given as Int32Array indices for Atomics.
 */
import { RING_SIZE } from '../protocol/limits.js';

export const PAGE_SIZE = 4096;
export const REQ_OFFSET = 0;
export const RSP_OFFSET = RING_SIZE;

/** Int32 indices of the control fields. */
export const REQ_CONS = 512; // byte 2048
export const REQ_PROD = 513;
export const RSP_CONS = 514;
export const RSP_PROD = 515;
export const SERVER_FEATURES = 516;
export const CONNECTION = 517;
export const ERROR = 518;

/** server_features bits. */
export const FEATURE_RECONNECTION = 1;
export const FEATURE_ERROR = 2;
export const FEATURE_WATCHDEPTH = 4;

/** connection field values. */
export const CONNECTED = 0;
export const RECONNECT = 1;

/** error field values. */
export const ERROR_NONE = 0;
export const ERROR_COMM = 1;
export const ERROR_RINGIDX = 2;
export const ERROR_PROTO = 3;
