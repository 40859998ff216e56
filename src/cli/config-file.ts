/**
 * The daemon's configuration file (--config FILE): one `key = value` per
 * line, `#` starts a comment, blank lines are ignored. A key is either a long
 * option of tsxenstored (socket, durable, log-file, log-format, backend,
 * metrics-listen, ...; booleans take true or false) or the name of a limit
 * from --help's table (nodes, node-size, history, ...). The command line
 * wins over the file. Unknown keys and malformed lines are refused with the
 * file, line and reason.
 */
import { readFileSync } from 'node:fs';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
}

/** Options that make no sense in a file: they are about this one invocation. */
const NOT_IN_FILE = new Set(['config', 'help', 'version', 'fork', 'live-update-state', 'restore', 'output-pid']);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads `file` into command-line arguments to put before the real ones
 * (parseArgs keeps the last value of an option, so the command line wins).
 */
export function configArgs(file: string, options: Readonly<Record<string, OptionSpec>>, limits: readonly string[]): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseConfig(text, file, options, limits);
}

export function parseConfig(text: string, file: string, options: Readonly<Record<string, OptionSpec>>, limits: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const m = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) throw new ConfigError(`${where}: expected "key = value", got ${JSON.stringify(raw.trim())}`);
    const key = m[1]!;
    const value = m[2]!.trim();
    const spec = Object.hasOwn(options, key) ? options[key] : undefined;
    const isLimit = limits.includes(key);
    if ((spec === undefined && !isLimit) || NOT_IN_FILE.has(key)) {
      throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)} (a long option of tsxenstored or a limit name; see tsxenstored --help)`);
    }
    const before = seen.get(key);
    if (before !== undefined && spec?.multiple !== true) throw new ConfigError(`${where}: ${key} is already set on line ${before}`);
    seen.set(key, i + 1);
    if (value === '') throw new ConfigError(`${where}: ${key} needs a value`);
    if (isLimit && spec === undefined) {
      out.push('--quota', `${key}=${value}`);
    } else if (spec!.type === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new ConfigError(`${where}: ${key} is true or false, got ${JSON.stringify(value)}`);
      if (value === 'true') out.push(`--${key}`);
    } else {
      out.push(`--${key}=${value}`);
    }
  });
  return out;
}
