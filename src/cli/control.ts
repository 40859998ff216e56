/**
 * `tsxenstore control`: xenstore-control's behaviour (docs/cli-compat.md §9):
 * the reply text up to its NUL on stdout; EINVAL shows the daemon's command
 * list; exit 0 on success, 3 when the command failed.
 */
import type { XenStoreClient } from '../client/client.js';
import { XenStoreError } from '../client/errors.js';
import { ERRNO_NUMBER } from './escape.js';

export interface ControlIo {
  out(s: string): void;
  err(s: string): void;
}

export async function control(xs: XenStoreClient, io: ControlIo, args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  try {
    const reply = await xs.control(cmd ?? '', ...rest);
    if (reply !== '') io.out(`${reply}\n`);
    return 0;
  } catch (e) {
    const code = e instanceof XenStoreError ? e.code : 'EINVAL';
    if (code === 'EINVAL' || ERRNO_NUMBER[code] === undefined) {
      try {
        const help = await xs.control('help');
        io.err(`Command not supported. Valid commands are:\n${help}\n`);
      } catch {
        io.err('Error when executing command.\n');
      }
      return 3;
    }
    io.err(`Error ${ERRNO_NUMBER[code]} when trying to execute command.\n`);
    return 3;
  }
}
