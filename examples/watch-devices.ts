/**
 * Watch a VM's devices: print every change below /local/domain/<domid>/device
 * (vif, vbd, ... and their state), as a monitoring agent in dom0 would.
 * The first line is the watched directory itself (every watch fires once
 * when set). Ctrl-C ends the watch through its AbortSignal; with `reconnect` the watch
 * outlives a daemon restart (it fires once more when registered again).
 *
 *   node dist/examples/watch-devices.js 5
 */
import { connect, XenStoreError } from 'tsxenstored/client';

const domid = Number(process.argv[2] ?? '0');
const ac = new AbortController();
process.once('SIGINT', () => ac.abort());

await using xs = await connect({ reconnect: true });
xs.on('reconnecting', (e) => console.error(`xenstored went away (${e.code}); reconnecting`));
const home = await xs.getDomainPath(domid);

await using devices = await xs.watch(`${home}/device`, { depth: 3, signal: ac.signal });
try {
  for await (const { path } of devices) {
    try {
      console.log(`${path} = ${await xs.readString(path)}`);
    } catch (e) {
      if (e instanceof XenStoreError && e.code === 'ENOENT') console.log(`${path} absent`);
      else throw e;
    }
  }
} catch (e) {
  if (!(e instanceof XenStoreError && e.name === 'AbortError')) throw e;
}
