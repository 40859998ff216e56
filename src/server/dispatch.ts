/**
 * The one dispatch table: message type -> handler, who may send it, and how
 * it relates to transactions. Checked exhaustively against the Op list.
 *  - `tx: 'data'`: runs inside the transaction named by tx_id (and is
 *    recorded for replay);
 *  - `tx: 'end'`: needs the transaction named by tx_id;
 *  - `tx: 'ignore'`: tx_id is ignored (WATCH/UNWATCH per the spec);
 *  - `tx: 'none'`: a non-zero tx_id must name a live transaction, else ENOENT,
 *    but the operation itself is not transactional.
 */
import { Op, type OpName } from '../protocol/op.js';
import { control } from './handlers/control.js';
import * as data from './handlers/data.js';
import * as domain from './handlers/domain.js';
import * as quota from './handlers/quota.js';
import * as txn from './handlers/transaction.js';
import * as watch from './handlers/watch.js';
import type { Handler } from './request.js';

export interface OpSpec {
  readonly handler: Handler;
  /** Only privileged callers (dom0) may send it. */
  readonly priv: boolean;
  readonly tx: 'data' | 'end' | 'ignore' | 'none';
}

const spec = (handler: Handler, tx: OpSpec['tx'] = 'none', priv = false): OpSpec => ({ handler, priv, tx });

/** `undefined`: not a request a client may send (answered ENOSYS). */
const TABLE = {
  CONTROL: spec(control, 'none', true),
  DIRECTORY: spec(data.directory, 'data'),
  READ: spec(data.read, 'data'),
  GET_PERMS: spec(data.getPerms, 'data'),
  WATCH: spec(watch.watch, 'ignore'),
  UNWATCH: spec(watch.unwatch, 'ignore'),
  TRANSACTION_START: spec(txn.start, 'ignore'),
  TRANSACTION_END: spec(txn.end, 'end'),
  INTRODUCE: spec(domain.introduce, 'none', true),
  RELEASE: spec(domain.release, 'none', true),
  GET_DOMAIN_PATH: spec(domain.getDomainPath),
  WRITE: spec(data.write, 'data'),
  MKDIR: spec(data.mkdir, 'data'),
  RM: spec(data.rm, 'data'),
  SET_PERMS: spec(data.setPerms, 'data'),
  WATCH_EVENT: undefined,
  ERROR: undefined,
  IS_DOMAIN_INTRODUCED: spec(domain.isDomainIntroduced, 'none', true),
  RESUME: spec(domain.resume, 'none', true),
  SET_TARGET: spec(domain.setTarget, 'none', true),
  RESTRICT: undefined,
  RESET_WATCHES: spec(watch.resetWatches),
  DIRECTORY_PART: spec(data.directoryPart, 'data'),
  GET_FEATURE: spec(domain.getFeature, 'none', true),
  SET_FEATURE: spec(domain.setFeature, 'none', true),
  GET_QUOTA: spec(quota.getQuota, 'none', true),
  SET_QUOTA: spec(quota.setQuota, 'none', true),
} satisfies Record<OpName, OpSpec | undefined>;

const byCode: Array<OpSpec | undefined> = [];
for (const [name, s] of Object.entries(TABLE)) byCode[Op[name as OpName]] = s;

export function lookupOp(type: number): OpSpec | undefined {
  return type < byCode.length ? byCode[type] : undefined;
}
