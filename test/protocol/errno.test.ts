// errno.ts: XsError carries the errno, errorPayload is "ENAME\0" on the wire,
// isErrno recognises exactly the xs_wire.h names.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ERRNO_NAMES, errorPayload, isErrno, XsError, type Errno } from '../../src/protocol/errno.js';

test('errorPayload is the errno name followed by one NUL', () => {
  for (const e of ERRNO_NAMES) {
    const b = errorPayload(e);
    assert.equal(b.toString('latin1'), `${e}\0`);
    assert.equal(b.length, e.length + 1);
  }
  assert.deepEqual([...errorPayload('EINVAL')], [...Buffer.from('EINVAL'), 0]);
});

test('errorPayload rejects an unknown name', () => {
  assert.throws(() => errorPayload('EWHAT' as Errno), /unknown errno/);
});

test('XsError keeps errno and detail', () => {
  const plain = new XsError('ENOENT');
  assert.equal(plain.errno, 'ENOENT');
  assert.equal(plain.message, 'ENOENT');
  assert.equal(plain.name, 'XsError');
  const detailed = new XsError('EACCES', 'no way');
  assert.equal(detailed.errno, 'EACCES');
  assert.equal(detailed.message, 'EACCES: no way');
  assert.ok(detailed instanceof Error);
});

test('XsError captures no stack trace, and leaves the stack trace limit as it found it', () => {
  const before = Error.stackTraceLimit;
  const e = new XsError('EAGAIN', 'conflict');
  assert.equal(e.stack, 'XsError: EAGAIN: conflict', 'no frames');
  assert.equal(Error.stackTraceLimit, before);
  assert.match(new Error('bug').stack ?? '', /\n\s+at /, 'other errors keep theirs');
});

test('isErrno accepts the xs_wire.h names only', () => {
  assert.ok(isErrno('EAGAIN'));
  assert.ok(isErrno('E2BIG'));
  assert.ok(!isErrno('eagain'));
  assert.ok(!isErrno('ENOTDIR'));
  assert.ok(!isErrno(''));
  assert.equal(ERRNO_NAMES.length, 16);
});
