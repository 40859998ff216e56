/**
 * CONTROL commands that write files (dump, history export) do not block the
 * daemon: the command's own connection waits for its answer (and sends
 * nothing else meanwhile, so its replies stay in order), while every other
 * connection is served; a write that fails answers EIO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame } from '../../src/protocol/encoder.js';
import { Op } from '../../src/protocol/op.js';
import { errorName, Harness, payload, type OutFrame } from '../helpers/inproc.js';

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'timed out');
};

test('CONTROL dump answers when the file is written; the connection waits, the others are served', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-deferred-'));
  try {
    const h = new Harness();
    const a = h.connect();
    const b = h.connect();
    a.write('/k', 'v');
    const file = join(dir, 'state');
    // Two requests in one chunk: the dump, then a read that must be answered after it.
    h.daemon.receive(a.conn, Buffer.concat([encodeFrame(Op.CONTROL, 10, 0, payload('dump', file)), encodeFrame(Op.READ, 11, 0, payload('/k'))]));
    h.daemon.flush();
    assert.deepEqual(a.frames(), [], 'nothing yet: the dump is being written, the read waits behind it');
    assert.equal(b.read('/k').toString(), 'v', 'another connection is served meanwhile');
    const got: OutFrame[] = [];
    await until(() => {
      got.push(...a.frames());
      return got.length === 2;
    });
    assert.deepEqual(got.map((f) => f.reqId), [10, 11], 'replies in order');
    assert.equal(got[0]!.payload.toString('latin1'), 'OK\0');
    assert.equal(got[1]!.payload.toString('latin1'), 'v');
    assert.ok(existsSync(file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a dump that cannot be written answers the system\'s errno (ENOENT for a missing directory), and the connection goes on', async () => {
  const h = new Harness();
  const a = h.connect();
  a.send(Op.CONTROL, payload('dump', '/nonexistent-dir/x/state'));
  const got: OutFrame[] = [];
  await until(() => {
    got.push(...a.frames());
    return got.length === 1;
  });
  assert.equal(errorName(got[0]!), 'ENOENT');
  a.write('/after', 'ok');
  assert.equal(a.read('/after').toString(), 'ok');
});
