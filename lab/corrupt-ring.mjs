// Lab tool, run in dom0: plays a guest that corrupts its own ring. It maps the
// guest's xenstore page a second time (the same grant the daemon maps) and puts
// rsp_cons far past rsp_prod, an index no honest guest can produce. The daemon
// must notice at its next reply or watch event to that guest, cut that guest's
// connection (error field set) and go on serving everyone else.
import { loadXenAddon } from '../dist/src/xen/native.js';

const domid = Number(process.argv[2]);
if (!Number.isInteger(domid) || domid <= 0) throw new Error('usage: corrupt-ring.mjs DOMID');
const x = loadXenAddon();
const words = new Int32Array(x.mapGrant(x.gntOpen(), domid, 1));
const RSP_CONS = 514;
const RSP_PROD = 515;
const prod = Atomics.load(words, RSP_PROD);
Atomics.store(words, RSP_CONS, (prod + 3000) | 0);
console.log(`domain ${domid}: rsp_prod ${prod}, rsp_cons set to ${prod + 3000}`);
