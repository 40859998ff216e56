/**
 * The configuration file: its lines become options (the command line wins),
 * and unknown keys, malformed lines, repeated keys and bad values are refused
 * at start with the file, the line and the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/client/client.js';
import { ConfigError, parseConfig } from '../../src/cli/config-file.js';
import { daemonScript, run, startDaemon } from '../helpers/daemon.js';

const OPTIONS = { socket: { type: 'string' }, 'keep-orphans': { type: 'boolean' }, quota: { type: 'string', multiple: true }, help: { type: 'boolean' } } as const;
const LIMITS = ['nodes', 'node-size'];

test('lines become options: long options, booleans and limits; comments and blank lines are ignored', () => {
  const text = '# a comment\n\nsocket = /run/xs.sock   # trailing comment\nkeep-orphans = true\nnodes=2000\nnode-size = 4096\n';
  assert.deepEqual(parseConfig(text, 'f', OPTIONS, LIMITS), ['--socket=/run/xs.sock', '--keep-orphans', '--quota', 'nodes=2000', '--quota', 'node-size=4096']);
  assert.deepEqual(parseConfig('keep-orphans = false\n', 'f', OPTIONS, LIMITS), []);
});

test('bad lines are refused with the file, the line and the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['bogus = 1\n', /^f:1: unknown key "bogus"/],
    ['\nsocket /x\n', /^f:2: expected "key = value"/],
    ['socket = /a\nsocket = /b\n', /^f:2: socket is already set on line 1/],
    ['keep-orphans = yes\n', /^f:1: keep-orphans is true or false, got "yes"/],
    ['socket =\n', /^f:1: socket needs a value/],
    ['help = true\n', /^f:1: unknown key "help"/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseConfig(text, 'f', OPTIONS, LIMITS), (e: unknown) => e instanceof ConfigError && re.test(e.message), text);
});

test('the daemon reads --config; the command line wins; a bad file stops the start with its reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-config-'));
  try {
    const file = join(dir, 'tsxenstored.conf');
    writeFileSync(file, 'nodes = 1234\nnode-size = 3000\nlog-format = json\n');
    const d = await startDaemon({ args: ['--config', file, '-Q', 'node-size=3001'] });
    try {
      const xs = await connect({ path: d.socket });
      const q = await xs.control('quota');
      assert.match(q, /nodes\s+:\s+1234 /);
      assert.match(q, /node-size\s+:\s+3001 /, 'the command line wins');
      xs.close();
      assert.match(d.log(), /^\{.*"msg":"listening on/m, 'log-format from the file');
    } finally {
      await d.stop();
    }
    writeFileSync(file, 'nodes = 12\nno-such-key = 1\n');
    const r = await run(process.execPath, [daemonScript(), '--config', file, '--socket', join(dir, 's')], { timeoutMs: 30_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /tsxenstored\.conf:2: unknown key "no-such-key"/);
    writeFileSync(file, 'nodes = many\n');
    const r2 = await run(process.execPath, [daemonScript(), '--config', file, '--socket', join(dir, 's')], { timeoutMs: 30_000 });
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /nodes needs a non-negative integer, got "many"/);
    const r3 = await run(process.execPath, [daemonScript(), '--config', join(dir, 'missing.conf'), '--socket', join(dir, 's')], { timeoutMs: 30_000 });
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /cannot read .*missing\.conf: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
