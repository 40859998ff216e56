/**
 * Helpers for the client-library and command-line tests:
 *
 *  - runBytes(): like daemon.ts's run(), but stdout/stderr stay raw bytes
 *    (xenstore-read -R prints values verbatim; byte-for-byte comparisons
 *    must not go through a UTF-8 decoder).
 *  - tsx() / xen(): run `tsxenstore <cmd>` and Xen's `xenstore-<cmd>` against
 *    one daemon, both with stdout a pipe (so the ls width is 80).
 *  - withoutProg(): stderr with the program-name prefix removed, for comparing
 *    the two tools' messages.
 *  - assertNoStackTrace(): the CLI must never show a JavaScript stack.
 *  - mapLimit(): runs async jobs with bounded concurrency (a loaded 2-core box).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULT_TIMEOUT_MS, projectRoot, type DaemonHandle } from './daemon.js';

/** The built command line. */
export function cliScript(): string {
  return join(projectRoot(), 'dist', 'src', 'cli', 'tsxenstore.js');
}

export const XEN_TOOLS = ['read', 'write', 'rm', 'exists', 'list', 'ls', 'chmod', 'watch'] as const;
export type XenTool = (typeof XEN_TOOLS)[number];

export function xenToolPath(tool: XenTool): string {
  return `/usr/bin/xenstore-${tool}`;
}

export interface BytesResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly timedOut: boolean;
}

export interface BytesRunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** Runs a command to completion (SIGKILL after the timeout), keeping its output as bytes. */
export function runBytes(cmd: string, args: readonly string[], opts: BytesRunOptions = {}): Promise<BytesResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
    });
  });
}

/** `tsxenstore --socket <daemon's socket> args...` */
export function tsx(d: DaemonHandle, args: readonly string[], opts: BytesRunOptions = {}): Promise<BytesResult> {
  return runBytes(process.execPath, [cliScript(), '--socket', d.socket, ...args], opts);
}

/** `/usr/bin/xenstore-<tool> args...` with XENSTORED_PATH set to the daemon's socket. */
export function xen(d: DaemonHandle, tool: XenTool, args: readonly string[], opts: BytesRunOptions = {}): Promise<BytesResult> {
  return runBytes(xenToolPath(tool), args, { ...opts, env: { ...d.env, ...opts.env } });
}

/** A printable account of a result, for assertion messages. */
export function explainBytes(cmd: string, r: BytesResult): string {
  return (
    `${cmd}: code=${String(r.code)} signal=${String(r.signal)}${r.timedOut ? ' (timed out)' : ''}\n` +
    `--- stdout ---\n${JSON.stringify(r.stdout.toString('latin1'))}\n--- stderr ---\n${JSON.stringify(r.stderr.toString('latin1'))}`
  );
}

/** stderr (as latin1, so every byte survives) with `xenstore-xxx: ` / `tsxenstore: ` line prefixes removed. */
export function withoutProg(stderr: Buffer): string {
  return stderr.toString('latin1').replace(/^(?:xenstore-[a-z]+|xenstore|tsxenstore): /gm, '');
}

const STACK_SIGNS: readonly RegExp[] = [
  /^\s+at\s.+/m, // a stack frame
  /node:internal/,
  /\b(?:TypeError|RangeError|ReferenceError|SyntaxError|AssertionError)\b/,
  /\bXenStoreError\b/,
  /internal error/,
];

/** Fails if stderr looks like an uncaught JavaScript error. */
export function assertNoStackTrace(what: string, r: BytesResult): void {
  const text = r.stderr.toString('utf8');
  for (const re of STACK_SIGNS) assert.doesNotMatch(text, re, `${what}: stderr shows a JavaScript error\n${text}`);
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
