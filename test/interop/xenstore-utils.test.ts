/**
 * Interop: Xen's own command-line clients (Debian xenstore-utils) against the
 * built daemon. Expected outputs were checked against the reference
 * cxenstored and oxenstored (see /work/shared/refdaemons), which print the
 * same text for every case here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { explain, run, spawnLines, useDaemon, type RunResult } from '../helpers/daemon.js';

const BIN = '/usr/bin';
const TOOLS = ['read', 'write', 'ls', 'rm', 'list', 'exists', 'chmod', 'watch'] as const;
type Tool = (typeof TOOLS)[number];
const missing = TOOLS.filter((t) => !existsSync(`${BIN}/xenstore-${t}`));
const skip = missing.length > 0 ? `xenstore-utils not installed (missing: ${missing.join(', ')})` : false;

const daemon = useDaemon();

function xs(tool: Tool, ...args: string[]): Promise<RunResult> {
  return run(`${BIN}/xenstore-${tool}`, args, { env: daemon().env });
}

/** Runs a tool and asserts it exited 0; returns its stdout. */
async function ok(tool: Tool, ...args: string[]): Promise<string> {
  const r = await xs(tool, ...args);
  assert.equal(r.code, 0, explain(`xenstore-${tool} ${args.join(' ')}`, r));
  return r.stdout;
}

/** Builds the small tree used by the ls tests, under `base`. */
async function buildTree(base: string): Promise<void> {
  await ok('write', `${base}/a`, 'hello', `${base}/b`, 'with space', `${base}/b/c`, 'deep', `${base}/e`, '');
}

test('write/read round trip: plain, with spaces, empty', { skip }, async () => {
  await ok('write', '/rt/plain', 'hello', '/rt/spaces', 'a value  with   spaces', '/rt/empty', '');
  assert.equal(await ok('read', '/rt/plain'), 'hello\n');
  assert.equal(await ok('read', '/rt/spaces'), 'a value  with   spaces\n');
  assert.equal(await ok('read', '/rt/empty'), '\n');
  // Several paths in one call: one line each, in order.
  assert.equal(await ok('read', '/rt/plain', '/rt/empty', '/rt/spaces'), 'hello\n\na value  with   spaces\n');
  // Overwrite.
  await ok('write', '/rt/plain', 'again');
  assert.equal(await ok('read', '/rt/plain'), 'again\n');
});

test('write of a relative path lands under /local/domain/0', { skip }, async () => {
  await ok('write', 'relnode', 'rel-value');
  assert.equal(await ok('read', '/local/domain/0/relnode'), 'rel-value\n');
  assert.equal(await ok('read', 'relnode'), 'rel-value\n');
});

test('control characters are escaped by xenstore-read', { skip }, async () => {
  await ok('write', '/esc/v', 'tab\there\nnewline');
  assert.equal(await ok('read', '/esc/v'), 'tab\\there\\nnewline\n');
  assert.equal(await ok('ls', '-f', '/esc'), '/esc/v = "tab\\there\\nnewline"\n');
});

test('reading a missing node fails with a message', { skip }, async () => {
  const r = await xs('read', '/no/such/node');
  assert.notEqual(r.code, 0, explain('xenstore-read /no/such/node', r));
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /couldn't read path \/no\/such\/node/);
  // A missing node among present ones: the earlier value is printed, then the failure.
  await ok('write', '/partial/a', 'A');
  const p = await xs('read', '/partial/a', '/partial/missing');
  assert.equal(p.code, 1, explain('xenstore-read /partial/a /partial/missing', p));
  assert.equal(p.stdout, 'A\n');
  assert.match(p.stderr, /couldn't read path \/partial\/missing/);
});

test('xenstore-ls prints the tree (plain, -f)', { skip }, async () => {
  await buildTree('/lstree');
  assert.equal(await ok('ls', '/lstree'), ['a = "hello"', 'b = "with space"', ' c = "deep"', 'e = ""', ''].join('\n'));
  assert.equal(await ok('ls', '-f', '/lstree'), ['/lstree/a = "hello"', '/lstree/b = "with space"', '/lstree/b/c = "deep"', '/lstree/e = ""', ''].join('\n'));
  // Without a path: the whole tree, including our subtree indented under its parent.
  const all = await ok('ls');
  assert.match(all, /^lstree = ""\n a = "hello"\n b = "with space"\n  c = "deep"\n e = ""\n/m);
  assert.match(all, /^tool = ""\n/m);
});

test('xenstore-ls of a missing path fails', { skip }, async () => {
  const r = await xs('ls', '/no/such/dir');
  assert.equal(r.code, 1, explain('xenstore-ls /no/such/dir', r));
  assert.match(r.stderr, /xs_directory \(\/no\/such\/dir\): No such file or directory/);
});

test('xenstore-chmod, then xenstore-ls -p / -fp show the permissions', { skip }, async () => {
  await buildTree('/perm');
  await ok('chmod', '/perm/a', 'n0', 'r5');
  await ok('chmod', '/perm/b', 'n1', 'r2', 'w3');
  // -p pads with ". " to the terminal width (80 for a pipe); check the shape, not the exact padding.
  const lines = (await ok('ls', '-p', '/perm')).split('\n');
  assert.equal(lines.length, 5, JSON.stringify(lines));
  assert.match(lines[0] ?? '', /^a = "hello" [ .]*\(n0,r5\)$/);
  assert.match(lines[1] ?? '', /^b = "with space" [ .]*\(n1,r2,w3\)$/);
  assert.match(lines[2] ?? '', /^ c = "deep" [ .]*\(n0\)$/);
  assert.match(lines[3] ?? '', /^e = "" [ .]*\(n0\)$/);
  assert.equal(lines[4], '');
  assert.equal(
    await ok('ls', '-f', '-p', '/perm'),
    ['/perm/a = "hello"   (n0,r5)', '/perm/b = "with space"   (n1,r2,w3)', '/perm/b/c = "deep"   (n0)', '/perm/e = ""   (n0)', ''].join('\n'),
  );
  // -r applies to the whole subtree.
  await ok('chmod', '-r', '/perm', 'n0', 'r7');
  assert.equal(
    await ok('ls', '-f', '-p', '/perm'),
    ['/perm/a = "hello"   (n0,r7)', '/perm/b = "with space"   (n0,r7)', '/perm/b/c = "deep"   (n0,r7)', '/perm/e = ""   (n0,r7)', ''].join('\n'),
  );
  // chmod of a missing node fails.
  const r = await xs('chmod', '/perm/missing/deeper', 'n0');
  assert.equal(r.code, 1, explain('xenstore-chmod /perm/missing/deeper n0', r));
  assert.match(r.stderr, /No such file or directory/);
});

test('xenstore-list', { skip }, async () => {
  await buildTree('/lst');
  assert.equal(await ok('list', '/lst'), 'a\nb\ne\n');
  assert.equal(await ok('list', '/lst/b'), 'c\n');
  assert.equal(await ok('list', '/lst/a'), '');
  const r = await xs('list', '/lst/missing');
  assert.equal(r.code, 1, explain('xenstore-list /lst/missing', r));
  assert.match(r.stderr, /could not list path \/lst\/missing/);
});

test('xenstore-exists exit codes', { skip }, async () => {
  await ok('write', '/ex/here', 'x');
  const yes = await xs('exists', '/ex/here');
  assert.equal(yes.code, 0, explain('xenstore-exists /ex/here', yes));
  const parent = await xs('exists', '/ex');
  assert.equal(parent.code, 0, explain('xenstore-exists /ex', parent));
  const no = await xs('exists', '/ex/not-here');
  assert.equal(no.code, 1, explain('xenstore-exists /ex/not-here', no));
  const deep = await xs('exists', '/ex/not/here/either');
  assert.equal(deep.code, 1, explain('xenstore-exists /ex/not/here/either', deep));
});

test('xenstore-rm removes nodes and subtrees', { skip }, async () => {
  await buildTree('/rmt');
  await ok('rm', '/rmt/e');
  assert.equal((await xs('exists', '/rmt/e')).code, 1);
  await ok('rm', '/rmt/b'); // recursive
  assert.equal((await xs('exists', '/rmt/b')).code, 1);
  assert.equal((await xs('exists', '/rmt/b/c')).code, 1);
  assert.equal(await ok('list', '/rmt'), 'a\n');
  // A missing node whose parent exists: OK. A missing parent: failure.
  await ok('rm', '/rmt/never-was');
  const r = await xs('rm', '/rmt/no-parent/child');
  assert.equal(r.code, 1, explain('xenstore-rm /rmt/no-parent/child', r));
  assert.match(r.stderr, /could not remove path \/rmt\/no-parent\/child/);
});

test('xenstore-rm -t also removes empty, valueless parents', { skip }, async () => {
  await ok('write', '/tidy/x/y/z', '1', '/tidy/keep', 'k');
  await ok('rm', '-t', '/tidy/x/y/z');
  assert.equal((await xs('exists', '/tidy/x/y')).code, 1, '/tidy/x/y should be gone');
  assert.equal((await xs('exists', '/tidy/x')).code, 1, '/tidy/x should be gone');
  assert.equal(await ok('list', '/tidy'), 'keep\n');
  // A parent that has a value is kept.
  await ok('write', '/tidy2/v', 'has-value', '/tidy2/v/leaf', '1');
  await ok('rm', '-t', '/tidy2/v/leaf');
  assert.equal(await ok('read', '/tidy2/v'), 'has-value\n');
  assert.equal(await ok('list', '/tidy2/v'), '');
});

test('xenstore-watch -n 2 sees a write by another client', { skip }, async () => {
  const path = '/watched';
  const w = spawnLines(`${BIN}/xenstore-watch`, ['-n', '2', path], { env: daemon().env });
  try {
    // The first event is the watched path itself: once we see it, the watch is registered.
    await w.waitForLine((l) => l === path);
    await ok('write', `${path}/child`, 'v');
    const r = await w.done;
    assert.equal(r.code, 0, explain('xenstore-watch -n 2 /watched', r));
    assert.deepEqual(w.lines, [path, `${path}/child`]);
  } finally {
    w.kill();
  }
});
