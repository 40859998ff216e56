#!/usr/bin/env node
/**
 * tsxenstore: XenStore from the command line. The subcommands read, write,
 * rm, ls, list, exists, chmod and watch take the flags of Xen's xenstore-*
 * tools and print what they print; control behaves as xenstore-control;
 * sim creates and destroys simulated guests. --json on the reading commands
 * prints JSON for scripts. --domain N talks as guest N over its ring.
 */
import { parseArgs } from 'node:util';
import { connect, type XenStoreClient } from '../client/client.js';
import { XenStoreError } from '../client/errors.js';
import { DEFAULT_SIM_DIR } from '../sim/layout.js';
import { defaultSocketPath } from '../client/channel.js';
import { control } from './control.js';
import { atoi, strerror } from './escape.js';
import * as history from './history.js';
import * as tools from './xs-tools.js';
import { packageVersion } from './version.js';
import { connectGuest } from '../sim/connect-guest.js';

const PROG = 'tsxenstore';

type OptSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

const GLOBAL: Record<string, OptSpec> = {
  socket: { type: 'string' },
  s: { type: 'boolean', short: 's' },
  domain: { type: 'string' },
  'sim-dir': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

interface Command {
  readonly usage: string;
  readonly help: string;
  readonly options: Record<string, OptSpec>;
  /** Smallest number of operands. */
  readonly min: number;
  run(xs: XenStoreClient, io: tools.Io, v: Values, args: string[]): Promise<number>;
}

type Values = Record<string, string | boolean | string[] | undefined>;

const COMMANDS: Record<string, Command> = {
  read: {
    usage: '[-h] [-p] [-s] [-R] [--at REV] key [...]',
    help: 'Print the value of each key (escaped; -R raw, -p prefixed with "key: "); --at REV reads it as it was in revision REV of the history.',
    options: { prefix: { type: 'boolean', short: 'p' }, raw: { type: 'boolean', short: 'R' }, at: { type: 'string' } },
    min: 1,
    run: (xs, io, v, a) =>
      typeof v.at === 'string' ? history.readAt(xs, io, v.at, a, v.prefix === true, v.raw === true) : tools.read(xs, io, a, v.prefix === true, v.raw === true),
  },
  write: {
    usage: '[-h] [-s] [-R] key value [...]',
    help: 'Write each key/value pair (values are unescaped: \\n, \\t, \\xHH, \\ooo; -R writes them raw).',
    options: { raw: { type: 'boolean', short: 'R' } },
    min: 2,
    run: (xs, io, v, a) => tools.write(xs, io, a, v.raw === true),
  },
  rm: {
    usage: '[-h] [-s] [-t] key [...]',
    help: 'Remove each key and everything below it (-t also removes parents left empty).',
    options: { tidy: { type: 'boolean', short: 't' } },
    min: 1,
    run: (xs, io, v, a) => tools.rm(xs, io, a, v.tidy === true),
  },
  exists: {
    usage: '[-h] [-p] [-s] key [...]',
    help: 'Exit 0 if every key exists, 1 otherwise.',
    options: {},
    min: 1,
    run: (xs, io, _v, a) => tools.exists(xs, io, a),
  },
  list: {
    usage: '[-h] [-p] [-s] key [...]',
    help: 'List the children of each key (-p prefixes them with the key).',
    options: { prefix: { type: 'boolean', short: 'p' } },
    min: 1,
    run: (xs, io, v, a) => tools.list(xs, io, a, v.prefix === true),
  },
  ls: {
    usage: '[-h] [-f] [-p] [-s] [path]',
    help: 'Print the tree below each path (default /): -f full paths, -p permissions.',
    options: { flat: { type: 'boolean', short: 'f' }, prefix: { type: 'boolean', short: 'p' } },
    min: 0,
    run: (xs, io, v, a) => tools.lsTree(xs, io, a, v.flat === true, v.prefix === true),
  },
  chmod: {
    usage: '[-h] [-u] [-r] [-s] key <mode [modes...]>',
    help: 'Set the permissions of key to the modes (n|r|w|b followed by a domid; the first is the owner): -r also its children, -u also its parents.',
    options: { upto: { type: 'boolean', short: 'u' }, recurse: { type: 'boolean', short: 'r' } },
    min: 1,
    run: (xs, io, v, a) => tools.chmod(xs, io, a[0]!, a.slice(1), v.recurse === true, v.upto === true),
  },
  log: {
    usage: '[-h] [path]',
    help: 'List the retained revisions that changed path (default /), newest first: revision, time, domain, connection, transaction and operation.',
    options: {},
    min: 0,
    run: (xs, io, _v, a) => history.log(xs, io, a[0] ?? '/'),
  },
  diff: {
    usage: '[-h] rev1 rev2 [path]',
    help: 'Show what changed between two revisions (below path): "+ path = value (perms)" and "- path".',
    options: {},
    min: 2,
    run: (xs, io, _v, a) => history.diff(xs, io, a[0]!, a[1]!, a[2] ?? '/'),
  },
  history: {
    usage: '[-h] export --git DIR',
    help: 'Export the retained history into a Git repository at DIR (one commit per revision; transactions that overlapped others as merges).',
    options: { git: { type: 'string' } },
    min: 1,
    run: async (xs, io, v, a) => {
      if (a[0] !== 'export' || typeof v.git !== 'string') {
        io.err(`Usage: ${PROG} history export --git DIR`);
        return 1;
      }
      return history.exportGit(xs, io, v.git);
    },
  },
  watch: {
    usage: '[-h] [-n NR] [-d DEPTH] key',
    help: 'Print the path of each change below the keys; -n NR stops after NR events (the first, immediate one counts); -d DEPTH limits how deep below the key changes are reported.',
    options: { number: { type: 'string', short: 'n' }, depth: { type: 'string', short: 'd' } },
    min: 1,
    run: (xs, io, v, a) =>
      tools.watch(xs, io, a, typeof v.number === 'string' ? atoi(v.number) : -1, typeof v.depth === 'string' ? atoi(v.depth) : undefined),
  },
};

const HELP = `Usage: ${PROG} [--socket PATH | --domain N [--sim-dir DIR]] COMMAND [options] [args]

Talks to a XenStore daemon (tsxenstored, or Xen's own) like Xen's xenstore-* tools.

Commands (each takes the flags of the Xen tool of the same name; ${PROG} COMMAND --help):
${Object.entries(COMMANDS)
  .map(([n, c]) => `  ${n.padEnd(8)} ${c.usage}\n           ${c.help}`)
  .join('\n')}
  control  COMMAND [ARG...]
           Send a CONTROL command, as xenstore-control (e.g. help, check, quota, log on).
  sim      create-guest N [--name NAME] [--replace] | destroy-guest N [--release]
           Create or destroy a simulated guest domain (ring page, event channel, home, INTRODUCE).

Global options:
  --socket PATH   the daemon's socket (default: $XENSTORED_PATH, else /var/run/xenstored/socket)
  --domain N      act as guest domain N over its simulated ring instead of the socket
  --sim-dir DIR   the simulated Xen's directory (default: $TSXENSTORED_SIM_DIR, else ${DEFAULT_SIM_DIR})
  --json          read, list, exists, ls and watch print JSON (and failures say why)
  --verbose       failures say why: the errno after Xen's message
  -s              accepted for compatibility (the socket is the default)
  -h, --help      this help
  --version       print the version and exit

Exit status: 0 on success, 1 on failure (as Xen's tools); control: 2 usage, 3 command failed.
`;

/**
 * What GNU getopt accepts and util.parseArgs does not: unique prefixes of long
 * options (--pre for --prefix) and option values starting with '-' (-n -5).
 */
function getoptStyle(args: readonly string[], options: Record<string, OptSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const m = /^--([^=]+)(=.*)?$/.exec(a);
    if (m !== null && !Object.hasOwn(options, m[1]!)) {
      const hits = Object.keys(options).filter((k) => k.length > 1 && k.startsWith(m[1]!));
      out.push(hits.length === 1 ? `--${hits[0]}${m[2] ?? ''}` : a);
      continue;
    }
    const short = /^-([A-Za-z])$/.exec(a);
    const spec = short === null ? undefined : Object.values(options).find((o) => o.short === short[1]);
    const next = args[i + 1];
    if (spec?.type === 'string' && next !== undefined && next.startsWith('-')) {
      out.push(`${a}${next}`);
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

function stderr(msg: string): void {
  process.stderr.write(`${PROG}: ${msg}\n`);
}

function splitGlobal(argv: string[]): { globals: string[]; cmd: string | undefined; rest: string[] } {
  const globals: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--socket' || a === '--domain' || a === '--sim-dir') {
      globals.push(a, argv[i + 1] ?? '');
      i += 2;
    } else if (/^--(socket|domain|sim-dir)=/.test(a) || a === '--json' || a === '--verbose' || a === '--version' || a === '-s' || a === '-h' || a === '--help') {
      globals.push(a);
      i++;
    } else break;
  }
  return { globals, cmd: argv[i], rest: argv.slice(i + 1) };
}

/** Why the daemon's socket could not be reached, for a person: which path, and whether anything is there. */
function unreachable(path: string, code: string): string {
  const where = `the daemon's socket ${path}`;
  if (code === 'ENOENT') return `${where} does not exist: is the daemon running? (--socket PATH or XENSTORED_PATH name another)`;
  if (code === 'ECONNREFUSED') return `nothing listens on ${where} (a stale socket file: the daemon is not running)`;
  if (code === 'EACCES' || code === 'EPERM') return `${where} refuses this user (${code}): XenStore's socket is for root`;
  if (code === 'EAGAIN') return `${where} has a full backlog (EAGAIN): the daemon is overloaded; try again`;
  return `cannot connect to ${where}: ${code}`;
}

async function open(v: Values): Promise<XenStoreClient | undefined> {
  try {
    if (typeof v.domain === 'string') {
      if (!/^[0-9]{1,5}$/.test(v.domain)) {
        stderr(`--domain needs a domain id, got ${JSON.stringify(v.domain)}`);
        return undefined;
      }
      return await connectGuest(Number(v.domain), { simDir: v['sim-dir'] as string | undefined });
    }
    return await connect({ path: v.socket as string | undefined, connectTimeoutMs: 0 }); // one attempt, as xs_open
  } catch (e) {
    const code = e instanceof XenStoreError ? e.code : 'EINVAL';
    const detail = e instanceof XenStoreError && typeof v.domain === 'string' ? e.detail : undefined;
    stderr(`xs_open: ${detail ?? strerror(code)}`);
    if (typeof v.domain !== 'string') stderr(unreachable((v.socket as string | undefined) ?? defaultSocketPath(), code));
    return undefined;
  }
}

async function runSim(xs: XenStoreClient, v: Values, args: string[]): Promise<number> {
  const { createGuest, destroyGuest, ToolstackError } = await import('../sim/toolstack.js');
  const parsed = parseArgs({ args, options: { name: { type: 'string' }, release: { type: 'boolean' }, replace: { type: 'boolean' } }, allowPositionals: true, strict: true });
  const [action, id] = parsed.positionals;
  const dir = (v['sim-dir'] as string | undefined) ?? process.env.TSXENSTORED_SIM_DIR ?? DEFAULT_SIM_DIR;
  if ((action !== 'create-guest' && action !== 'destroy-guest') || id === undefined || !/^[0-9]{1,5}$/.test(id)) {
    stderr(`Usage: ${PROG} sim create-guest N [--name NAME] [--replace] | destroy-guest N [--release]`);
    return 1;
  }
  const domid = Number(id);
  try {
    if (action === 'create-guest') {
      const d = await createGuest(xs, { domid, dir, name: parsed.values.name, replace: parsed.values.replace === true });
      process.stdout.write(`domain ${domid}: gfn ${d.gfn}, event channel ${d.port}, home /local/domain/${domid}\n`);
    } else {
      await destroyGuest(xs, { domid, dir, release: parsed.values.release === true });
    }
  } catch (e) {
    if (!(e instanceof ToolstackError)) throw e;
    stderr(`sim ${action} ${domid}: ${e.message}`);
    return 1;
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { globals, cmd, rest } = splitGlobal(argv);
  const g = parseArgs({ args: globals, options: GLOBAL, strict: true, allowPositionals: false }).values as Values;
  if (cmd === undefined) {
    if (g.version === true) {
      process.stdout.write(`${PROG} ${packageVersion()}\n`);
      return 0;
    }
    if (g.help === true) {
      process.stdout.write(HELP);
      return 0;
    }
    stderr(`Usage: ${PROG} <command> [-h] [...]; try '${PROG} --help'`);
    return 1;
  }
  if (cmd === 'control') {
    if (rest[0] === '--help' || rest[0] === '-h') {
      process.stdout.write(`Usage: ${PROG} control <command> [<arg>...]\n\nSends CONTROL <command> to the daemon, as xenstore-control does, and prints its answer.\nExit status: 0 done, 1 no daemon, 2 usage, 3 the command failed. 'control help' lists the daemon's commands.\n`);
      return 0;
    }
    if (rest.length === 0) {
      process.stderr.write(`Usage:\n${PROG} control <command> [<arg>...]\n`);
      return 2;
    }
    const xs = await open(g);
    if (xs === undefined) return 1;
    try {
      return await control(xs, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }, rest);
    } finally {
      xs.close();
    }
  }
  if (cmd === 'sim') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`Usage: ${PROG} sim create-guest N [--name NAME] [--replace] | destroy-guest N [--release]\n\ncreate-guest: the ring page and event channel of simulated domain N, its home /local/domain/N with the\npermissions a toolstack gives it, and INTRODUCE. Refuses domain 0 and an existing guest (--replace\ndestroys it first). destroy-guest: signal its death (or RELEASE with\n--release), remove its home, page and descriptor.\n`);
      return 0;
    }
    const xs = await open(g);
    if (xs === undefined) return 1;
    try {
      return await runSim(xs, g, rest);
    } finally {
      xs.close();
    }
  }
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (command === undefined) {
    stderr(`unknown mode ${cmd}\n`);
    return 1;
  }
  const usage = (): number => {
    stderr(`Usage: ${PROG} ${cmd} ${command.usage}`);
    return 1;
  };
  let parsed;
  try {
    const options = { ...GLOBAL, ...command.options };
    parsed = parseArgs({ args: getoptStyle(rest, options), options, strict: true, allowPositionals: true });
  } catch (e) {
    stderr((e as Error).message);
    return usage();
  }
  const v = { ...g, ...parsed.values } as Values;
  if (v.help === true) {
    process.stdout.write(`Usage: ${PROG} ${cmd} ${command.usage}\n\n${command.help}\n\nGlobal options: --socket PATH, --domain N, --sim-dir DIR, --json (see ${PROG} --help).\n`);
    return 0;
  }
  const args = parsed.positionals;
  if (args.length < command.min || (cmd === 'write' && args.length % 2 !== 0)) return usage();
  const xs = await open(v);
  if (xs === undefined) return 1;
  const io: tools.Io = {
    out: (s) => process.stdout.write(s),
    err: stderr,
    json: v.json === true,
    verbose: v.verbose === true,
    ttyColumns: process.stdout.isTTY ? process.stdout.columns : undefined,
  };
  try {
    return await command.run(xs, io, v, args);
  } catch (e) {
    stderr(e instanceof XenStoreError ? `${e.message}` : String(e));
    return 1;
  } finally {
    xs.close();
  }
}

// A reader that went away (e.g. `| head`) is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  stderr(`stdout: ${e.message}`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    stderr(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
