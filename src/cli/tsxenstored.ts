#!/usr/bin/env node
/**
 * tsxenstored: the daemon's command line. Flags mirror the C xenstored where
 * it has them (-E, -S, -W, -t, -A, -M, -Q name=value, -F, -K, -N, -V); every
 * limit in server/config.ts is settable with -Q.
 */
import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { restoreState } from '../state/snapshot.js';
import { DurableLog, type Recovered } from '../server/durable.js';
import { adoptClients, adoptLiveState, adoptSessions, ringConnections } from '../server/adopt.js';
import { LiveUpdater, type SimSidecar } from '../server/live-update.js';
import type { Record as StateRecord } from '../state/stream.js';
import { decodeStream } from '../state/stream.js';
import { parseArgs } from 'node:util';
import { configArgs } from './config-file.js';
import { forkAndWait, notifySystemd } from './daemonize.js';
import { SETTINGS, settingName, type Settings } from '../server/config.js';
import { options, usage } from './daemon-options.js';
import { Daemon } from '../server/daemon.js';
import { checkLogFile, Logger, type Level } from '../server/log.js';
import { DEFAULT_SOCKET, UnixTransport } from '../server/transport-unix.js';
import { NativeIo } from '../server/native-io.js';
import { AddonMissingError } from '../server/native-addon.js';
import { listening, PathInUseError } from '../server/socket-path.js';
import { packageVersion } from './version.js';
import { Metrics } from '../server/metrics.js';
import { MetricsServer, parseMetricsAddress } from '../server/metrics-http.js';
import { DEFAULT_SIM_DIR } from '../sim/layout.js';
import { SimXen } from '../sim/sim-xen.js';
import { XenBackend, xenPresent } from '../xen/xen-backend.js';


function fail(msg: string): never {
  process.stderr.write(`tsxenstored: ${msg}\n`);
  process.exit(2);
}

/** `args` without `flags`, in either form (`--flag VALUE` or `--flag=VALUE`). */
function withoutFlags(args: readonly string[], flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (flags.includes(a)) i++; // and its value
    else if (!flags.some((f) => a.startsWith(`${f}=`))) out.push(a);
  }
  return out;
}

/** The backend asked for (--backend, --no-sim), with auto resolved. */
function backendKind(v: Record<string, string | boolean | string[] | undefined>): 'xen' | 'sim' | 'none' {
  const b = (v.backend as string | undefined) ?? 'auto';
  if (!['auto', 'xen', 'sim', 'none'].includes(b)) fail('--backend is auto, xen, sim or none');
  if (v['no-sim'] === true) {
    if (b !== 'auto' && b !== 'none') fail(`--no-sim contradicts --backend ${b}`);
    return 'none';
  }
  if (b === 'auto') return xenPresent() ? 'xen' : 'sim';
  if (b === 'xen' && !xenPresent()) fail('--backend xen: no /dev/xen/evtchn here (not a Xen control domain, or the xen-evtchn module is not loaded)');
  return b as 'xen' | 'sim' | 'none';
}

/** --socket-io: the addon's I/O (native), Node's sockets (stream), or native when built (auto). */
function socketIo(v: Record<string, string | boolean | string[] | undefined>): NativeIo | undefined {
  const k = (v['socket-io'] as string | undefined) ?? 'auto';
  if (!['auto', 'native', 'stream'].includes(k)) fail('--socket-io is auto, native or stream');
  if (k === 'stream') return undefined;
  try {
    return NativeIo.get();
  } catch (e) {
    if (k === 'native' || !(e instanceof AddonMissingError)) fail(`--socket-io ${k}: ${(e as Error).message}`);
    return undefined;
  }
}

function number(name: string, v: string): number {
  if (!/^[0-9]+$/.test(v)) fail(`${name} needs a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** --config FILE (or --config=FILE) on the command line, read before everything else. */
function configFile(argv: readonly string[]): string | undefined {
  let file: string | undefined;
  argv.forEach((a, i) => {
    if (a === '--config') file = argv[i + 1] ?? fail('--config needs a file');
    else if (a.startsWith('--config=')) file = a.slice('--config='.length);
  });
  return file;
}

async function main(): Promise<void> {
  let parsed;
  const argv = process.argv.slice(2);
  const cfg = configFile(argv);
  let fromFile: string[] = [];
  if (cfg !== undefined) {
    try {
      fromFile = configArgs(cfg, options, SETTINGS.map((s) => s.name));
    } catch (e) {
      fail((e as Error).message);
    }
  }
  try {
    parsed = parseArgs({ args: [...fromFile, ...argv], options, allowPositionals: false, strict: true });
  } catch (e) {
    fail(`${(e as Error).message}\nTry 'tsxenstored --help'.`);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help === true) {
    process.stdout.write(usage());
    return;
  }
  if (v.version === true) {
    process.stdout.write(`tsxenstored ${packageVersion()}\n`);
    return;
  }
  if (v.fork === true) return forkAndWait(v['output-pid'] === true, v['log-file'] !== undefined);
  const settings: Partial<Settings> = {};
  for (const s of SETTINGS) {
    if ('flag' in s && typeof v[s.flag] === 'string') settings[s.name] = number(`--${s.flag}`, v[s.flag] as string);
  }
  for (const q of (v.quota as string[] | undefined) ?? []) {
    const eq = q.indexOf('=');
    const name = eq < 0 ? undefined : settingName(q.slice(0, eq));
    if (name === undefined) fail(`unknown quota ${JSON.stringify(q)}; see --help`);
    settings[name] = number(name, q.slice(eq + 1));
  }
  const conflict = (v['txn-conflict'] as string | undefined) ?? 'coalesce';
  if (conflict !== 'coalesce' && conflict !== 'strict') fail('--txn-conflict is coalesce or strict');
  const level = (v.verbose === true ? 'debug' : ((v['log-level'] as string | undefined) ?? 'info')) as Level;
  if (!['error', 'warn', 'info', 'debug'].includes(level)) fail('--log-level is error, warn, info or debug');

  // A live update hands over the whole state, and the old daemon strips its
  // own --restore from the next one's command line: a --restore here came with
  // CONTROL live-update -c, a mistake. Refused before anything inherited from
  // the running daemon (its listeners, guests' event channels) is touched, so
  // that the update fails cleanly and the old daemon carries on serving.
  if (v['live-update-state'] !== undefined && v.restore !== undefined) {
    fail('--restore cannot be used for a live update: the running daemon hands over its whole state');
  }

  const format = (v['log-format'] as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json') fail('--log-format is text or json');
  const logFile = v['log-file'] as string | undefined;
  if (logFile !== undefined) {
    try {
      checkLogFile(logFile);
    } catch (e) {
      fail(`cannot open the log file: ${(e as Error).message}`);
    }
  }
  const logger = new Logger(level, logFile, format);
  // logrotate and `systemctl reload`: reopen the log file, as xenstored does; never die of it.
  process.on('SIGHUP', () => {
    logger.reopen();
    logger.info(`SIGHUP: log file reopened${logger.file !== undefined ? ` (${logger.file})` : ''}`);
  });
  // Stderr may be a terminal or pipe that goes away (--fork, init scripts): never die of it.
  process.stderr.on('error', () => undefined);
  for (const flag of ['trace-file', 'no-recovery', 'internal-db', 'live-update', 'quota-soft', 'timeout']) {
    if (v[flag] !== undefined) logger.warn(`--${flag} is a C xenstored flag that tsxenstored accepts and does not act on (see --help)`);
  }
  for (const flag of ['event', 'master-domid', 'priv-domid']) {
    const val = v[flag];
    if (typeof val === 'string' && val !== '0' && !(flag === 'event' && val === '')) {
      fail(`--${flag} ${val}: tsxenstored runs in dom0 only (no stub-domain or split-privilege mode yet)`);
    }
  }
  const durableDir = v.durable as string | undefined;
  let durable: DurableLog | undefined;
  let recovered: Recovered | undefined;
  if (durableDir !== undefined) {
    try {
      durable = new DurableLog(durableDir, settings['durable-snapshot-bytes'] ?? SETTINGS.find((x) => x.name === 'durable-snapshot-bytes')!.def);
      recovered = durable.recover();
    } catch (e) {
      fail(`cannot recover from ${durableDir}: ${(e as Error).message}`);
    }
  }
  const daemon = new Daemon({ settings, conflict, keepOrphans: v['keep-orphans'] === true, logger, durable });
  // A live update hands over the whole state: it wins over anything on disk.
  const luFile = v['live-update-state'] as string | undefined;
  let lu: { records: StateRecord[]; sidecar: SimSidecar } | undefined;
  if (luFile !== undefined) {
    try {
      lu = { records: decodeStream(readFileSync(luFile)).records, sidecar: JSON.parse(readFileSync(`${luFile}.sim.json`, 'utf8')) as SimSidecar };
    } catch (e) {
      fail(`cannot read the live-update state ${luFile}: ${(e as Error).message}`);
    }
    recovered = undefined;
  }
  if (recovered !== undefined) {
    daemon.load(recovered.root, recovered.counts);
    logger.info(`recovered the store from ${durableDir}: snapshot + ${recovered.entries} log entries${recovered.truncatedBytes > 0 ? `, cut a torn tail of ${recovered.truncatedBytes} bytes (never acknowledged)` : ''}`);
  }
  const path = (v.socket as string | undefined) ?? process.env.XENSTORED_PATH ?? DEFAULT_SOCKET;
  const transport = new UnixTransport(daemon, path, socketIo(v));
  // Before anything is attached: another daemon serving this socket keeps it (checked again at listen).
  if (lu === undefined && (await listening(path))) fail(new PathInUseError(path).message);
  // Order matters: rings and restored state are in place before anyone can connect.
  const simDir = (v['sim-dir'] as string | undefined) ?? DEFAULT_SIM_DIR;
  const kind = backendKind(v);
  let sim: SimXen | undefined;
  let xen: XenBackend | undefined;
  if (kind === 'sim') {
    sim = new SimXen(simDir);
    // Until the handover completes, evtchn.sock is the running daemon's (see takeOwnership below).
    sim.successor = lu !== undefined;
    const evtchnFd = lu?.records.find((r) => r.type === 'global')?.evtchnFd;
    if (evtchnFd !== undefined && evtchnFd >= 0) sim.inheritedServerFd = evtchnFd;
    try {
      await daemon.attachBackend(sim);
    } catch (e) {
      fail(`cannot start the simulated Xen in ${simDir}: ${(e as Error).message}`);
    }
  } else if (kind === 'xen') {
    try {
      xen = new XenBackend({ log: (level, msg) => logger.log(level, msg), inherited: lu?.sidecar.xen });
      await daemon.attachBackend(xen);
    } catch (e) {
      await daemon.closeBackend().catch(() => undefined);
      fail(`the Xen devices are present but unusable: ${(e as Error).message}`);
    }
  }
  // After a crash (--durable): the rings the previous daemon served, with their watches.
  if (durable !== undefined && recovered !== undefined && lu === undefined && v.restore === undefined && kind !== 'none') {
    try {
      const sessions = durable.loadSessions();
      if (sessions !== undefined) {
        const { attached, lost } = adoptSessions(daemon, sessions);
        logger.info(`recovered ${attached.length} ring sessions (domains ${attached.join(', ') || 'none'}) from ${durable.sessionsPath}`);
        for (const l of lost) logger.warn(`domain ${l.domid}'s ring could not be re-attached: ${l.why}`);
        daemon.lifecycle.recheckDomains();
      }
    } catch (e) {
      await daemon.closeBackend();
      fail(`cannot recover the ring sessions: ${(e as Error).message}`);
    }
  }
  // Never set together with a live update's state (refused above).
  const restoreFile = v.restore as string | undefined;
  if (restoreFile !== undefined) {
    try {
      const records = decodeStream(readFileSync(restoreFile)).records;
      const state = restoreState(records);
      daemon.restore(state);
      // Sockets died with the old daemon; guests' rings did not: their watches and transactions come back.
      adoptClients(daemon, state, records, ringConnections(daemon, state));
    } catch (e) {
      await daemon.closeBackend();
      fail(`cannot restore from ${restoreFile}: ${(e as Error).message}`);
    }
    logger.info(`restored the state from ${restoreFile}`);
  }
  // dom0's own ring (its kernel xenbus), unless a restore already brought it back.
  const attachLocal = async (): Promise<void> => {
    try {
      daemon.lifecycle.attachLocalDomain();
    } catch (e) {
      await daemon.closeBackend();
      fail(`cannot attach dom0's own xenstore ring (xsd_kva, xsd_port): ${(e as Error).message}`);
    }
  };
  if (lu === undefined) await attachLocal();
  // The durable directory starts from a snapshot of what we now hold, written
  // before the first client can connect (so a disk that is already full is a
  // clear start-up error, never a crash under load).
  const firstSnapshot = async (): Promise<void> => {
    if (durable === undefined || (recovered !== undefined && restoreFile === undefined)) return;
    try {
      durable.maybeSnapshot(daemon.store.root, true);
    } catch (e) {
      await daemon.closeBackend();
      fail(`cannot write the first snapshot in ${durableDir}: ${(e as Error).message}`);
    }
  };
  if (lu === undefined) await firstSnapshot();
  // Metrics (opt-in): up before the daemon is ready, so that a bad address stops the
  // start. A live update's successor starts them once the previous daemon, which
  // holds the address until it exits, has handed over (below).
  let metricsServer: MetricsServer | undefined;
  const metricsAt = v['metrics-listen'] as string | undefined;
  const startMetrics = async (): Promise<void> => {
    if (metricsAt === undefined) return;
    const metrics = new Metrics(daemon, durable);
    const server = new MetricsServer(metrics, parseMetricsAddress(metricsAt));
    await server.listen();
    daemon.observer = metrics;
    metricsServer = server;
    logger.info(`metrics at http://${server.describe()}/metrics`);
  };
  if (lu === undefined) {
    try {
      await startMetrics();
    } catch (e) {
      await daemon.closeBackend();
      fail(`cannot serve metrics: ${(e as Error).message}`);
    }
  }
  // The pid file exists before the socket does: whoever waits for the socket can read it.
  const pidFile = v['pid-file'] as string | undefined;
  const removePidFile = (): void => {
    if (pidFile === undefined) return;
    try {
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile);
    } catch {
      // gone already
    }
  };
  // SIGTERM cleans up (socket, pid file, log) however far the start got; a live
  // update's successor only once the handover is done (until then the socket and
  // the guests are the previous daemon's).
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info(`${sig}: shutting down`);
    void Promise.all([transport.close(), daemon.closeBackend(), metricsServer?.close()]).then(async () => {
      removePidFile();
      await logger.flush();
      process.exit(0);
    });
  };
  const onSignals = (): void => {
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  };
  if (lu === undefined) onSignals();
  if (pidFile !== undefined) {
    try {
      writeFileSync(pidFile, `${process.pid}\n`);
    } catch (e) {
      await daemon.closeBackend();
      fail(`cannot write the pid file: ${(e as Error).message}`);
    }
  }
  try {
    if (lu !== undefined) await adoptLiveState(daemon, transport, sim, lu.records, lu.sidecar);
    else await transport.listen();
  } catch (e) {
    await daemon.closeBackend();
    if (lu === undefined) removePidFile();
    fail(lu !== undefined ? `cannot take over from the previous daemon: ${(e as Error).message}` : `cannot listen on ${path}: ${(e as Error).message}`);
  }
  // A live update's state is only in the store once it is adopted.
  if (lu !== undefined) {
    await attachLocal();
    await firstSnapshot();
    onSignals();
  }
  // The next daemon of a live update gets the state from us, not from a file.
  const args = withoutFlags(process.argv.slice(2), ['--live-update-state', '--restore']).filter((a) => a !== '--fork');
  daemon.liveUpdate = new LiveUpdater(daemon, { transport, sim, xen, argv: args, self: { command: process.execPath, args: [process.argv[1]!] } });
  if (lu !== undefined) {
    logger.info(`live update: took over ${daemon.conns.size} connections from the previous daemon`);
    sim?.takeOwnership();
    process.send?.('ready', () => process.disconnect?.());
    void metricsAfterHandover();
  }
  const where = kind === 'sim' ? `, simulated Xen in ${simDir}` : kind === 'xen' ? ', real Xen backend' : '';
  logger.info(`listening on ${path} (pid ${process.pid}, conflict mode ${conflict}, socket I/O ${transport.ioKind}${where})`);
  if (v['output-pid'] === true) process.stdout.write(`${process.pid}\n`);
  // Started by --fork: tell the waiting parent, then live on alone.
  if (lu === undefined && process.env.TSXENSTORED_FORKED === '1') {
    delete process.env.TSXENSTORED_FORKED;
    process.send?.('ready', () => process.disconnect?.());
  }
  notifySystemd(logger);

  /** The successor of a live update: the metrics address is free once the previous daemon has exited. */
  async function metricsAfterHandover(): Promise<void> {
    for (let attempt = 1; metricsAt !== undefined && !stopping; attempt++) {
      try {
        return await startMetrics();
      } catch (e) {
        if (attempt === 100) return logger.warn(`cannot serve metrics after the live update: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

}

if (process.argv[2] === 'bench') {
  // The benchmark is a tool of the repository (bench/), not of the installed daemon.
  process.stderr.write('tsxenstored: the benchmark is not part of the daemon; in a checkout run: npm run bench -- OPTIONS\n');
  process.exit(2);
} else {
  void main();
}
