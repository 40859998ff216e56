/**
 * A guest agent over the simulated ring: what a VM's agent (xe-guest-utilities,
 * qemu-guest-agent's XenStore side) does from inside the guest. It talks
 * to xenstored as guest <domid> over that guest's shared-memory ring and
 * event channel, not the socket: relative paths resolve under its
 * /local/domain/<domid>, and permissions bind it like any guest. It
 * publishes what it knows about the guest and waits for the toolstack's
 * shutdown request in control/shutdown.
 *
 *   tsxenstored --socket /tmp/xs.sock --sim-dir /tmp/xs-sim &
 *   XENSTORED_PATH=/tmp/xs.sock TSXENSTORED_SIM_DIR=/tmp/xs-sim tsxenstore sim create-guest 5
 *   node dist/examples/guest-agent.js 5 /tmp/xs-sim
 *   XENSTORED_PATH=/tmp/xs.sock tsxenstore write /local/domain/5/control/shutdown poweroff
 */
import { connectGuest } from 'tsxenstored';
import { XenStoreError } from 'tsxenstored/client';
import { hostname, release } from 'node:os';

const domid = Number(process.argv[2] ?? '5');
const simDir = process.argv[3];

await using xs = await connectGuest(domid, simDir === undefined ? {} : { simDir });
await xs.transaction(async (tx) => {
  await tx.write('data/hostname', hostname());
  await tx.write('attr/os/release', release());
  await tx.write('control/feature-poweroff', '1');
});
console.log(`guest ${domid}: agent up`);

await using requests = await xs.watch('control/shutdown');
for await (const ev of requests) {
  let action: string;
  try {
    action = await xs.readString(ev.path);
  } catch (e) {
    if (e instanceof XenStoreError && e.code === 'ENOENT') continue; // not written yet
    throw e;
  }
  if (action === '') continue;
  console.log(`guest ${domid}: asked to ${action}`);
  await xs.write('control/shutdown', ''); // acknowledge, as Linux's xenbus does
  break;
}
