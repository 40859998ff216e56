/**
 * guests: N simulated guests (created by dom0 with the toolstack helpers),
 * each driven over its own ring from worker threads, looping reads, writes,
 * a small transaction and a watched write in its home, while the control
 * domain runs VM-start transactions over the socket. Reports the guests'
 * throughput and dom0's transaction latency as N grows. Needs the simulated
 * Xen's directory: self-started tsxenstored, or --sim-dir.
 */
import type { XenStoreClient } from '../../../src/client/client.js';
import { createGuest, destroyGuest } from '../../../src/sim/toolstack.js';
import { BenchEnv, fmtRate, range, shards, type Scenario } from '../env.js';
import type { GuestJob, Job } from '../jobs.js';
import { DOM0_VMSTART_DOMID_BASE, GUEST_DOMID_BASE } from '../keys.js';
import { makeRow, type Row } from '../result.js';
import { txnJobs, txnRow, writeSharedKeys } from './transactions.js';

async function createMany(dom0: XenStoreClient, dir: string, domids: readonly number[]): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < domids.length) {
      const domid = domids[next++]!;
      await createGuest(dom0, { domid, dir, name: `bench-guest-${domid}` });
    }
  };
  await Promise.all(range(0, 8).map(one));
}

export const guests: Scenario = {
  name: 'guests',
  steps: (env) => (env.external && env.opts.simDir === undefined ? 0 : env.sizes.guestsN.length),
  run: (env: BenchEnv) =>
    env.withDaemon(env.plainMode(), async (t) => {
      const simDir = t.simDir;
      if (simDir === undefined) {
        env.progress.note('guests: skipped (no simulated Xen: give --sim-dir, or let the bench start tsxenstored)');
        return [];
      }
      const dom0 = await env.client(t);
      await writeSharedKeys(dom0);
      const rows: Row[] = [];
      let created = 0;
      try {
        for (const n of env.sizes.guestsN) {
          if (n > created) {
            env.progress.note(`guests: creating guests ${created + 1}..${n}`);
            await createMany(dom0, simDir, range(GUEST_DOMID_BASE + created, n - created));
            created = n;
          }
          const guestJobs: GuestJob[] = shards(n, env.opts.workers).map(({ base, count }) => ({ kind: 'guests', simDir, domids: range(GUEST_DOMID_BASE + base, count) }));
          const dom0Jobs = txnJobs(t.socket, 'vmstart', range(DOM0_VMSTART_DOMID_BASE, env.sizes.dom0Clients), 1, env.opts.txnPipeline);
          const jobs: Job[] = [...guestJobs, ...dom0Jobs];
          const r = await env.measure(`guests N=${n}`, t, jobs);
          const c = r.counters;
          const guestRow = makeRow(r, {
            scenario: 'guests',
            variant: 'guest-ops',
            mode: t.mode,
            n,
            nName: 'guests',
            unit: 'ops/s',
            count: c.ops ?? 0,
            latency: r.hists.guestOp,
            extra: { guestTxnPerS: (c.txns ?? 0) / r.windowS, guestEventsPerS: (c.events ?? 0) / r.windowS, guestEagain: c.eagain ?? 0 },
          });
          const dom0Row = txnRow(r, 'guests', 'dom0-vmstart', t.mode, n, 'guests', { dom0Clients: env.sizes.dom0Clients });
          env.progress.end(`guests ${fmtRate(guestRow.throughput, 'ops/s')}, dom0 ${fmtRate(dom0Row.throughput, 'txn/s')} p99 ${((dom0Row.latencyUs?.p99 ?? Number.NaN) / 1000).toFixed(2)} ms`);
          rows.push(guestRow, dom0Row);
        }
      } finally {
        // Our own daemon goes away with its sim dir; someone else's gets its domains back.
        if (env.external) for (const domid of range(GUEST_DOMID_BASE, created)) await destroyGuest(dom0, { domid, dir: simDir, release: true }).catch(() => undefined);
        dom0.close();
      }
      return rows;
    }),
};
