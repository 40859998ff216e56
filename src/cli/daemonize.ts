/**
 * How tsxenstored starts as a system daemon: --fork (what Xen's init scripts
 * expect of XENSTORED) and systemd readiness.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from '../server/log.js';

/**
 * --fork: runs the daemon as a detached child (same arguments, without
 * --fork) and returns once it is ready (listening, pid file written), with
 * its status: what Xen's init scripts expect of XENSTORED, as C xenstored
 * forks unless -N. A child that exits before it is ready fails the start.
 */
export async function forkAndWait(outputPid: boolean, hasLogFile: boolean): Promise<void> {
  const argv = process.argv.slice(2).filter((a) => a !== '--fork');
  // A daemon keeps none of its starter's terminals or pipes (an init script that
  // pipes its output would otherwise never see it end): without a log file (on the
  // command line or in --config's file), it logs to one, as C xenstored logs to syslog.
  if (!hasLogFile) argv.push('--log-file', existsSync('/var/log/xen') ? '/var/log/xen/tsxenstored.log' : '/var/log/tsxenstored.log');
  const child = spawn(process.execPath, [process.argv[1]!, ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, TSXENSTORED_FORKED: '1' },
  });
  // Until it is ready, what the daemon says on stderr (a failed start) is ours to show.
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  const outcome = await new Promise<number>((resolve) => {
    child.once('message', (m) => resolve(m === 'ready' ? 0 : 1));
    child.once('error', (e) => {
      process.stderr.write(`tsxenstored: cannot start the daemon: ${e.message}\n`);
      resolve(1);
    });
    child.once('exit', (code) => {
      process.stderr.write(`tsxenstored: the daemon exited before it was ready (code ${String(code)})\n`);
      resolve(code === 0 || code === null ? 1 : code);
    });
  });
  if (outcome === 0) {
    if (outputPid) process.stdout.write(`${String(child.pid)}\n`);
    child.stderr?.destroy();
    child.disconnect();
    child.unref();
  }
  process.exit(outcome);
}

/**
 * Under systemd (Xen's xenstored.service is Type=notify, NotifyAccess=all),
 * says READY=1 through systemd-notify, as C xenstored does with sd_notify.
 */
export function notifySystemd(logger: Logger): void {
  if (process.env.NOTIFY_SOCKET === undefined) return;
  execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], (e) => {
    if (e !== null) logger.warn(`systemd-notify --ready failed: ${e.message}`);
  });
}
