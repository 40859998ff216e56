/**
 * Setup done by a worker on its own connections before it reports ready:
 * write keys (pipelined), all replies awaited and checked.
 */
import { Op } from '../../../src/protocol/op.js';
import type { RawConn } from '../raw-conn.js';
import { errnoOf } from '../raw-conn.js';

/** Writes each NUL-terminated path in `keys` with value "0", 256 at a time; rejects on any error reply. */
export async function writeKeys(conn: RawConn, keys: readonly Buffer[]): Promise<void> {
  const value = Buffer.from('0', 'latin1');
  for (let i = 0; i < keys.length; i += 256) {
    const chunk = keys.slice(i, i + 256);
    await new Promise<void>((resolve, reject) => {
      let left = chunk.length;
      conn.onChunkDone(() => undefined);
      conn.onClose(() => reject(new Error('the daemon closed the connection during setup')));
      conn.onFrame((type, _reqId, _txId, payload) => {
        if (type === Op.WATCH_EVENT) return;
        if (type !== Op.WRITE) return reject(new Error(`setup write failed: ${type === Op.ERROR ? errnoOf(payload) : `reply type ${type}`}`));
        if (--left === 0) resolve();
      });
      for (const k of chunk) conn.send(Op.WRITE, 0, Buffer.concat([k, value]));
      conn.flush();
    });
  }
}
