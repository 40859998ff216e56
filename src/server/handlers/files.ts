/**
 * Files that CONTROL commands write on the daemon's host (dump, history
 * export): written asynchronously, so other connections are served meanwhile;
 * the command answers when the file is written (Request.defer).
 */
import { writeFile } from 'node:fs/promises';
import { systemErrno, XsError } from '../../protocol/errno.js';

/**
 * Writes a file for a command (on the daemon's host) without blocking the
 * daemon: the reply comes when the write is done; a failure answers the
 * system's errno where XenStore has it (ENOENT, EACCES, ENOSPC, ...), else EIO.
 */
export async function writeOut(file: string, data: string | Buffer): Promise<string> {
  try {
    await writeFile(file, data);
  } catch (e) {
    throw new XsError(systemErrno(e), `${file}: ${(e as Error).message}`);
  }
  return 'OK';
}
