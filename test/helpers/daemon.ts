/**
 * Test helpers for running the built daemon and external programs.
 *
 *  - startDaemon(): starts dist/src/cli/tsxenstored.js on a fresh socket in a
 *    private temp directory and resolves once the socket accepts connections.
 *  - useDaemon(): the same, registered as before()/after() hooks of the
 *    enclosing test file or suite (the daemon is SIGTERMed in after()).
 *  - run(): runs a command with a timeout, capturing stdout, stderr and exit code.
 *  - spawnLines(): starts a long-running command whose stdout is collected
 *    line by line (watchers), with waitForLine() to poll for a condition.
 *  - waitFor(): polls a condition until it holds or a generous deadline passes.
 *
 * Nothing here measures elapsed time as a test assertion: deadlines only bound
 * how long we wait for a condition that should eventually hold.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listening } from '../../src/server/socket-path.js';

/** Default bound for one external command or one wait. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** The repository root: the nearest ancestor holding the tsxenstored package.json. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const parsed: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && (parsed as { name?: unknown }).name === 'tsxenstored') return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the tsxenstored package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The built daemon's entry point. */
export function daemonScript(): string {
  return join(projectRoot(), 'dist', 'src', 'cli', 'tsxenstored.js');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Used in the error message when the deadline passes. */
  readonly what?: string;
}

/** Polls `cond` until it returns a value other than undefined/false; rejects after the deadline. */
export async function waitFor<T>(cond: () => T | false | undefined | Promise<T | false | undefined>, opts: WaitOptions = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const interval = opts.intervalMs ?? 25;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await sleep(interval);
  }
}

/** Resolves true if a Unix socket at `path` accepts a connection (the daemon's own probe). */
export const canConnect = listening;

// ---- running commands -------------------------------------------------------

export interface RunOptions {
  /** Extra environment variables, on top of process.env. */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string;
  readonly cwd?: string;
}

export interface RunResult {
  /** Exit code, or null if killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True if we killed it because the timeout passed. */
  readonly timedOut: boolean;
}

/** A readable one-line summary of a result, for assertion messages. */
export function explain(cmd: string, r: RunResult): string {
  return `${cmd}: code=${String(r.code)} signal=${String(r.signal)}${r.timedOut ? ' (timed out)' : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

function childEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}

/**
 * Runs `cmd args` to completion (or until the timeout, then SIGKILL).
 * Never rejects because of the exit code; rejects only if the program cannot be started.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
    child.stdin.on('error', () => {
      // The child may exit without reading its input.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** A long-running child whose stdout is split into lines as it arrives. */
export interface LineProcess {
  readonly child: ChildProcess;
  /** Complete stdout lines received so far. */
  readonly lines: readonly string[];
  stderr(): string;
  /** Polls until some line satisfies `pred`; resolves with it. Rejects if the process exits first. */
  waitForLine(pred: (line: string) => boolean, opts?: WaitOptions): Promise<string>;
  /** Resolves when the process has exited (killed after the timeout given to spawnLines). */
  readonly done: Promise<RunResult>;
  /** Sends SIGTERM if still running. */
  kill(): void;
}

export function spawnLines(cmd: string, args: readonly string[], opts: RunOptions = {}): LineProcess {
  const child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stdout = '';
  let stderr = '';
  let exited = false;
  let timedOut = false;
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    stdout += d;
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      lines.push(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  child.stdin?.on('error', () => {
    // ignore EPIPE
  });
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      exited = true;
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      if (partial !== '') {
        lines.push(partial);
        partial = '';
      }
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  // Keep an unobserved rejection from crashing the test file; callers await `done` themselves.
  done.catch(() => undefined);
  return {
    child,
    lines,
    stderr: () => stderr,
    done,
    waitForLine(pred, wopts = {}) {
      return waitFor(
        () => {
          const hit = lines.find(pred);
          if (hit !== undefined) return hit;
          if (exited) throw new Error(`${cmd} exited; stdout=${JSON.stringify(stdout)} stderr=${JSON.stringify(stderr)}`);
          return undefined;
        },
        { what: `a matching line from ${cmd} ${args.join(' ')}`, ...wopts },
      );
    },
    kill() {
      if (!exited) child.kill('SIGTERM');
    },
  };
}

// ---- the daemon ---------------------------------------------------------------

export interface DaemonHandle {
  /** The socket path the daemon listens on. */
  readonly socket: string;
  /** Private temp directory holding the socket. */
  readonly dir: string;
  readonly pid: number;
  /** Environment for xenstore-utils / test-xenstore: { XENSTORED_PATH: socket }. */
  readonly env: Readonly<Record<string, string>>;
  /** Whatever the daemon logged so far. */
  log(): string;
  /** True while the process is running. */
  running(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after a grace period), remove the temp directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * Extra daemon command-line arguments. Unless they include --no-sim or
   * --sim-dir, a daemon that has --sim-dir gets one inside its temp directory.
   */
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
}

const LOG_CAP = 1 << 20;

let helpText: Promise<string> | undefined;

/**
 * True if the built daemon's --help lists `--flag`. The command line is still
 * growing; tests use this to pass optional flags only to daemons that have them.
 */
export async function daemonSupports(flag: string): Promise<boolean> {
  helpText ??= run(process.execPath, [daemonScript(), '--help']).then((r) => r.stdout);
  return (await helpText).includes(`--${flag} `) || (await helpText).includes(`--${flag}\n`);
}

/**
 * Flags for isolation: if the daemon runs a simulated Xen in a shared
 * directory (--sim-dir, default under /dev/shm), give this instance its own.
 */
async function isolationArgs(dir: string, args: readonly string[]): Promise<string[]> {
  if (args.includes('--no-sim') || args.includes('--sim-dir')) return [];
  if (await daemonSupports('sim-dir')) return ['--sim-dir', join(dir, 'sim')];
  return [];
}

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of started) c.kill('SIGKILL');
});

/** Starts the built daemon on a fresh socket and waits until the socket accepts. */
export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const script = daemonScript();
  if (!existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  const dir = await mkdtemp(join(tmpdir(), 'tsxs-interop-'));
  const socket = join(dir, 'socket');
  const args = [...(opts.args ?? []), ...(await isolationArgs(dir, opts.args ?? []))];
  const child = spawn(process.execPath, [script, '--socket', socket, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XENSTORED_PATH: socket },
  });
  // A daemon a test forgot to stop (or one a live update started, which
  // inherits nothing from us) must not keep the test file's process alive:
  // don't wait for it, and kill what is left when the file ends.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  started.add(child);
  child.once('exit', () => started.delete(child));
  let log = '';
  const collect = (d: Buffer): void => {
    if (log.length < LOG_CAP) log += d.toString('utf8');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    });
    child.once('error', (e) => {
      log += `spawn error: ${e.message}\n`;
      exit = { code: null, signal: null };
      resolve();
    });
  });

  let stopped = false;
  const handle: DaemonHandle = {
    socket,
    dir,
    pid: child.pid ?? -1,
    env: { XENSTORED_PATH: socket },
    log: () => log,
    running: () => exit === undefined,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (exit === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (exit === undefined) child.kill('SIGKILL');
        }, 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await waitFor(
      async () => {
        if (exit !== undefined) throw new Error(`daemon exited (code ${String(exit.code)}, signal ${String(exit.signal)}): ${log}`);
        return (await canConnect(socket)) || undefined;
      },
      { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, intervalMs: 50, what: `the daemon to accept on ${socket}` },
    );
  } catch (e) {
    await handle.stop();
    throw e;
  }
  return handle;
}

/**
 * A daemon someone else runs (e.g. a reference cxenstored), to check the
 * tests' expectations against it: set TSXS_INTEROP_SOCKET=/path/to/socket.
 * stop() leaves it running.
 */
function externalDaemon(socket: string): DaemonHandle {
  return {
    socket,
    dir: dirname(socket),
    pid: -1,
    env: { XENSTORED_PATH: socket },
    log: () => '',
    running: () => true,
    stop: () => Promise.resolve(),
  };
}

/** What useDaemon() returns: call it inside a test for the running daemon. */
export interface DaemonRef {
  (): DaemonHandle;
  /**
   * Resolves once the daemon accepts connections. Use this in your own
   * before() hooks: Node 20 starts a file's top-level before() hooks without
   * waiting for the previous one to finish.
   */
  ready(): Promise<DaemonHandle>;
}

/**
 * Registers before()/after() hooks that start a daemon for the enclosing file
 * (or suite) and stop it afterwards. Returns a getter valid inside tests.
 * With TSXS_INTEROP_SOCKET set, the tests use that socket's daemon instead.
 */
export function useDaemon(opts: StartOptions = {}): DaemonRef {
  let d: DaemonHandle | undefined;
  let settle: { resolve: (h: DaemonHandle) => void; reject: (e: unknown) => void } | undefined;
  const ready = new Promise<DaemonHandle>((resolve, reject) => {
    settle = { resolve, reject };
  });
  ready.catch(() => undefined); // reported by the before() hook itself
  before(async () => {
    try {
      const external = process.env.TSXS_INTEROP_SOCKET;
      d = external !== undefined && external !== '' ? externalDaemon(external) : await startDaemon(opts);
      settle?.resolve(d);
    } catch (e) {
      settle?.reject(e);
      throw e;
    }
  });
  after(async () => {
    await ready.catch(() => undefined);
    await d?.stop();
  });
  const get = (): DaemonHandle => {
    if (d === undefined) throw new Error('daemon not started (use the getter inside a test, or await ready() in a hook)');
    return d;
  };
  return Object.assign(get, { ready: () => ready });
}
