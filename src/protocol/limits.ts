/**
 * Fixed limits of the wire protocol (xs_wire.h). These are protocol facts,
 * not tunables: tunable limits and quotas live in server/config.ts.
 */
export const HEADER_SIZE = 16;
/** Longest payload in either direction; a longer request kills the connection. */
export const PAYLOAD_MAX = 4096;
/** Longest absolute path accepted. */
export const ABS_PATH_MAX = 3072;
/** Longest relative path a client should send. */
export const REL_PATH_MAX = 2048;
/** Size of each of the request and response rings of a domain's page. */
export const RING_SIZE = 1024;
/** Largest value of a u32 header field. */
export const U32_MAX = 0xffff_ffff;
