/**
 * What a toolstack does for a guest's XenStore connection, on the simulated
 * Xen: create the ring page and event channel, write the guest's home with
 * the permissions xl/libxl give it, and INTRODUCE it; and, at the end, signal
 * its death (or RELEASE it) and clean up.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { XenStoreClient } from '../client/client.js';
import { PAGE_SIZE } from '../ring/layout.js';
import { descriptorPath, evtchnPath, pagePath, type GuestDescriptor } from './layout.js';
import { mapShared } from './shm.js';

/** Sub-directories of a guest's home that the guest itself may write (as libxl sets them up). */
const GUEST_WRITABLE = ['data', 'device', 'control', 'error', 'drivers', 'attr', 'feature'];

let generation = 0;

export interface CreateGuestOptions {
  readonly domid: number;
  readonly dir: string;
  readonly name?: string;
  /** Destroy (RELEASE) an existing guest of that id first, instead of refusing. */
  readonly replace?: boolean;
}

/** The first domain id Xen reserves (DOMID_FIRST_RESERVED): guests are 1 up to it. */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/** A refusal of the simulated toolstack: the guest id is wrong for what was asked. */
export class ToolstackError extends Error {
  override readonly name = 'ToolstackError';
}

/**
 * Creates domain `domid`'s page, home and introduction. Returns its
 * descriptor. Refuses dom0 (its home is the host's) and a guest that exists
 * (the daemon has it introduced) unless `replace`.
 */
export async function createGuest(dom0: XenStoreClient, opts: CreateGuestOptions): Promise<GuestDescriptor> {
  const { domid, dir } = opts;
  if (!Number.isInteger(domid) || domid < 1 || domid >= DOMID_FIRST_RESERVED) {
    throw new ToolstackError(domid === 0 ? 'domain 0 is the control domain, not a guest: its home is never rewritten' : `domain ids of guests are 1 to ${DOMID_FIRST_RESERVED - 1}, not ${domid}`);
  }
  // A guest exists while the daemon has it introduced (a released one's leftover files do not count).
  if (await dom0.isDomainIntroduced(domid)) {
    if (opts.replace !== true) throw new ToolstackError(`domain ${domid} exists (destroy it first, or pass --replace)`);
    await destroyGuest(dom0, { domid, dir, release: true });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A fresh gfn per creation, so a reused domid never maps an old page.
  const gfn = BigInt(domid) * 1_000_000n + BigInt((Date.now() % 1_000_000) + generation++);
  const port = 1 + ((domid * 7 + generation) % 4000);
  const page = pagePath(dir, gfn);
  rmSync(page, { force: true });
  mapShared(page, PAGE_SIZE, true); // zero-filled: rings empty, CONNECTED, no error
  const desc: GuestDescriptor = { domid, gfn: gfn.toString(), port };
  writeFileSync(descriptorPath(dir, domid), JSON.stringify(desc) + '\n');

  const home = `/local/domain/${domid}`;
  await dom0.transaction(async (tx) => {
    await tx.mkdir('/local/domain');
    await tx.rm(home);
    await tx.mkdir(home);
    await tx.setPerms(home, [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);
    await tx.write(`${home}/name`, opts.name ?? `guest-${domid}`);
    await tx.write(`${home}/domid`, String(domid));
    for (const sub of GUEST_WRITABLE) {
      await tx.mkdir(`${home}/${sub}`);
      await tx.setPerms(`${home}/${sub}`, [{ domid, access: 'none' }]);
    }
  });
  await dom0.introduce(domid, gfn, port);
  return desc;
}

export interface DestroyGuestOptions {
  readonly domid: number;
  readonly dir: string;
  /** Send RELEASE instead of signalling the domain's death through the simulated VIRQ. */
  readonly release?: boolean;
}

/** Tells the daemon the domain is gone, removes its home, page and descriptor. */
export async function destroyGuest(dom0: XenStoreClient, opts: DestroyGuestOptions): Promise<void> {
  const { domid, dir } = opts;
  if (domid === 0) throw new ToolstackError('domain 0 is the control domain, not a guest');
  const introduced = await dom0.isDomainIntroduced(domid);
  if (!introduced && !existsSync(descriptorPath(dir, domid))) throw new ToolstackError(`no guest ${domid} here (not introduced, no descriptor in ${dir})`);
  // A guest no longer introduced (released already) has only its home and files left.
  if (introduced && opts.release === true) {
    await dom0.release(domid);
  } else if (introduced) {
    await signalDeath(dir, domid);
    // The daemon handles the VIRQ asynchronously: wait until it has.
    for (let i = 0; i < 2000 && (await dom0.isDomainIntroduced(domid)); i++) await new Promise((r) => setTimeout(r, 5));
  }
  await dom0.rm(`/local/domain/${domid}`);
  try {
    const desc = JSON.parse(readFileSync(descriptorPath(dir, domid), 'utf8')) as GuestDescriptor;
    rmSync(pagePath(dir, desc.gfn), { force: true });
  } catch {
    // no descriptor: nothing to remove
  }
  rmSync(descriptorPath(dir, domid), { force: true });
}

/** The simulated VIRQ_DOM_EXC: "this domain is dying". */
export function signalDeath(dir: string, domid: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect(evtchnPath(dir));
    s.once('error', reject);
    s.once('connect', () => s.end(`dying ${domid}\n`, () => resolve()));
  });
}
