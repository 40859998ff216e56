/**
 * Minimal leveled logger: one line per event, to stderr or a file chosen at
 * run time (CONTROL logfile). Kept in-house: the daemon logs little and never
 * on the request hot path unless request logging is switched on.
 */
import { appendFileSync } from 'node:fs';

export type Level = 'error' | 'warn' | 'info' | 'debug';
const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export class Logger {
  level: Level;
  file: string | undefined;

  constructor(level: Level = 'info', file?: string) {
    this.level = level;
    this.file = file;
  }

  enabled(level: Level): boolean {
    return RANK[level] <= RANK[this.level];
  }

  log(level: Level, msg: string): void {
    if (!this.enabled(level)) return;
    const line = `${new Date().toISOString()} tsxenstored ${level}: ${msg}\n`;
    if (this.file === undefined) {
      process.stderr.write(line);
      return;
    }
    try {
      appendFileSync(this.file, line);
    } catch {
      process.stderr.write(line);
    }
  }

  error(msg: string): void {
    this.log('error', msg);
  }
  warn(msg: string): void {
    this.log('warn', msg);
  }
  info(msg: string): void {
    this.log('info', msg);
  }
  debug(msg: string): void {
    this.log('debug', msg);
  }
}
