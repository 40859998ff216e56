/**
 * A toolstack-style transaction: add a network device to a VM the way libxl
 * does, its frontend and backend directories, their permissions and initial
 * states all written in one transaction, so the guest and the backend see
 * all of it or nothing. The transaction retries on conflict (EAGAIN) until
 * its deadline; the body may run several times, so it only touches XenStore.
 * Then it waits for the backend to report Connected (state 4) or gives up
 * after 30 s.
 *
 *   node dist/examples/toolstack-transaction.js 5 00:16:3e:00:00:05
 */
import { connect, XenStoreError } from 'tsxenstored/client';

const domid = Number(process.argv[2] ?? '5');
const mac = process.argv[3] ?? '00:16:3e:00:00:01';
const devid = 0;

await using xs = await connect();
const frontend = `${await xs.getDomainPath(domid)}/device/vif/${devid}`;
const backend = `/local/domain/0/backend/vif/${domid}/${devid}`;

await xs.transaction(
  async (tx) => {
    if (await tx.exists(frontend)) throw new XenStoreError('EEXIST', 'ADD_VIF', frontend, 'the device exists');
    await tx.write(`${frontend}/backend`, backend);
    await tx.write(`${frontend}/backend-id`, '0');
    await tx.write(`${frontend}/mac`, mac);
    await tx.write(`${frontend}/state`, '1');
    // The guest owns its frontend; dom0 may read it.
    await tx.setPerms(frontend, [{ domid, access: 'none' }, { domid: 0, access: 'read' }]);
    await tx.write(`${backend}/frontend`, frontend);
    await tx.write(`${backend}/frontend-id`, String(domid));
    await tx.write(`${backend}/mac`, mac);
    await tx.write(`${backend}/online`, '1');
    await tx.write(`${backend}/state`, '1');
    // Dom0 owns the backend; the guest may read it.
    await tx.setPerms(backend, [{ domid: 0, access: 'none' }, { domid, access: 'read' }]);
  },
  { deadlineMs: 10_000 },
);
console.log(`vif ${devid} added to domain ${domid}; waiting for the backend`);

await using state = await xs.watch(`${backend}/state`, { signal: AbortSignal.timeout(30_000) });
try {
  for await (const ev of state) {
    if ((await xs.readString(ev.path).catch(() => '')) === '4') {
      console.log('backend connected');
      break;
    }
  }
} catch (e) {
  if (e instanceof XenStoreError && e.name === 'TimeoutError') console.log('no backend connected within 30 s (is one running?)');
  else throw e;
}
