/**
 * What CONTROL memreport and CONTROL quota DOMID print: read-only views of a
 * daemon's state, kept out of the daemon itself.
 */
import { checkTree } from '../store/check.js';
import type { QuotaName } from './config.js';
import type { Services } from './services.js';

/** CONTROL memreport: the store's size, the daemon's tables and its process memory. */
export function memoryReport(d: Services): string {
  const m = process.memoryUsage();
  const report = checkTree(d.store.root);
  let txns = 0;
  for (const c of d.conns) txns += c.transactions.size;
  return [
    `nodes: ${report.nodes}`,
    `connections: ${d.conns.size}`,
    `watches: ${d.watches.size}`,
    `transactions: ${txns}`,
    `rss: ${m.rss}`,
    `heap-used: ${m.heapUsed}`,
    `array-buffers: ${m.arrayBuffers}`,
    `gc-hints: ${d.reclaim.hints}`,
  ].join('\n') + '\n';
}

/**
 * CONTROL quota DOMID, in the C daemon's layout: what the domain uses now
 * (its `memory` line is not built). A domain the daemon does not know uses nothing.
 */
export function domainUsageReport(d: Services, domid: number): string {
  let watches = 0;
  let txns = 0;
  let outstanding = 0;
  for (const c of d.conns) {
    if (c.caller.domid !== domid) continue;
    watches += c.watches.size;
    txns += c.transactions.size;
    outstanding += c.queuedFrames;
  }
  const rows: Array<[QuotaName, number]> = [
    ['nodes', d.store.usage(domid)],
    ['watches', watches],
    ['transactions', txns],
    ['outstanding', outstanding],
  ];
  return `Domain ${domid}:\n${rows.map(([n, v]) => `${n.padEnd(16)}: ${String(v).padStart(8)}`).join('\n')}\n`;
}
