/**
 * server/native-io.ts on real sockets, in this process: observers hear
 * batchStarted and batchServed around each turn's input (the daemon sends
 * the replies it produced at batchServed), every datum inside such a batch,
 * and an observer that stopped observing hears nothing.
 * Skipped when the addon is not built.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fdOf } from '../../src/server/fd.js';
import { AddonMissingError } from '../../src/server/native-addon.js';
import { NativeIo, type NativeSocket } from '../../src/server/native-io.js';

function nativeIo(): NativeIo | undefined {
  try {
    return NativeIo.get();
  } catch (e) {
    if (e instanceof AddonMissingError) return undefined;
    throw e;
  }
}

const io = nativeIo();
const waitFor = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
};

test('observers hear batchStarted and batchServed around each turn\'s input; after unobserving, nothing', { skip: io === undefined ? 'xsio addon not built' : false }, async () => {
  const nio = io!;
  const dir = mkdtempSync(join(tmpdir(), 'xsio-test-'));
  const log: string[] = [];
  const natives: NativeSocket[] = [];
  const server: Server = createServer({ pauseOnConnect: true }, (s) => {
    const own = nio.dup(fdOf(s)!);
    s.destroy();
    const n = natives.length;
    natives.push(nio.open(own, { data: (c) => log.push(`data${n}:${c.toString()}`), end: () => log.push(`end${n}`), drained: () => undefined }));
  });
  await new Promise<void>((r) => server.listen(join(dir, 'sock'), r));
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const c = connect(join(dir, 'sock'));
      await new Promise<void>((r) => c.once('connect', r));
      clients.push(c);
    }
    await waitFor('both connections', () => natives.length === 2);
    const unobserve = nio.observe({ batchStarted: () => log.push('begin'), batchServed: () => log.push('end') });

    clients[0]!.write('hello');
    await waitFor('the first batch', () => log.includes('end'));
    assert.deepEqual(log, ['begin', 'data0:hello', 'end']);

    // Two connections at once: whether one turn or two read them, each datum is inside a batch.
    log.length = 0;
    clients[0]!.write('a');
    clients[1]!.write('b');
    await waitFor('the data of both', () => log.filter((l) => l.startsWith('data')).length === 2);
    await waitFor('the end of the batch', () => log[log.length - 1] === 'end');
    assert.equal(log[0], 'begin');
    assert.equal(log.filter((l) => l === 'begin').length, log.filter((l) => l === 'end').length, `every batch ends: ${log.join(' ')}`);
    assert.ok(
      log.every((l, i) => !l.startsWith('data') || log.lastIndexOf('begin', i) > log.lastIndexOf('end', i)),
      `every datum inside a batch: ${log.join(' ')}`,
    );

    unobserve();
    log.length = 0;
    clients[1]!.write('c');
    await waitFor('the data after unobserving', () => log.length > 0);
    assert.deepEqual(log, ['data1:c'], 'no batch is announced to an observer that left');
  } finally {
    for (const c of clients) c.destroy();
    for (const n of natives) n.close();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
