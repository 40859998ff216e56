/**
 * READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART, GET_PERMS, SET_PERMS:
 * payload parsing here, the semantics in store/ops.ts. Special '@' paths carry
 * only permissions (who may watch them), kept by the daemon.
 */
import { XsError } from '../../protocol/errno.js';
import { oneString, parseUint, pathAndValue, strings } from '../../protocol/payload.js';
import * as ops from '../../store/ops.js';
import { checkSpecial, isSpecial, resolvePath, type NodePath } from '../../store/path.js';
import { encodePerms, parsePerms } from '../../store/perms.js';
import { EMPTY_VALUE } from '../../store/node.js';
import { OK, type Request } from '../request.js';

function path(r: Request, raw: string): NodePath {
  return resolvePath(raw, r.conn.caller.domid);
}

export function read(r: Request): Uint8Array {
  return ops.read(r.ctx, path(r, oneString(r.frame.payload)));
}

export function write(r: Request): Uint8Array {
  const { path: raw, value } = pathAndValue(r.frame.payload);
  // The payload is a view into received bytes: the store keeps its own copy.
  ops.write(r.ctx, path(r, raw), value.length === 0 ? EMPTY_VALUE : Buffer.from(value));
  return OK;
}

export function mkdir(r: Request): Uint8Array {
  ops.mkdir(r.ctx, path(r, oneString(r.frame.payload)));
  return OK;
}

export function rm(r: Request): Uint8Array {
  ops.rm(r.ctx, path(r, oneString(r.frame.payload)));
  return OK;
}

export function directory(r: Request): Uint8Array {
  return ops.directory(r.ctx, path(r, oneString(r.frame.payload)));
}

export function directoryPart(r: Request): Uint8Array {
  const args = strings(r.frame.payload);
  if (args.length !== 2) throw new XsError('EINVAL', 'DIRECTORY_PART takes a path and an offset');
  return ops.directoryPart(r.ctx, path(r, args[0]!), parseUint(args[1]!, 0xffff_ffff));
}

export function getPerms(r: Request): Uint8Array {
  const raw = oneString(r.frame.payload);
  if (isSpecial(raw)) return encodePerms(r.services.specialPermsOf(checkSpecial(raw)));
  return encodePerms(ops.getPerms(r.ctx, path(r, raw)));
}

export function setPerms(r: Request): Uint8Array {
  const args = strings(r.frame.payload);
  if (args.length < 2) throw new XsError('EINVAL', 'SET_PERMS needs a path and permissions');
  const perms = parsePerms(args.slice(1));
  const raw = args[0]!;
  if (isSpecial(raw)) {
    if (!r.conn.caller.privileged) throw new XsError('EACCES');
    r.services.setSpecialPerms(checkSpecial(raw), perms);
    return OK;
  }
  ops.setPerms(r.ctx, path(r, raw), perms);
  return OK;
}
