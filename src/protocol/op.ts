/**
 * XenStore message types (xs_wire.h `enum xsd_sockmsg_type`).
 * The numbers are ABI: never renumber.
 */
export const Op = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  /** Removed from Xen; always answered with ENOSYS. */
  RESTRICT: 20,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
} as const;

export type OpName = keyof typeof Op;
export type OpCode = (typeof Op)[OpName];

const names: string[] = [];
for (const [name, code] of Object.entries(Op)) names[code] = name;

/** Name of a message type for logs; unknown types print as their number. */
export function opName(type: number): string {
  return names[type] ?? `OP_${type}`;
}
