/**
 * INTRODUCE, RELEASE, GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, RESUME,
 * SET_TARGET, GET_FEATURE, SET_FEATURE. Privilege is checked by the dispatch
 * table; argument rules follow the C xenstored.
 */
import { XsError } from '../../protocol/errno.js';
import { encodeStrings, parseUint, strings } from '../../protocol/payload.js';
import { domainHome } from '../../store/path.js';
import { DOMID_MAX } from '../../store/perms.js';
import { SUPPORTED_FEATURES } from '../domains.js';
import { OK, type Request } from '../request.js';

function args(r: Request, min: number, max: number, what: string): string[] {
  const a = strings(r.frame.payload);
  if (a.length < min || a.length > max) throw new XsError('EINVAL', what);
  return a;
}

function domid(s: string): number {
  return parseUint(s, 0xffff);
}

/** A real guest id: not dom0 and not one of the reserved DOMID_* values. */
function guestId(s: string): number {
  const d = domid(s);
  if (d === 0 || d > DOMID_MAX) throw new XsError('EINVAL', `${d} is not a guest domain id`);
  return d;
}

export function introduce(r: Request): Uint8Array {
  const [d, mfn, port] = args(r, 3, 4, 'INTRODUCE takes domid, mfn and port') as [string, string, string];
  if (!/^-?[0-9]{1,20}$/.test(mfn)) throw new XsError('EINVAL', 'bad mfn');
  const p = parseUint(port, 0xffff_ffff);
  if (p === 0) throw new XsError('EINVAL', 'event channel port 0');
  r.services.introduceDomain(guestId(d), BigInt(mfn), p);
  return OK;
}

export function release(r: Request): Uint8Array {
  const [d] = args(r, 1, 1, 'RELEASE takes a domid') as [string];
  const id = guestId(d);
  if (!r.services.domains.isIntroduced(id)) throw new XsError('ENOENT', `domain ${id} is not introduced`);
  r.services.releaseDomain(id);
  return OK;
}

export function getDomainPath(r: Request): Uint8Array {
  const [d] = args(r, 1, 1, 'GET_DOMAIN_PATH takes a domid') as [string];
  return encodeStrings([domainHome(domid(d))]);
}

const T = Buffer.from('T\0', 'latin1');
const F = Buffer.from('F\0', 'latin1');

export function isDomainIntroduced(r: Request): Uint8Array {
  const [d] = args(r, 1, 1, 'IS_DOMAIN_INTRODUCED takes a domid') as [string];
  return r.services.domains.isIntroduced(domid(d)) ? T : F;
}

export function resume(r: Request): Uint8Array {
  const [d] = args(r, 1, 1, 'RESUME takes a domid') as [string];
  const dom = r.services.domains.get(guestId(d));
  if (dom === undefined || !dom.introduced) throw new XsError('ENOENT');
  dom.shutdown = false;
  return OK;
}

export function setTarget(r: Request): Uint8Array {
  const [d, t] = args(r, 2, 2, 'SET_TARGET takes domid and target') as [string, string];
  const id = guestId(d);
  const target = domid(t);
  if (!r.services.domains.isIntroduced(id)) throw new XsError('ENOENT', `domain ${id} is not introduced`);
  if (target === id) throw new XsError('EINVAL', 'a domain cannot target itself');
  r.services.setTarget(id, target);
  return OK;
}

export function getFeature(r: Request): Uint8Array {
  const a = strings(r.frame.payload);
  if (a.length > 1) throw new XsError('EINVAL');
  if (a.length === 0 || a[0] === '') return encodeStrings([String(SUPPORTED_FEATURES)]);
  const dom = r.services.domains.get(domid(a[0]!));
  if (dom === undefined || !dom.introduced) throw new XsError('ENOENT');
  return encodeStrings([String(dom.features)]);
}

export function setFeature(r: Request): Uint8Array {
  const [d, v] = args(r, 2, 2, 'SET_FEATURE takes domid and a feature mask') as [string, string];
  const mask = parseUint(v, 0xffff_ffff);
  if ((mask & ~SUPPORTED_FEATURES) !== 0) throw new XsError('EINVAL', 'unsupported feature bits');
  const dom = r.services.domains.get(guestId(d));
  if (dom === undefined || !dom.introduced) throw new XsError('ENOENT');
  dom.features = mask;
  return OK;
}
