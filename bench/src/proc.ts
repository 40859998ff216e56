/**
 * What Linux tells about a process: CPU time from /proc/PID/stat (all
 * threads, in clock ticks), resident and peak resident memory from
 * /proc/PID/status (VmRSS, VmHWM), resetting the peak through clear_refs;
 * and CPU pinning with taskset(1).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

let ticks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK, 100 on Linux). */
export function clockTicks(): number {
  if (ticks !== undefined) return ticks;
  try {
    ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    ticks = 100;
  }
  return ticks;
}

export interface ProcSample {
  /** utime + stime of every thread, seconds. */
  readonly cpuS: number;
  readonly rssKiB: number;
  readonly hwmKiB: number;
}

/** utime + stime of `pid` in seconds, or undefined if it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

function statusKiB(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return m === null ? Number.NaN : Number(m[1]);
}

export function sample(pid: number): ProcSample | undefined {
  const cpuS = cpuSeconds(pid);
  if (cpuS === undefined) return undefined;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  return { cpuS, rssKiB: statusKiB(status, 'VmRSS'), hwmKiB: statusKiB(status, 'VmHWM') };
}

/** Resets VmHWM to the current RSS (echo 5 > clear_refs); false if not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

let tasksetOk: boolean | undefined;

export function haveTaskset(): boolean {
  tasksetOk ??= spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
  return tasksetOk;
}

/** Pins every thread of `pid` to `cpus` (e.g. "0"); false if taskset is missing or refused. */
export function pin(pid: number, cpus: string): boolean {
  if (!haveTaskset()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
}

/** Busy and total CPU seconds of the whole host (all CPUs) from /proc/stat. */
export function hostCpu(): { busyS: number; totalS: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'latin1');
  } catch {
    return undefined;
  }
  const line = text.slice(0, text.indexOf('\n'));
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest times are already in user)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  let total = 0;
  for (let i = 0; i < Math.min(8, v.length); i++) total += v[i] ?? 0;
  return { busyS: (total - idle) / clockTicks(), totalS: total / clockTicks() };
}
