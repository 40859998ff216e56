/**
 * The daemon's log: one line per event, as JSON (pino's format: one object
 * per line with time, level, msg and fields) or as text, to stderr or to a
 * file chosen at start (--log-file) or at run time (CONTROL logfile).
 *
 * Writes to a file are asynchronous through a bounded buffer (pino's
 * SonicBoom): a slow or full disk drops log lines, counted in `dropped`,
 * and never delays a request. flush() waits for what is buffered (SIGTERM);
 * reopen() starts a new file at the same path (SIGHUP, after logrotate).
 */
import { closeSync, openSync } from 'node:fs';
import { pino, type Logger as Pino } from 'pino';
import sonicBoom from 'sonic-boom';

// A CommonJS module whose default export is the class; its .SonicBoom is the same class, typed.
const { SonicBoom } = sonicBoom;

export type Level = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
/** Extra fields of a structured line (the access log's connection, operation, ...). */
export type Fields = Readonly<Record<string, string | number | boolean | undefined>>;

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };
/** Bytes a file destination may hold while the disk lags; beyond it lines are dropped. */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;

type Destination = InstanceType<typeof SonicBoom>;

/** Checks that `file` can be opened for appending (so a bad path is an error now, not a lost log later). */
export function checkLogFile(file: string): void {
  closeSync(openSync(file, 'a', 0o640));
}

export class Logger {
  private levelValue: Level;
  private fileValue: string | undefined;
  private dest!: Destination;
  private json: Pino | undefined;
  /** Log lines dropped from a full buffer (a disk that cannot keep up), plus failed writes (each may have held several lines). */
  dropped = 0;
  /** Lines were handed to the file's destination since it last said 'drain' (all written) or failed. */
  private unsettled = false;

  constructor(
    level: Level = 'info',
    file?: string,
    readonly format: LogFormat = 'text',
  ) {
    this.levelValue = level;
    this.fileValue = file;
    this.open();
  }

  get level(): Level {
    return this.levelValue;
  }
  set level(l: Level) {
    this.levelValue = l;
    if (this.json !== undefined) this.json.level = l;
  }

  get file(): string | undefined {
    return this.fileValue;
  }

  /** Logs to `file` from now on (undefined: stderr). Throws if the file cannot be opened. */
  setFile(file: string | undefined): void {
    if (file !== undefined) checkLogFile(file);
    const old = this.dest;
    const hadFile = this.fileValue !== undefined;
    this.fileValue = file;
    this.open();
    // end() flushes what the old file still had buffered, then closes it (stderr stays open).
    if (hadFile) old.end();
  }

  private open(): void {
    const file = this.fileValue;
    // SonicBoom itself, not pino.destination(): the latter also flushes synchronously
    // at process exit, which never ends when the disk is full. Exits flush with a
    // bound instead (flush()).
    this.dest =
      file === undefined
        ? new SonicBoom({ fd: 2, sync: true })
        : new SonicBoom({ dest: file, sync: false, append: true, mkdir: false, maxLength: LOG_BUFFER_BYTES });
    this.unsettled = false;
    const dest = this.dest;
    // One write is one line.
    dest.on('drop', () => {
      this.dropped++;
    });
    // A destination that fails (disk gone) must not take the daemon down.
    dest.on('error', () => {
      this.dropped++;
      if (dest === this.dest) this.unsettled = false;
    });
    // An asynchronous destination says 'drain' once everything handed to it is written.
    dest.on('drain', () => {
      if (dest === this.dest) this.unsettled = false;
    });
    this.json =
      this.format === 'json'
        ? pino(
            {
              name: 'tsxenstored',
              level: this.levelValue,
              base: { pid: process.pid },
              timestamp: pino.stdTimeFunctions.isoTime,
              formatters: { level: (label) => ({ level: label }) },
            },
            { write: (line: string) => this.write(line) },
          )
        : undefined;
  }

  enabled(level: Level): boolean {
    return RANK[level] <= RANK[this.levelValue];
  }

  log(level: Level, msg: string, fields?: Fields): void {
    if (!this.enabled(level)) return;
    if (this.json !== undefined) {
      if (fields === undefined) this.json[level](msg);
      else this.json[level](fields, msg);
      return;
    }
    let line = `${new Date().toISOString()} tsxenstored ${level}: ${msg}`;
    if (fields !== undefined) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
    }
    this.write(`${line}\n`);
  }

  private write(line: string): void {
    this.unsettled = true;
    this.dest.write(line);
  }

  /** Starts a new file at the same path (after logrotate moved the old one away). */
  reopen(): void {
    if (this.fileValue === undefined) return;
    try {
      this.dest.reopen();
    } catch {
      this.dropped++;
    }
  }

  /**
   * Resolves once every buffered line has reached the kernel, or after
   * `timeoutMs` (a full or failed disk must not keep the daemon from exiting).
   */
  flush(timeoutMs = 2000): Promise<void> {
    const dest = this.dest;
    // SonicBoom's own flush() answers at once while a write is under way
    // (minLength 0): wait for its 'drain' instead.
    if (this.fileValue === undefined || !this.unsettled) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        dest.off('drain', done);
        dest.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      dest.once('drain', done);
      dest.once('error', done);
    });
  }

  error(msg: string, fields?: Fields): void {
    this.log('error', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.log('warn', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.log('info', msg, fields);
  }
  debug(msg: string, fields?: Fields): void {
    this.log('debug', msg, fields);
  }
}
