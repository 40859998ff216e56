/**
 * The daemon under test: one started here (a fresh tsxenstored, or the
 * --daemon-cmd command, in a temp directory with its own socket and sim dir,
 * pinned to the last CPU) or one given with --socket (and --pid, --sim-dir).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listening as canConnect } from '../../src/server/socket-path.js';
import { sleep } from './clock.js';
import { haveTaskset } from './proc.js';

export interface Target {
  readonly socket: string;
  readonly pid: number | undefined;
  /** The simulated Xen's directory, if the daemon has one we may use. */
  readonly simDir: string | undefined;
  /** Conflict mode (coalesce/strict) or "native" for a daemon with its own rules. */
  readonly mode: string;
  /** True if this daemon is tsxenstored (so CONTROL memreport is worth asking). */
  readonly tsxenstored: boolean;
  /** A self-started durable daemon's --durable directory. */
  readonly durableDir?: string;
  /** Throws if a self-started daemon died. */
  checkAlive(): void;
  stop(): Promise<void>;
}

export interface OwnDaemonOptions {
  readonly mode: string;
  readonly daemonCmd: string | undefined;
  readonly nodeArgs: readonly string[];
  readonly pin: boolean;
  /** tsxenstored only: make every commit durable in a directory next to the socket (--durable). */
  readonly durable?: boolean;
  /** tsxenstored only: more daemon arguments (e.g. -Q settings). */
  readonly extraArgs?: readonly string[];
}

/** CPUs this process may use, taken once, before pinning narrows them (children inherit the mask). */
export const HOST_CPUS = availableParallelism();

/** The CPU the daemon is pinned to, and the list the generator gets. */
export function cpuSplit(): { daemon: string; generator: string } | undefined {
  const n = HOST_CPUS;
  if (n < 2 || !haveTaskset()) return undefined;
  return { daemon: String(n - 1), generator: n === 2 ? '0' : `0-${n - 2}` };
}

/** Where a self-started durable daemon keeps its log and snapshots (on the file system of TMPDIR). */
export function durableDirOf(daemonDir: string): string {
  return join(daemonDir, 'durable');
}

function daemonScript(): string {
  return fileURLToPath(new URL('../../src/cli/tsxenstored.js', import.meta.url));
}

/** True if a self-started command can run in `mode` (tsxenstored, or a command with {mode}). */
export function supportsMode(daemonCmd: string | undefined): boolean {
  return daemonCmd === undefined || daemonCmd.includes('{mode}');
}


/** Daemons started here and not yet stopped, so that an interrupted bench leaves none behind. */
const live = new Map<ChildProcess, string>();

/** Kills every daemon started here (SIGTERM) and removes their directories; for signal handlers. */
export function killOwnDaemons(): void {
  for (const [child, dir] of live) {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  live.clear();
}

export async function startOwnDaemon(opts: OwnDaemonOptions): Promise<Target> {
  if (opts.durable === true && opts.daemonCmd !== undefined) throw new Error('--durable needs a self-started tsxenstored');
  if ((opts.extraArgs?.length ?? 0) > 0 && opts.daemonCmd !== undefined) throw new Error('daemon arguments need a self-started tsxenstored');
  const dir = await mkdtemp(join(tmpdir(), 'tsxs-bench-'));
  const socket = join(dir, 'socket');
  const simDir = join(dir, 'sim');
  let argv: string[];
  if (opts.daemonCmd === undefined) {
    argv = [process.execPath, ...opts.nodeArgs, daemonScript(), '--socket', socket, '--sim-dir', simDir, '--txn-conflict', opts.mode, '--log-level', 'warn'];
    if (opts.durable === true) argv.push('--durable', durableDirOf(dir));
    argv.push(...(opts.extraArgs ?? []));
  } else {
    argv = opts.daemonCmd
      .split(' ')
      .filter((s) => s !== '')
      .map((s) => s.replaceAll('{socket}', socket).replaceAll('{simdir}', simDir).replaceAll('{mode}', opts.mode));
    if (!opts.daemonCmd.includes('{socket}')) argv.push('--socket', socket);
  }
  const split = opts.pin ? cpuSplit() : undefined;
  if (split !== undefined) argv = ['taskset', '-c', split.daemon, ...argv];
  const logPath = join(dir, 'daemon.log');
  const logFd = openSync(logPath, 'a');
  const [cmd, ...args] = argv as [string, ...string[]];
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', logFd, logFd], env: { ...process.env, XENSTORED_PATH: socket } });
  closeSync(logFd);
  live.set(child, dir);
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited (code ${String(code)}, signal ${String(signal)})`;
      resolve();
    });
    child.once('error', (e) => {
      exited = `could not start: ${e.message}`;
      resolve();
    });
  });
  const log = (): string => {
    try {
      return readFileSync(logPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(socket))) {
    if (exited !== undefined || Date.now() > deadline) {
      child.kill('SIGKILL');
      live.delete(child);
      await rm(dir, { recursive: true, force: true });
      throw new Error(`the daemon (${argv.join(' ')}) ${exited ?? 'did not listen within 30 s'}\n${log()}`);
    }
    await sleep(25);
  }
  let stopped = false;
  return {
    socket,
    pid: child.pid,
    simDir: opts.daemonCmd === undefined || opts.daemonCmd.includes('{simdir}') ? simDir : undefined,
    mode: opts.mode,
    tsxenstored: opts.daemonCmd === undefined,
    ...(opts.durable === true ? { durableDir: durableDirOf(dir) } : {}),
    checkAlive() {
      if (exited !== undefined) throw new Error(`the daemon ${exited}\n${log()}`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      live.delete(child);
      if (exited === undefined) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exit;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function externalDaemon(socket: string, pid: number | undefined, simDir: string | undefined, mode: string): Target {
  return {
    socket,
    pid,
    simDir,
    mode,
    tsxenstored: false,
    checkAlive() {
      if (pid !== undefined) {
        try {
          process.kill(pid, 0);
        } catch {
          throw new Error(`the daemon (pid ${pid}) is gone`);
        }
      }
    },
    stop: () => Promise.resolve(),
  };
}
