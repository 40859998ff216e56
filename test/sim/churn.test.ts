/**
 * Churn: a few hundred guest lifetimes against one daemon process. Each guest
 * (an in-process client over its simulated ring) writes, reads, runs a
 * transaction and a watch in its home, reads a dom0 node it was granted, and
 * is destroyed (RELEASE, or death through the VIRQ; politely or with a
 * transaction and watches left open), while new guests are created, often
 * reusing a freed domid. At the end nothing of the destroyed guests remains:
 * no nodes, no permissions, no introduction, no page files, no descriptors in
 * the daemon. Choices come from a seeded PRNG: rerun a failure with
 * TSXS_CHURN_SEED=<seed>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect, type XenStoreClient } from '../../src/client/client.js';
import { readDescriptor } from '../../src/sim/guest.js';
import { createGuest, destroyGuest } from '../../src/sim/toolstack.js';
import { useDaemon, waitFor } from '../helpers/daemon.js';
import { dom0, errCode, fdCount, pageFiles, simDirOf } from '../helpers/guests.js';
import { rng } from '../helpers/random.js';
import { connectGuest } from '../../src/sim/connect-guest.js';

const daemon = useDaemon();

const LIFETIMES = 300;
const CONCURRENCY = 12;
const DOMID_POOL = 90; // fewer ids than lifetimes: ids are reused, often
const SURVIVORS = 10; // the last lifetimes stay alive until the end

interface Options {
  readonly seed: number;
  readonly log: (s: string) => void;
}

async function churn({ seed, log }: Options): Promise<void> {
  const h = daemon();
  const sim = simDirOf(h);
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const d0 = await dom0(h);
  try {
    await d0.mkdir('/tool/churn');
    const baselineFds = fdCount(h.pid);
    log(`daemon pid ${h.pid}: ${baselineFds} open descriptors before the churn`);

    const busy = new Set<number>();
    const everUsed = new Set<number>();
    /** Per domid, the grants of its earlier generations (must be unreadable to later ones). */
    const oldGrants = new Map<number, string[]>();
    const survivors: Array<{ domid: number; client: XenStoreClient; gen: number }> = [];
    let created = 0;
    let peakFds = baselineFds;

    const chooseDomid = (): number => {
      const free: number[] = [];
      for (let d = 1; d <= DOMID_POOL; d++) if (!busy.has(d)) free.push(d);
      const reused = free.filter((d) => everUsed.has(d));
      const domid = reused.length > 0 && rand() < 0.6 ? pick(reused) : pick(free);
      busy.add(domid);
      return domid;
    };

    const lifetime = async (gen: number, domid: number, survive: boolean): Promise<void> => {
      const home = `/local/domain/${domid}`;
      // A dom0 node granted to this generation only.
      const grant = `/tool/churn/g${gen}`;
      await d0.write(grant, `gen ${gen}`);
      await d0.setPerms(grant, [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);

      await createGuest(d0, { domid, dir: sim, name: `churn-${gen}` });
      everUsed.add(domid);
      const c = await connectGuest(domid, { simDir: sim });
      let closed = false;
      try {
        assert.equal(await c.readString('name'), `churn-${gen}`);
        assert.equal(await c.readString(grant), `gen ${gen}`);
        for (const old of oldGrants.get(domid) ?? []) {
          assert.equal(await errCode(c.read(old)), 'EACCES', `generation ${gen} of domain ${domid} reads ${old} of an earlier one`);
        }
        // An earlier generation's data is gone.
        assert.deepEqual(await c.directory('data'), []);
        const n = 1 + Math.floor(rand() * 5);
        for (let i = 0; i < n; i++) await c.write(`data/k${i}`, `${gen}:${i}`);
        for (let i = 0; i < n; i++) assert.equal(await c.readString(`data/k${i}`), `${gen}:${i}`);
        assert.equal(await d0.readString(`${home}/data/k0`), `${gen}:0`);

        const watch = await c.watch('data/w');
        assert.equal((await watch.next()).value?.path, 'data/w');
        await (rand() < 0.5 ? d0.write(`${home}/data/w`, 'dom0') : c.write('data/w', 'self'));
        assert.equal((await watch.next()).value?.path, 'data/w');

        await c.transaction(async (tx) => {
          const k0 = await tx.readString('data/k0');
          await tx.write('data/tx', `${k0}+tx`);
        });
        assert.equal(await d0.readString(`${home}/data/tx`), `${gen}:0+tx`);

        if (survive) {
          survivors.push({ domid, client: c, gen });
          closed = true; // handed over
          return;
        }
        // Sometimes the guest leaves things open: a transaction with writes, extra watches.
        if (rand() < 0.5) {
          const tx = await c.startTransaction();
          await tx.write('data/uncommitted', 'x');
          await c.watch(home);
        } else {
          await watch.return();
        }
        if (rand() < 0.5) {
          c.close();
          closed = true;
        }
        peakFds = Math.max(peakFds, fdCount(h.pid));
        const gfn = readDescriptor(sim, domid).gfn;
        await destroyGuest(d0, { domid, dir: sim, release: rand() < 0.5 });
        assert.equal(await d0.isDomainIntroduced(domid), false);
        assert.equal(await d0.exists(home), false);
        assert.ok(!pageFiles(sim).includes(`page-${gfn}`), `page-${gfn} of domain ${domid} left behind`);
        assert.deepEqual(await d0.getPerms(grant), [{ domid: 0, access: 'none' }], `${grant} still names domain ${domid}`);
        const grants = oldGrants.get(domid) ?? [];
        grants.push(grant);
        oldGrants.set(domid, grants);
      } finally {
        if (!closed) c.close();
      }
    };

    const worker = async (): Promise<void> => {
      for (;;) {
        if (created >= LIFETIMES) return;
        const gen = created++;
        const domid = chooseDomid();
        const survive = gen >= LIFETIMES - SURVIVORS;
        try {
          await lifetime(gen, domid, survive);
        } catch (e) {
          throw new Error(`lifetime ${gen} (domain ${domid}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        }
        if (!survive) busy.delete(domid);
        if (gen === LIFETIMES / 2) assert.equal(await d0.control('check'), 'OK', 'halfway');
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
    log(`${LIFETIMES} lifetimes on ${everUsed.size} domids; at most ${peakFds} descriptors seen in the daemon`);

    // The survivors were not disturbed by the others' comings and goings.
    for (const s of survivors) {
      assert.equal(await s.client.readString('data/tx'), `${s.gen}:0+tx`);
      await s.client.write('data/late', 'still here');
      assert.equal(await d0.isDomainIntroduced(s.domid), true);
    }
    assert.equal(await d0.control('check'), 'OK');
    const listed = new Set(await d0.directory('/local/domain'));
    for (let d = 1; d <= DOMID_POOL; d++) {
      const alive = survivors.some((s) => s.domid === d);
      assert.equal(listed.has(String(d)), alive, `/local/domain/${d} ${alive ? 'missing' : 'left behind'}`);
      assert.equal(await d0.isDomainIntroduced(d), alive, `domain ${d} introduced: expected ${alive}`);
    }
    assert.equal(pageFiles(sim).length, survivors.length, `page files: ${pageFiles(sim).join(' ')}`);

    // Then the survivors go too, and the daemon is back where it started.
    for (const s of survivors) {
      s.client.close();
      await destroyGuest(d0, { domid: s.domid, dir: sim, release: rand() < 0.5 });
    }
    assert.equal(await d0.control('check'), 'OK');
    assert.deepEqual(await d0.directory('/local/domain'), []);
    for (const d of everUsed) assert.equal(await d0.isDomainIntroduced(d), false, `domain ${d} still introduced`);
    assert.deepEqual(pageFiles(sim), []);
    assert.deepEqual(readdirSync(sim).filter((f) => f.startsWith('domain-')), []);
    for (const g of await d0.directory('/tool/churn')) {
      assert.deepEqual(await d0.getPerms(`/tool/churn/${g}`), [{ domid: 0, access: 'none' }], `/tool/churn/${g} still names a domain`);
    }
    const mem = await d0.control('memreport');
    assert.match(mem, /^connections: 1$/m, mem);
    assert.match(mem, /^watches: 0$/m, mem);
    assert.match(mem, /^transactions: 0$/m, mem);
    const fds = await waitFor(
      () => {
        const n = fdCount(h.pid);
        return n <= baselineFds + 2 ? n : undefined;
      },
      { what: `the daemon's descriptors to return near the baseline ${baselineFds} (now ${fdCount(h.pid)})` },
    );
    log(`daemon descriptors after the churn: ${fds} (baseline ${baselineFds})`);
  } finally {
    d0.close();
  }
}

test(`churn: ${LIFETIMES} guest lifetimes, ids reused, nothing left behind`, { timeout: 180_000 }, async (t) => {
  const env = process.env.TSXS_CHURN_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed}`);
  try {
    await churn({ seed, log: (s) => t.diagnostic(s) });
  } catch (e) {
    const msg = `churn failed with seed ${seed} (rerun with TSXS_CHURN_SEED=${seed})`;
    console.error(msg);
    console.error(`daemon log (tail):\n${daemon().log().slice(-4000)}`);
    if (e instanceof Error) e.message = `${msg}: ${e.message}`;
    throw e;
  }
});
