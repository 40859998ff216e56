/**
 * Shared pieces of the XSA regression suite (test/xsa/*.test.ts).
 *
 *  - RingGuest: the test itself as a (malicious) guest on domain N's simulated
 *    shared ring (test/helpers/guests.ts's RawRing): it writes request frames
 *    into the request ring, reads the response ring only when told to
 *    (autoRead), and can reset the connection.
 *  - guestClient(): a well-behaved guest (the real client over the ring).
 *  - rssKiB(): a process's resident set from /proc/<pid>/status (VmRSS).
 *  - assertHealthy(): the daemon runs, answers dom0, and CONTROL check says OK.
 *  - useXsaSuite(): a file's daemon, its dom0 client, an optional bystander
 *    guest, and guests opened on demand, all closed after the file.
 *
 * Nothing here measures elapsed time as an assertion: every deadline only
 * bounds how long we poll for something that should eventually hold.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect, type XenStoreClient } from '../../src/client/client.js';
import { XenStoreError } from '../../src/client/errors.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { createGuest } from '../../src/sim/toolstack.js';
import { useDaemon, waitFor, type DaemonHandle, type DaemonRef } from '../helpers/daemon.js';
import { RawRing as RingGuest, z, type RingFrame } from '../helpers/guests.js';
import { connectGuest } from '../../src/sim/connect-guest.js';

export { RingGuest, z, type RingFrame };

export { waitFor };

/** The simulated Xen's directory of a daemon started by startDaemon()/useDaemon(). */
export function simDir(h: DaemonHandle): string {
  return join(h.dir, 'sim');
}

/** A dom0 client on the daemon's socket. */
export function dom0(h: DaemonHandle): Promise<XenStoreClient> {
  return connect({ path: h.socket });
}

/** Creates domain `domid` (home, ring page, INTRODUCE) the way libxl does. */
export async function makeGuest(d0: XenStoreClient, h: DaemonHandle, domid: number): Promise<void> {
  await createGuest(d0, { domid, dir: simDir(h) });
}

/** A well-behaved guest: the real client over domain `domid`'s ring. */
export function guestClient(h: DaemonHandle, domid: number): Promise<XenStoreClient> {
  return connectGuest(domid, { simDir: simDir(h) });
}

export interface XsaSuite {
  readonly daemon: DaemonRef;
  /** dom0's client, once connected. */
  ready(): Promise<XenStoreClient>;
  /** The bystander guest writes a fresh key and reads it back: it is still served. */
  bystanderServed(): Promise<void>;
  /** Creates domain `domid` and connects a well-behaved client over its ring. */
  guest(domid: number): Promise<XenStoreClient>;
  /** Creates domain `domid` and opens its ring as a RingGuest. */
  ring(domid: number): Promise<RingGuest>;
}

/**
 * Registers a file's daemon (useDaemon), its dom0 client and, with
 * `bystander`, a well-behaved guest of that domid that must not notice the
 * attacks; everything opened through guest()/ring() is closed after the file.
 */
export function useXsaSuite(opts: { bystander?: number } = {}): XsaSuite {
  const daemon = useDaemon();
  const clients: XenStoreClient[] = [];
  const rings: RingGuest[] = [];
  let served = 0;
  const connected = (async () => {
    const h = await daemon.ready();
    const d0 = await dom0(h);
    if (opts.bystander === undefined) return { d0, bystander: undefined };
    await makeGuest(d0, h, opts.bystander);
    return { d0, bystander: await guestClient(h, opts.bystander) };
  })();
  connected.catch(() => undefined); // reported by the before() hook
  before(() => connected.then(() => undefined));
  after(async () => {
    for (const c of clients) c.close();
    for (const r of rings) r.close();
    const c = await connected.catch(() => undefined);
    c?.bystander?.close();
    c?.d0.close();
  });
  return {
    daemon,
    ready: async () => (await connected).d0,
    async bystanderServed() {
      const { bystander } = await connected;
      if (bystander === undefined) throw new Error('useXsaSuite() was not given a bystander');
      const key = `data/served${served++}`;
      await bystander.write(key, key);
      assert.equal(await bystander.readString(key), key);
    },
    async guest(domid) {
      const { d0 } = await connected;
      await makeGuest(d0, daemon(), domid);
      const g = await guestClient(daemon(), domid);
      clients.push(g);
      return g;
    },
    async ring(domid) {
      const { d0 } = await connected;
      await makeGuest(d0, daemon(), domid);
      const r = await RingGuest.open(simDir(daemon()), domid);
      rings.push(r);
      return r;
    },
  };
}

/** The error code `p` rejects with (XenStoreError); fails if it succeeds. */
export async function errCode(p: Promise<unknown>): Promise<string> {
  try {
    const v = await p;
    assert.fail(`expected an error, got success (${JSON.stringify(v)})`);
  } catch (e) {
    if (e instanceof XenStoreError) return e.code;
    throw e;
  }
}

/** Resident set size of process `pid` in KiB (Linux /proc/<pid>/status, VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/**
 * The generous memory bound every memory test asserts: the daemon's RSS stays
 * under 512 MiB. An idle daemon uses about 60-90 MiB; the attacks here would
 * need gigabytes if the daemon buffered what they ask it to, so a bound this
 * loose is still a sharp test, and no honest run on a busy machine comes near.
 */
export const RSS_BOUND_KIB = 512 * 1024;

/** Polls the daemon's RSS while `work` runs; returns the peak seen (KiB) and work's value. */
export async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ peak: number; value: T }> {
  let peak = rssKiB(pid);
  let done = false;
  const sampler = (async () => {
    while (!done) {
      try {
        peak = Math.max(peak, rssKiB(pid));
      } catch {
        return; // the process is gone: the caller's own assertions say so
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    const value = await work();
    return { peak: Math.max(peak, rssKiB(pid)), value };
  } finally {
    done = true;
    await sampler;
  }
}

/** The daemon process runs, dom0 is answered, and the store is consistent. */
export async function assertHealthy(h: DaemonHandle, d0: XenStoreClient, tag = 'health'): Promise<void> {
  assert.equal(h.running(), true, `the daemon died:\n${h.log().slice(-4000)}`);
  await d0.write(`/tool/xsa-health/${tag}`, tag);
  assert.equal(await d0.readString(`/tool/xsa-health/${tag}`), tag);
  assert.equal(await d0.control('check'), 'OK');
}

// ---- a guest on the raw ring -------------------------------------------------

/** A decoded frame from the response ring (payload copied). */
/** WRITE's payload: path NUL value. */
export function pv(path: string, value: string | Buffer): Buffer {
  return Buffer.concat([z(path), typeof value === 'string' ? Buffer.from(value, 'latin1') : value]);
}

/** A reply's text without its trailing NUL ("ENOENT" for an ERROR reply). */
export function text(f: RingFrame): string {
  const s = f.payload.toString('latin1');
  return s.endsWith('\0') ? s.slice(0, -1) : s;
}

/** "OK", a reply's text, or "ERROR <errno>": short, for assertions. */
export function outcome(f: RingFrame): string {
  return f.type === Op.ERROR ? `ERROR ${text(f)}` : text(f);
}


/** One request on a fresh dom0 socket connection; resolves with the reply frame. */
export function socketRequest(socketPath: string, type: number, payload: Buffer, txId = 0): Promise<RingFrame> {
  return new Promise((resolve, reject) => {
    const s = netConnect(socketPath);
    const decoder = new FrameDecoder();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no reply on the socket'));
    }, 60_000);
    s.once('error', reject);
    s.once('connect', () => s.write(encodeFrame(type, 1, txId, payload)));
    s.on('data', (d: Buffer) => {
      decoder.feed(d);
      const f = decoder.next();
      if (f === undefined) return;
      clearTimeout(timer);
      s.destroy();
      resolve({ type: f.type, reqId: f.reqId, txId: f.txId, payload: Buffer.from(f.payload) });
    });
  });
}

/** A count from CONTROL quota <domid> ("nodes           :        N", the C daemon's layout); negative counts parse too. */
export function quotaCount(report: string, name: string): number {
  const m = new RegExp(`^${name} *: *(-?\\d+)$`, 'm').exec(report);
  if (m === null) throw new Error(`no ${name} in ${JSON.stringify(report)}`);
  return Number(m[1]);
}

/** Unwraps a value that a test knows is there. */
export function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`missing: ${what}`);
  return v;
}
