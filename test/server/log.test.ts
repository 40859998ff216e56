/**
 * The log file: flush() (what SIGTERM awaits before exiting) resolves only
 * once every line handed over has been written, in both formats, and
 * still ends within its bound when the disk refuses everything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../src/server/log.js';

for (const format of ['text', 'json'] as const) {
  test(`flush() waits until a burst of ${format} lines is all in the file`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsxs-log-'));
    try {
      const file = join(dir, 'log');
      const log = new Logger('info', file, format);
      for (let i = 0; i < 5000; i++) log.info(`line ${i}`, { i });
      log.info('the last line');
      await log.flush();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 5001);
      assert.match(lines.at(-1)!, /the last line/);
      // Nothing pending: the next flush answers at once.
      await log.flush();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('flush() on a disk that refuses every write still ends (within its bound)', async () => {
  const log = new Logger('info', '/dev/full', 'text');
  for (let i = 0; i < 100; i++) log.info(`line ${i}`);
  await log.flush(500);
  assert.ok(log.dropped > 0);
});
