/**
 * The real Xen backend's logic, on a stand-in addon (fake-addon.ts): which
 * grant or frame it maps, which port it binds, where notifications go, how
 * VIRQ_DOM_EXC becomes death or shutdown, what it hands to a live update,
 * and that every failure is an error with the reason, never a crash. The
 * daemon side runs too: INTRODUCE over the backend, @releaseDomain, RESUME.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op } from '../../src/protocol/op.js';
import { XenBackend, XEN_DOMINF_DYING, XEN_DOMINF_SHUTDOWN, GNTTAB_RESERVED_XENSTORE } from '../../src/xen/xen-backend.js';
import { errorName, Harness, payload } from '../helpers/inproc.js';
import { FakeAddon } from './fake-addon.js';

type Ev = ['notify' | 'death' | 'shutdown', number];

async function started(addon = new FakeAddon()): Promise<{ x: FakeAddon; b: XenBackend; events: Ev[]; logs: string[] }> {
  const events: Ev[] = [];
  const logs: string[] = [];
  const b = new XenBackend({ addon, log: (level, msg) => logs.push(`${level}: ${msg}`) });
  await b.start({
    onNotify: (d) => events.push(['notify', d]),
    onDomainDeath: (d) => events.push(['death', d]),
    onDomainShutdown: (d) => events.push(['shutdown', d]),
  });
  return { x: addon, b, events, logs };
}

test('attach maps the reserved grant, binds the port, and notify/detach use the local port', async () => {
  const { x, b } = await started();
  x.domains.set(3, { flags: 0, port: 7 });
  const link = b.attach(3, 0x1234n, 7);
  assert.ok(x.calls.includes(`mapGrant 3 ref ${GNTTAB_RESERVED_XENSTORE}`));
  assert.ok(!x.calls.some((c) => c.startsWith('mapForeign')), 'no foreign mapping when the grant maps');
  const local = x.portOf(3);
  assert.notEqual(local, undefined);
  link.notify();
  assert.deepEqual(x.notified, [local]);
  link.detach();
  assert.equal(x.portOf(3), undefined, 'unbound');
  assert.equal(x.pages.get(link.page)?.released, true, 'the guest page is given back at once');
  link.detach(); // twice is harmless
  link.notify(); // after detach: nothing, no throw
  assert.deepEqual(x.notified, [local]);
});

test('a failed grant map falls back to mapping the gfn; both failing is one error with both reasons', async () => {
  const { x, b } = await started();
  x.domains.set(4, { flags: 0, port: 9 });
  x.failGrant = true;
  const link = b.attach(4, 77n, 9);
  assert.equal(x.pages.get(link.page)?.how, 'foreign');
  assert.ok(x.calls.includes('mapForeign 4 gfn 77'));
  link.detach();
  x.failForeign = true;
  assert.throws(() => b.attach(4, 77n, 9), (e: Error) => /gntdev map grant/.test(e.message) && /foreign map/.test(e.message));
  assert.equal(x.portOf(4), undefined, 'nothing bound after a failed map');
});

test('a failed bind unmaps the page it mapped and throws the reason', async () => {
  const { x, b } = await started();
  x.domains.set(5, { flags: 0, port: 3 });
  assert.throws(() => b.attach(5, 0n, 4), /bind interdomain event channel/);
  const pages = [...x.pages.values()].filter((p) => p.domid === 5);
  assert.equal(pages.length, 1);
  assert.equal(pages[0]!.released, true);
});

test('fired ports become notifications for their domain; unknown ports are ignored', async () => {
  const { x, b, events } = await started();
  x.domains.set(1, { flags: 0, port: 5 });
  x.domains.set(2, { flags: 0, port: 5 });
  b.attach(1, 0n, 5);
  b.attach(2, 0n, 5);
  x.fire(x.portOf(2)!, 999, x.portOf(1)!);
  assert.deepEqual(events, [['notify', 2], ['notify', 1]]);
});

test('VIRQ_DOM_EXC: gone or dying is death, shut down is shutdown, running is nothing', async () => {
  const { x, b, events } = await started();
  for (const d of [1, 2, 3, 4]) x.domains.set(d, { flags: 0, port: 6 });
  for (const d of [1, 2, 3, 4]) b.attach(d, 0n, 6);
  x.domains.delete(1); // gone
  x.domains.get(2)!.flags = XEN_DOMINF_DYING | XEN_DOMINF_SHUTDOWN;
  x.domains.get(3)!.flags = XEN_DOMINF_SHUTDOWN;
  const virq = [...x.bound].find(([, [d]]) => d === -1)![0];
  x.fire(virq);
  assert.deepEqual(events.sort(), [['death', 1], ['death', 2], ['shutdown', 3]].sort());
});

test('start fails with the reason when the domain list or VIRQ_DOM_EXC cannot be had', async () => {
  const a = new FakeAddon();
  a.failDomainList = true;
  await assert.rejects(started(a), /cannot read the hypervisor's domain list: cannot load libxenctrl/);
  const v = new FakeAddon();
  v.failVirq = true;
  await assert.rejects(started(v), /cannot bind VIRQ_DOM_EXC \(is another xenstored running\?\)/);
  assert.equal(v.closed.length, 1, 'the event-channel fd is closed again');
});

test('live update: the handover lists each binding, and a successor reuses them instead of binding again', async () => {
  const { x, b } = await started();
  x.domains.set(6, { flags: 0, port: 11 });
  b.attach(6, 0n, 11);
  b.freeze(true);
  assert.equal(x.watching, false, 'frozen: nobody reads the event channels');
  const h = b.handover();
  assert.deepEqual(h.bound, [{ domid: 6, remotePort: 11, localPort: x.portOf(6) }]);
  const next = new XenBackend({ addon: x, log: () => undefined, inherited: h });
  await next.start({ onNotify: () => undefined, onDomainDeath: () => undefined });
  assert.deepEqual(next.locate(6), { gfn: 0n, port: 11 });
  const binds = x.calls.filter((c) => c.startsWith('bind')).length;
  const link = next.attach(6, 0n, 11);
  assert.equal(x.calls.filter((c) => c.startsWith('bind')).length, binds, 'no second bind of an inherited port');
  link.notify();
  assert.equal(x.notified.at(-1), h.bound[0]!.localPort);
});

test('daemon: INTRODUCE over the real backend, a failed map is EINVAL with the reason logged, death and shutdown fire @releaseDomain', async () => {
  const x = new FakeAddon();
  const h = new Harness();
  const logs: string[] = [];
  h.daemon.logger.log = (_level, msg) => void logs.push(msg);
  await h.daemon.attachBackend(new XenBackend({ addon: x, log: () => undefined }));
  const dom0 = h.connect();
  dom0.ok(Op.WATCH, payload('@releaseDomain', 'rel'));
  dom0.events();
  x.domains.set(7, { flags: 0, port: 3 });
  dom0.ok(Op.INTRODUCE, payload('7', '1234', '3'));
  assert.equal(h.daemon.domains.isIntroduced(7), true);
  const bad = dom0.call(Op.INTRODUCE, payload('8', '99', '3'));
  assert.equal(errorName(bad.reply), 'EINVAL');
  assert.ok(logs.some((l) => /INTRODUCE 8: cannot map its ring/.test(l)), logs.join('\n'));
  assert.equal(h.daemon.domains.isIntroduced(8), false);
  assert.equal(h.daemon.domains.get(8), undefined, 'a failed INTRODUCE leaves no record behind');
  const virq = [...x.bound].find(([, [d]]) => d === -1)![0];
  // shut down: @releaseDomain once, not again until RESUME
  x.domains.get(7)!.flags = XEN_DOMINF_SHUTDOWN;
  x.fire(virq);
  x.fire(virq);
  h.daemon.flush();
  assert.deepEqual(dom0.events().map((e) => e.path), ['@releaseDomain']);
  dom0.ok(Op.RESUME, payload('7'));
  x.fire(virq);
  h.daemon.flush();
  assert.deepEqual(dom0.events().map((e) => e.path), ['@releaseDomain'], 'RESUME re-arms it');
  // dies: released and forgotten, its port unbound and page given back
  x.domains.delete(7);
  x.fire(virq);
  h.daemon.flush();
  assert.deepEqual(dom0.events().map((e) => e.path), ['@releaseDomain']);
  assert.equal(h.daemon.domains.isIntroduced(7), false);
  assert.equal(x.portOf(7), undefined);
  assert.ok([...x.pages.values()].filter((p) => p.domid === 7).every((p) => p.released));
  await h.daemon.closeBackend();
});
