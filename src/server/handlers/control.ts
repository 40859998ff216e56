/**
 * CONTROL <command>|[<args>|]*, as xenstore-control sends it. Every reply is
 * NUL-terminated text. Unknown commands answer EINVAL, as the C daemon does.
 */
import { systemErrno, XsError } from '../../protocol/errno.js';
import { parseUint, strings } from '../../protocol/payload.js';
import { SETTINGS, settingName, type QuotaName } from '../config.js';
import type { Services } from '../services.js';
import { writeOut } from './files.js';
import { domainUsageReport, memoryReport } from '../reports.js';
import type { Request } from '../request.js';
import { history } from './history.js';

type Command = { readonly usage: string; readonly run: (d: Services, args: string[], r: Request) => string | Promise<string> };

const text = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');


/** The quotas in the order and layout of the C daemon's `quota` answer (its `memory` quota is not built). */
const QUOTA_ORDER: readonly QuotaName[] = ['nodes', 'watches', 'transactions', 'outstanding', 'transaction-nodes', 'node-size', 'path-max', 'permissions'];

function quotaSettings(d: Services): string {
  const lines = QUOTA_ORDER.map((name) => `${name.padEnd(17)}: ${String(d.settings[name]).padStart(8)} ${SETTINGS.find((s) => s.name === name)!.descr}`);
  return `Quota settings:\n${lines.join('\n')}\n`;
}

const COMMANDS: Record<string, Command> = {
  help: { usage: '', run: () => Object.entries(COMMANDS).map(([n, c]) => `${n}\t${c.usage}`).join('\n') + '\n' },
  check: {
    usage: '',
    run: (d) => {
      const problems = d.check();
      return problems.length === 0 ? 'OK' : problems.join('\n');
    },
  },
  log: {
    usage: 'on|off',
    run: (d, a) => {
      if (a[0] !== 'on' && a[0] !== 'off') throw new XsError('EINVAL', 'log on|off');
      d.requestLog = a[0] === 'on';
      return 'OK';
    },
  },
  logfile: {
    usage: '<file>',
    run: (d, a) => {
      if (a[0] === undefined || a[0] === '') throw new XsError('EINVAL', 'logfile needs a file name');
      try {
        d.logger.setFile(a[0]);
      } catch (e) {
        throw new XsError(systemErrno(e), `logfile ${a[0]}: ${(e as Error).message}`);
      }
      return 'OK';
    },
  },
  memreport: {
    usage: '[<file>]',
    run: (d, a) => {
      const report = memoryReport(d);
      if (a[0] === undefined || a[0] === '') return report;
      return writeOut(a[0], report);
    },
  },
  quota: {
    usage: '[set <name> <val>|<domid>]',
    run: (d, a) => {
      if (a.length === 0) return quotaSettings(d);
      if (a[0] === 'set') {
        const [, raw, val] = a;
        const name = raw === undefined ? undefined : settingName(raw);
        if (raw === undefined || val === undefined) throw new XsError('EINVAL', 'quota set <name> <val>');
        if (name === undefined) throw new XsError('EINVAL', `no quota named ${JSON.stringify(raw)} (see: quota)`);
        d.settings[name] = parseUint(val, 0xffff_ffff);
        return 'OK';
      }
      // A domain the daemon does not know uses nothing (the C daemon answers ENOENT).
      return domainUsageReport(d, parseUint(a[0]!, 0xffff));
    },
  },
  'quota-soft': { usage: '', run: () => 'no soft quotas\n' },
  'live-update': {
    usage: '[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.',
    run: (d, a, r) => {
      if (d.liveUpdate === undefined) throw new XsError('EINVAL', 'live update needs a daemon started from the command line');
      return d.liveUpdate.control(r, a);
    },
  },
  history: {
    usage: 'log [<path> [<skip>]] | diff <rev> <rev> [<path> [<skip>]] | read <rev> <path> | export <file> | range',
    run: (d, a) => history(d, a),
  },
  dump: {
    usage: '<file>',
    run: (d, a) => {
      if (a[0] === undefined || a[0] === '') throw new XsError('EINVAL', 'dump needs a file name');
      return writeOut(a[0], d.dumpStream());
    },
  },
  print: {
    usage: '<string>',
    run: (d, a) => {
      d.logger.info(`print: ${a.join(' ')}`);
      return 'OK';
    },
  },
};

export function control(r: Request): Uint8Array {
  const a = strings(r.frame.payload, true);
  const name = a[0];
  const cmd = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (cmd === undefined) throw new XsError('EINVAL', `unknown control command ${JSON.stringify(name)}`);
  // The wire carries only the errno (as in Xen): the daemon's log says which argument was wrong.
  const explain = (e: unknown): never => {
    if (e instanceof XsError) r.services.logger.info(`CONTROL ${a.join(' ').slice(0, 200)}: ${e.message}`);
    throw e;
  };
  let out: string | Promise<string>;
  try {
    out = cmd.run(r.services, a.slice(1), r);
  } catch (e) {
    return explain(e);
  }
  return typeof out === 'string' ? text(out) : r.defer(out.then(text, explain));
}
