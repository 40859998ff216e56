/**
 * `tsxenstore control`: xenstore-control's behaviour (docs/cli-compat.md §9):
 * the reply text up to its NUL on stdout; EINVAL of an unknown command shows
 * the daemon's command list; exit 0 on success, 3 when the command failed.
 * Where xenstore-control says less, on purpose: EINVAL of a command the
 * daemon has says its arguments were wrong and shows its usage (the daemon's
 * log names the argument), and other errors add the errno's name.
 */
import type { XenStoreClient } from '../client/client.js';
import { XenStoreError } from '../client/errors.js';
import { ERRNO_NUMBER, strerror } from './escape.js';

/** The usage the daemon's `help` gives for `cmd` ("name\tusage" lines), or undefined if it has no such command. */
function usageOf(help: string, cmd: string): string | undefined {
  for (const line of help.split('\n')) {
    const tab = line.indexOf('\t');
    const name = tab < 0 ? line.trim() : line.slice(0, tab);
    if (name === cmd) return tab < 0 ? '' : line.slice(tab + 1);
  }
  return undefined;
}

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
      let help: string;
      try {
        help = await xs.control('help');
      } catch {
        io.err('Error when executing command.\n');
        return 3;
      }
      const usage = cmd === undefined || cmd === '' ? undefined : usageOf(help, cmd);
      if (usage !== undefined) io.err(`Invalid arguments for ${cmd}: ${[cmd, ...rest].join(' ')}\nUsage: ${cmd} ${usage}\n(the daemon's log says which argument was wrong)\n`);
      else io.err(`Command not supported. Valid commands are:\n${help}\n`);
      return 3;
    }
    io.err(`Error ${ERRNO_NUMBER[code]} when trying to execute command. (${code}: ${strerror(code)})\n`);
    return 3;
  }
}
