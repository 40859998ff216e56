/**
 * GET_QUOTA / SET_QUOTA, as in Xen 4.20+: no argument lists the quota names;
 * <name> is the global value; <domid>|<name> one domain's value. SET takes
 * [<domid>|]<name>|<value>. Per-domain values are forgotten with the domain.
 */
import { XsError } from '../../protocol/errno.js';
import { encodeStrings, parseUint, strings } from '../../protocol/payload.js';
import { quotaName, QUOTA_NAMES, type QuotaName } from '../config.js';
import { OK, type Request } from '../request.js';

function requireQuota(s: string): QuotaName {
  const q = quotaName(s);
  if (q === undefined) throw new XsError('EINVAL', `unknown quota ${JSON.stringify(s)}`);
  return q;
}

function knownDomain(r: Request, s: string): number {
  const id = parseUint(s, 0xffff);
  if (!r.services.domains.isIntroduced(id)) throw new XsError('ENOENT', `domain ${id} is not introduced`);
  return id;
}

export function getQuota(r: Request): Uint8Array {
  const a = strings(r.frame.payload);
  if (a.length === 0) return encodeStrings([QUOTA_NAMES.join(' ')]);
  if (a.length === 1) return encodeStrings([String(r.services.settings[requireQuota(a[0]!)])]);
  if (a.length === 2) return encodeStrings([String(r.services.quota(knownDomain(r, a[0]!), requireQuota(a[1]!)))]);
  throw new XsError('EINVAL');
}

export function setQuota(r: Request): Uint8Array {
  const a = strings(r.frame.payload);
  if (a.length === 2) {
    r.services.settings[requireQuota(a[0]!)] = parseUint(a[1]!, 0xffff_ffff);
    return OK;
  }
  if (a.length === 3) {
    const id = knownDomain(r, a[0]!);
    r.services.domains.ensure(id).quotas.set(requireQuota(a[1]!), parseUint(a[2]!, 0xffff_ffff));
    return OK;
  }
  throw new XsError('EINVAL');
}
