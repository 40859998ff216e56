/**
 * Shared bits for the pyxs-based tests: Debian's /usr/bin/python3 (the pyenv
 * python3 first on PATH has no pyxs) and the driver script pyxs_checks.py,
 * which stays in the source tree (tsc does not copy it to dist/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../helpers/daemon.js';

export const PYTHON = '/usr/bin/python3';
export const PYXS_SCRIPT = join(projectRoot(), 'test', 'interop', 'pyxs_checks.py');

/** false if pyxs can be used, else why not (for `{ skip }`). */
export function pyxsUnavailable(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  if (!existsSync(PYXS_SCRIPT)) return `${PYXS_SCRIPT} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import pyxs'], { timeout: 60_000, encoding: 'utf8' });
  if (r.status !== 0) return `pyxs not importable by ${PYTHON} (install python3-pyxs): ${r.stderr}`;
  return false;
}

/** Parses the script's JSON lines; non-JSON lines are returned as { raw }. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v: unknown = JSON.parse(line);
      out.push(typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { raw: line });
    } catch {
      out.push({ raw: line });
    }
  }
  return out;
}
