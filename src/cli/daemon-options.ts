/**
 * tsxenstored's command line: its options (C xenstored's flags where it has
 * them, and every limit of server/config.ts as a flag or -Q) and --help.
 */
import { SETTINGS } from '../server/config.js';
import { DEFAULT_SOCKET } from '../server/transport-unix.js';
import { DEFAULT_SIM_DIR } from '../sim/layout.js';

export type Opt = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

export const options: Record<string, Opt> = {
  socket: { type: 'string', short: 's' },
  'pid-file': { type: 'string', short: 'F' },
  'no-fork': { type: 'boolean', short: 'N' },
  'no-domain-init': { type: 'boolean', short: 'D' },
  'keep-orphans': { type: 'boolean', short: 'K' },
  quota: { type: 'string', short: 'Q', multiple: true },
  'txn-conflict': { type: 'string' },
  'sim-dir': { type: 'string' },
  restore: { type: 'string' },
  durable: { type: 'string' },
  'live-update-state': { type: 'string' },
  'no-sim': { type: 'boolean' },
  backend: { type: 'string' },
  'socket-io': { type: 'string' },
  fork: { type: 'boolean' },
  // Accepted because Xen's init scripts or admins' XENSTORED_ARGS may pass them (C xenstored's flags).
  'trace-file': { type: 'string', short: 'T' },
  'output-pid': { type: 'boolean', short: 'P' },
  'no-recovery': { type: 'boolean', short: 'R' },
  'internal-db': { type: 'boolean', short: 'I' },
  'live-update': { type: 'boolean', short: 'U' },
  event: { type: 'string', short: 'e' },
  'master-domid': { type: 'string', short: 'm' },
  'priv-domid': { type: 'string', short: 'p' },
  'quota-soft': { type: 'string', short: 'q' },
  timeout: { type: 'string', short: 'w' },
  'log-level': { type: 'string' },
  'log-file': { type: 'string' },
  'log-format': { type: 'string' },
  'metrics-listen': { type: 'string' },
  verbose: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'H' },
  version: { type: 'boolean' },
  config: { type: 'string' },
};
for (const s of SETTINGS) {
  if ('flag' in s) options[s.flag] = { type: 'string', short: s.short };
}

export function usage(): string {
  const lines = [
    'Usage: tsxenstored [options]',
    '',
    'A XenStore daemon. Runs in the foreground; connections on its Unix socket are dom0.',
    '',
    `  -s, --socket PATH          socket path (default: $XENSTORED_PATH, else ${DEFAULT_SOCKET})`,
    '  -F, --pid-file FILE        write the daemon\'s pid to FILE',
    '  -N, --no-fork              accepted for compatibility: tsxenstored never forks',
    '  -D, --no-domain-init       accepted for compatibility: dom0 is always known',
    '  -K, --keep-orphans         keep the nodes of released domains (a security risk)',
    '  -Q, --quota NAME=VALUE     set any limit below by name (repeatable)',
    '      --txn-conflict MODE    coalesce (default: swap, graft, replay) or strict (EAGAIN',
    '                             on any intervening commit, as the old C daemon)',
    `      --sim-dir DIR          the simulated Xen's directory: guest ring pages and event`,
    `                             channels (default ${DEFAULT_SIM_DIR})`,
    '      --backend KIND         how guests are reached: xen (the real hypervisor: event',
    '                             channels, grant mapping, xsd_kva), sim (the simulated Xen),',
    '                             none, or auto (default: xen where /dev/xen/evtchn exists,',
    '                             else sim)',
    '      --no-sim               same as --backend none: INTRODUCE only records domains',
    '      --socket-io KIND       how socket connections are read and written: native (the',
    '                             xsio addon: no stream layer), stream (Node\'s sockets), or',
    '                             auto (default: native when the addon is built)',
    '      --fork                 start in the background and return once ready (what Xen\'s',
    '                             init scripts expect of XENSTORED; C xenstored\'s default)',
    '  -P, --output-pid           print the daemon\'s pid on stdout once ready',
    '  -T, -R, -I, -U, -e, -m, -p, -q, -w',
    '                             C xenstored\'s other flags: accepted, and a warning says',
    '                             that tsxenstored does not act on them (-e/-m/-p only',
    '                             with their default values, as it runs in dom0)',
    '      --durable DIR          make every commit durable in DIR (log + snapshots, fsync',
    '                             before the reply) and recover from it after a crash;',
    '                             without it the store lives in memory only, as in Xen',
    '      --restore FILE         start from a state stream written by CONTROL dump',
    '                             (docs/designs/xenstore-migration.md format, version 2)',
    '      --log-level LEVEL      error, warn, info (default) or debug',
    '      --log-file FILE        log to FILE instead of stderr (SIGHUP reopens it)',
    '      --log-format FORMAT    text (default) or json (one JSON object per line, pino\'s format)',
    '      --metrics-listen ADDR  serve Prometheus metrics at http://ADDR/metrics: PORT (on',
    '                             127.0.0.1), HOST:PORT, or a Unix socket path (off by default)',
    '  -V, --verbose              same as --log-level debug',
    '      --config FILE          read options from FILE: "key = value" lines, keys are the',
    '                             long options above and the limit names below (docs/config.md);',
    '                             the command line wins',
    '  -H, --help                 this text',
    '      --version              print the version and exit',
    '',
    'Limits (quotas bind unprivileged domains; dom0 is exempt, as in Xen):',
  ];
  for (const s of SETTINGS) {
    const flag = 'flag' in s ? `-${s.short}, --${s.flag} N` : '';
    lines.push(`  ${flag.padEnd(24)} ${s.name.padEnd(24)} ${s.descr} (default ${s.def})`);
  }
  return lines.join('\n') + '\n';
}
