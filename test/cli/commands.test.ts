/**
 * `tsxenstore` commands that change the store (write, rm, chmod), watch,
 * control, --json, --help, usage errors and an unreachable daemon. Where Xen
 * 4.17 has the same tool, the result is compared with what the real tool
 * does to the same store (docs/cli-compat.md); elsewhere with the spec's
 * rules and tsxenstore's documented differences. No failure may show a
 * JavaScript stack trace.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm as rmDir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type XenStoreClient } from '../../src/index.js';
import { spawnLines, startDaemon, useDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';
import {
  assertNoStackTrace,
  cliScript,
  explainBytes as explain,
  mapLimit,
  runBytes,
  tsx,
  withoutProg,
  xen,
  xenToolPath,
  XEN_TOOLS,
  type BytesResult,
} from '../helpers/cli.js';

const missing = XEN_TOOLS.filter((t) => !existsSync(xenToolPath(t)));
const skip = missing.length > 0 ? `xenstore-utils missing: ${missing.join(', ')}` : false;

const daemon = useDaemon();

/** tsxenstore on the file's daemon; every run is checked for stack traces. */
async function ts(...args: string[]): Promise<BytesResult> {
  const r = await tsx(daemon(), args);
  assertNoStackTrace(`tsxenstore ${args.join(' ')}`, r);
  return r;
}

async function withClient<T>(fn: (c: XenStoreClient) => Promise<T>): Promise<T> {
  const c = await connect({ path: daemon().socket });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

function ok(what: string, r: BytesResult): void {
  assert.equal(r.code, 0, explain(what, r));
}

/** The lines of `xenstore-ls -f -p /` about nodes under any of `prefixes`: a snapshot of values and perms. */
async function snapshot(prefixes: readonly string[]): Promise<string> {
  const r = await xen(daemon(), 'ls', ['-f', '-p', '/']);
  ok('xenstore-ls -f -p /', r);
  return r.stdout
    .toString('latin1')
    .split('\n')
    .filter((l) => prefixes.some((p) => l.startsWith(`${p}/`) || l.startsWith(`${p} `)))
    .join('\n');
}

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly after: string;
}

/**
 * Runs the same command once with Xen's tool and once with tsxenstore, each
 * time on a freshly built copy of the same nodes, and returns both outcomes
 * (exit code, output, stderr without the prefix, and the nodes afterwards).
 */
async function sameEffect(tool: 'rm' | 'chmod' | 'write', args: readonly string[], prefixes: readonly string[], setup: (c: XenStoreClient) => Promise<void>): Promise<{ xen: Outcome; ts: Outcome }> {
  const once = async (runIt: () => Promise<BytesResult>): Promise<Outcome> => {
    await withClient(async (c) => {
      for (const p of prefixes) await c.rm(p).catch(() => undefined);
      await setup(c);
    });
    const r = await runIt();
    return { code: r.code, stdout: r.stdout.toString('latin1'), stderr: withoutProg(r.stderr), after: await snapshot(prefixes) };
  };
  const x = await once(() => xen(daemon(), tool, args));
  const t = await once(() => ts(tool, ...args));
  return { xen: x, ts: t };
}

async function writeAll(c: XenStoreClient, entries: Record<string, string>): Promise<void> {
  for (const [p, v] of Object.entries(entries)) await c.write(p, v);
}

// ---- write ----------------------------------------------------------------------------

/** Arguments for xenstore-write's unescaping (docs/cli-compat.md §4.2), with the bytes the spec says they store. */
const ESCAPES: ReadonlyArray<readonly [string, number[] | undefined]> = [
  ['plain', [...Buffer.from('plain')]],
  ['', []],
  ['\\t\\n\\r', [9, 10, 13]],
  ['back\\\\slash', [...Buffer.from('back\\slash')]],
  ['\\x41', [0x41]],
  ['\\x4g', [0x04, 0x67]],
  ['\\xfff', [0xff, 0x66]],
  ['\\xZZ', [0x78, 0x5a, 0x5a]],
  ['\\x', [0x78]],
  ['\\x 41', [0x41]],
  ['\\x  41', [0x41]],
  ['\\x\t4', [0x04]],
  ['\\x-1', [0xff]],
  ['\\x-ff', [0xf1, 0x66]],
  ['\\x+4', [0x04]],
  ['\\x+f', [0x0f]],
  ['\\x0x41', [0x00, 0x34, 0x31]],
  ['\\x0X1', [0x00, 0x31]],
  ['\\x-', [0x78, 0x2d]],
  ['\\x+', [0x78, 0x2b]],
  ['\\x-g', [0x78, 0x2d, 0x67]],
  ['\\x-0', [0x00]],
  ['\\101', [0x41]],
  ['\\400', [0x00]],
  ['\\777', [0xff]],
  ['\\1234', [0x53, 0x34]],
  ['\\0|\\00|\\000|\\0000|\\08', [0, 0x7c, 0, 0x7c, 0, 0x7c, 0, 0x30, 0x7c, 0, 0x38]],
  ['abc\\', [0x61, 0x62, 0x63, 0x00]],
  ['a\\000b', [0x61, 0x00, 0x62]],
  ['\\8\\9\\q\\"', [0x38, 0x39, 0x71, 0x22]],
  ['a\\tb\\nc\\rd\\\\e\\x41\\x4g\\101\\0z\\7\\8\\q', [...Buffer.from('a\tb\nc\rd\\eA\x04gA\x00z\x078q', 'latin1')]],
  ['A\\xZZ|\\x|\\x 41|\\x-1|\\x0x41|\\x+4|\\xfff', [...Buffer.from('AxZZ|x|A|\xff|\x0041|\x04|\xfff', 'latin1')]],
  ['é ✓ \\xc3\\xa9', [...Buffer.from('é ✓ é', 'utf8')]],
  ['\\x\n41', [0x41]],
  ["quotes \"' and spaces  ", [...Buffer.from("quotes \"' and spaces  ")]],
];

describe('write', { skip }, () => {
  test('unescapes values exactly as xenstore-write (read back with xenstore-read -R)', async () => {
    const d = daemon();
    const xenArgs = ESCAPES.flatMap(([arg], i) => [`/wesc/xen/v${i}`, arg]);
    const tsArgs = ESCAPES.flatMap(([arg], i) => [`/wesc/ts/v${i}`, arg]);
    ok('xenstore-write (escapes)', await xen(d, 'write', xenArgs));
    ok('tsxenstore write (escapes)', await ts('write', ...tsArgs));
    const problems: string[] = [];
    await mapLimit(ESCAPES, 4, async ([arg, expected], i) => {
      const [x, t] = await Promise.all([xen(d, 'read', ['-R', `/wesc/xen/v${i}`]), xen(d, 'read', ['-R', `/wesc/ts/v${i}`])]);
      ok(`xenstore-read -R /wesc/xen/v${i}`, x);
      ok(`xenstore-read -R /wesc/ts/v${i}`, t);
      if (!t.stdout.equals(x.stdout)) problems.push(`${JSON.stringify(arg)}: xenstore-write stored [${[...x.stdout].join(',')}], tsxenstore [${[...t.stdout].join(',')}]`);
      if (expected !== undefined && !x.stdout.equals(Buffer.from(expected))) {
        problems.push(`${JSON.stringify(arg)}: xenstore-write itself stored [${[...x.stdout].join(',')}], the spec says [${expected.join(',')}]`);
      }
    });
    assert.deepEqual(problems, []);
    // Single pair (no transaction) as well.
    ok('tsxenstore write single', await ts('write', '/wesc/single', 'a\\x41\\tb\\'));
    const r = await xen(d, 'read', ['-R', '/wesc/single']);
    assert.deepEqual(r.stdout, Buffer.from('aA\tb\0', 'latin1'));
    // Keys are never unescaped: '/wesc/k\\x41' stays a bad path for both tools.
    const [kx, kt] = await Promise.all([xen(d, 'write', ['/wesc/k\\x41', 'v']), ts('write', '/wesc/k\\x41', 'v')]);
    assert.equal(kt.code, 1, explain('tsxenstore write /wesc/k\\x41 v', kt));
    assert.equal(kt.code, kx.code);
    assert.equal(withoutProg(kt.stderr), withoutProg(kx.stderr));
    assert.equal((await xen(d, 'exists', ['/wesc/kA'])).code, 1);
  });

  test('-R writes the argument bytes unchanged', async () => {
    const d = daemon();
    for (const arg of ['a\\nb\\x41', 'abc\\', '\\000', 'é\\t']) {
      ok('xenstore-write -R', await xen(d, 'write', ['-R', '/wraw/xen', arg]));
      ok('tsxenstore write -R', await ts('write', '-R', '/wraw/ts', arg));
      const [x, t] = await Promise.all([xen(d, 'read', ['-R', '/wraw/xen']), xen(d, 'read', ['-R', '/wraw/ts'])]);
      assert.deepEqual(t.stdout, x.stdout, JSON.stringify(arg));
      assert.deepEqual(t.stdout, Buffer.from(arg, 'utf8'), JSON.stringify(arg));
    }
    // --raw is the long form.
    ok('tsxenstore write --raw', await ts('write', '--raw', '/wraw/long', 'x\\ty'));
    assert.deepEqual((await xen(d, 'read', ['-R', '/wraw/long'])).stdout, Buffer.from('x\\ty'));
  });

  // Not tested: an argument that is not valid UTF-8 cannot be stored byte for byte,
  // because Node decodes process.argv as UTF-8 (documented in the README).

  test('several pairs are atomic: a bad path in the middle writes nothing', async () => {
    const args = ['/watom/a', '1', 'bad//path', '2', '/watom/b', '3'];
    const o = await sameEffect('write', args, ['/watom'], async () => undefined);
    assert.deepEqual(o.ts, o.xen);
    assert.equal(o.ts.code, 1);
    assert.equal(o.ts.stderr, 'could not write path bad//path\n');
    assert.equal(o.ts.after, '', 'nothing was written');
    // And all pairs good: all written.
    const good = await sameEffect('write', ['/watom/a', '1', '/watom/b/c', '2'], ['/watom'], async () => undefined);
    assert.deepEqual(good.ts, good.xen);
    assert.equal(good.ts.code, 0);
    assert.match(good.ts.after, /^\/watom\/b\/c = "2"/m);
  });

  test('failures: oversized value, bad path, odd operand count', async () => {
    const d = daemon();
    const cases: string[][] = [
      ['/wfail/big', 'x'.repeat(4090)], // path + NUL + value > 4096 bytes
      ['/wfail/'],
      ['/wfail/', 'v'],
      ['/wfail/a', 'v', '/wfail/b'],
      [],
    ];
    for (const args of cases) {
      const [x, t] = await Promise.all([xen(d, 'write', args), ts('write', ...args)]);
      const what = `write ${args.map((a) => a.slice(0, 20)).join(' ')}`;
      assert.equal(t.code, x.code, `${what}\n${explain('xen', x)}\n${explain('ts', t)}`);
      assert.equal(t.code, 1, what);
      assert.equal(t.stdout.length, 0, what);
      if (!withoutProg(x.stderr).startsWith('Usage:')) assert.equal(withoutProg(t.stderr), withoutProg(x.stderr), what);
      else assert.match(withoutProg(t.stderr), /Usage: .*write/, what);
    }
    assert.equal((await xen(d, 'exists', ['/wfail/big'])).code, 1);
  });
});

// ---- rm --------------------------------------------------------------------------------------

describe('rm', { skip }, () => {
  const tree = async (c: XenStoreClient): Promise<void> => {
    await writeAll(c, {
      '/rmt/a/b/c': 'c',
      '/rmt/a/x': 'x',
      '/rmt/r/a/b/c/d': 'd',
      '/rmt/r/a/x': 'x',
      '/rmt/t/a/b/c': 'c',
      '/rmt/t/a': 'has a value',
      '/rmt/keep': 'k',
      '/rmtop/a/b': 'only child',
      '/local/domain/0/relrm/a/b': 'rel',
      '/local/domain/0/relrm2/a/b': 'rel',
      '/local/domain/0/relrm2/sib': 's',
    });
    await c.mkdir('/rmt/empty/one/two');
  };
  const PREFIXES = ['/rmt', '/rmtop', '/local/domain/0/relrm', '/local/domain/0/relrm2'];
  const cases: string[][] = [
    ['/rmt/a/b'],
    ['/rmt/a'],
    ['-t', '/rmt/r/a/b/c/d'],
    ['-t', '/rmt/t/a/b/c'],
    ['-t', '/rmtop/a/b'],
    ['-t', '/rmt/empty/one/two'],
    ['--tidy', '/rmt/empty/one/two'],
    ['/rmt/missing'],
    ['-t', '/rmt/missing'],
    ['/rmt/nope/deeper'],
    ['/rmt/a', '/rmt/nope/deeper', '/rmt/keep'],
    ['/rmt/a/b', '/rmt/r'],
    ['/'],
    ['/rmt/'],
    ['-t', 'relrm/a/b'],
    ['-t', 'relrm2/a/b'],
    ['relrm'],
  ];
  for (const args of cases) {
    test(`rm ${args.join(' ')} does what xenstore-rm does`, async () => {
      const o = await sameEffect('rm', args, PREFIXES, tree);
      assert.deepEqual(o.ts, o.xen);
    });
  }

  test('rm -t leaves the documented tree (spec example)', async () => {
    const o = await sameEffect('rm', ['-t', '/rmt/r/a/b/c/d'], ['/rmt'], async (c) => writeAll(c, { '/rmt/r/a/b/c/d': 'd', '/rmt/r/a/x': 'x' }));
    assert.equal(o.ts.code, 0);
    assert.equal(o.ts.after.split('\n').map((l) => l.split(' = ')[0]).join(' '), '/rmt /rmt/r /rmt/r/a /rmt/r/a/x');
  });
});

// ---- chmod -----------------------------------------------------------------------------

const LONG = `/chm/${'a'.repeat(240)}`;

describe('chmod', { skip }, () => {
  const tree = async (c: XenStoreClient): Promise<void> => {
    await writeAll(c, {
      '/chm/a/b/c': 'c',
      '/chm/a/b/d': 'd',
      '/chm/a/e': 'e',
      '/chm/other': 'o',
      '/local/domain/0/relchm/sub': 's',
      [`${LONG}/${'b'.repeat(30)}`]: 'long', // key + '/' + child is over 255 bytes: -r cuts it
    });
    await c.setPerms('/chm/a/e', ['r3']);
  };
  const PREFIXES = ['/chm', '/local/domain/0/relchm'];
  const cases: string[][] = [
    ['/chm/a/b', 'r1', 'w2'],
    ['-r', '/chm/a', 'n0', 'r5'],
    ['--recurse', '/chm/a/b', 'b9'],
    ['-u', '/chm/a/b/c', 'b3'],
    ['--upto', '/chm/a/b/c', 'w4', 'r0'],
    ['-u', '-r', '/chm/a/b', 'r0', 'b7'],
    ['-ur', '/chm/a', 'n1'],
    ['/chm/a', 'r 7', 'r+8', 'r007', 'r12abc', 'nfoo'],
    ['/chm/a', 'b4294967297'],
    ['/chm/a', 'x5'],
    ['/chm/a', 'n0', 'R1'],
    ['/chm/a', ''],
    ['/chm/a'],
    ['/chm/nope', 'n0'],
    ['/chm/a', 'r-5'],
    ['/chm/a', 'w2147483648'],
    ['-u', 'relchm/sub', 'r1'],
    ['-u', 'relchm/missing', 'r1'],
    ['relchm/sub', 'b2'],
    ['-r', '/', 'n0'],
    ['/chm/', 'n0'],
    ['-r', LONG, 'r1'],
  ];
  for (const args of cases) {
    test(`chmod ${args.map((a) => JSON.stringify(a.length > 40 ? `${a.slice(0, 20)}...` : a)).join(' ')} does what xenstore-chmod does`, async () => {
      const o = await sameEffect('chmod', args, PREFIXES, tree);
      assert.deepEqual(o.ts, o.xen);
    });
  }

  test('chmod -u -r sets the node, its parents (not the root) and its children', async () => {
    const o = await sameEffect('chmod', ['-u', '-r', '/chm/a/b', 'r0', 'b7'], PREFIXES, tree);
    assert.deepEqual(o.ts, o.xen);
    assert.equal(o.ts.code, 0, o.ts.stderr);
    const perms = new Map(o.ts.after.split('\n').map((l) => [l.split(' = ')[0], /\(([^)]*)\)$/.exec(l)?.[1]]));
    for (const p of ['/chm', '/chm/a', '/chm/a/b', '/chm/a/b/c', '/chm/a/b/d']) assert.equal(perms.get(p), 'r0,b7', p);
    assert.equal(perms.get('/chm/a/e'), 'r3', 'a sibling is untouched');
    assert.equal(perms.get('/chm/other'), 'n0');
    const rootPerms = await withClient((c) => c.getPerms('/'));
    assert.ok(!rootPerms.some((p) => p.domid === 7), `the root is untouched: ${JSON.stringify(rootPerms)}`);
  });

  test('a bad mode: the same message as xenstore-chmod after the prefix, exit 1', async () => {
    const d = daemon();
    for (const mode of ['x5', '', 'R0', '?']) {
      const [x, t] = await Promise.all([xen(d, 'chmod', ['/chm/a', mode]), ts('chmod', '/chm/a', mode)]);
      assert.equal(t.code, 1);
      assert.equal(x.code, 1);
      const ch = mode === '' ? '\0' : mode.charAt(0);
      assert.equal(t.stderr.toString('latin1'), `tsxenstore: Invalid permission specification: '${ch}'\n`);
      assert.equal(withoutProg(t.stderr), withoutProg(x.stderr));
    }
  });
});

// ---- watch -------------------------------------------------------------------------------

describe('watch', { skip }, () => {
  test('watch -n 2 prints the initial path and one change, then exits 0 (as xenstore-watch)', async () => {
    const d = daemon();
    await withClient((c) => c.write('/wt/n2', ''));
    const t = spawnLines(process.execPath, [cliScript(), '--socket', d.socket, 'watch', '-n', '2', '/wt/n2']);
    const x = spawnLines(xenToolPath('watch'), ['-n', '2', '/wt/n2'], { env: d.env });
    try {
      await t.waitForLine((l) => l === '/wt/n2');
      await x.waitForLine((l) => l === '/wt/n2');
      await withClient((c) => c.write('/wt/n2/child', 'x'));
      const [tr, xr] = await Promise.all([t.done, x.done]);
      assert.equal(tr.code, 0, tr.stderr);
      assert.equal(xr.code, 0, xr.stderr);
      assert.equal(tr.stdout, '/wt/n2\n/wt/n2/child\n');
      assert.equal(tr.stdout, xr.stdout);
      assert.equal(tr.stderr, '');
    } finally {
      t.kill();
      x.kill();
    }
  });

  test('watch -n counts the initial events; -n 0 exits at once; relative and special paths', async () => {
    const d = daemon();
    for (const args of [
      ['-n', '2', 'relw', '@introduceDomain'],
      ['-n', '1', '/wt/missing'],
      ['-n', '0', '/wt/n2'],
      ['-n-5', '/wt/n2'],
      ['-n', '1x', '/wt/n2'],
      ['--number=1', '/wt/n2'],
      ['-n1', '/wt/n2'],
    ]) {
      const [x, t] = await Promise.all([xen(d, 'watch', args, { timeoutMs: 30_000 }), ts('watch', ...args)]);
      const what = `watch ${args.join(' ')}`;
      assert.equal(t.code, 0, explain(what, t));
      assert.equal(t.code, x.code, what);
      assert.deepEqual(t.stdout, x.stdout, what);
      assert.equal(withoutProg(t.stderr), withoutProg(x.stderr), what);
    }
  });

  test(
    'watch -n with a negative count as a separate word exits 0 at once (getopt takes any next word)',
    async () => {
      const d = daemon();
      const [x, t] = await Promise.all([xen(d, 'watch', ['-n', '-5', '/wt/n2'], { timeoutMs: 30_000 }), ts('watch', '-n', '-5', '/wt/n2')]);
      assert.equal(x.code, 0, explain('xenstore-watch -n -5', x));
      assert.equal(t.code, 0, explain('tsxenstore watch -n -5', t));
      assert.deepEqual(t.stdout, x.stdout);
    },
  );

  test('watch -n exits 0 without output when the daemon goes away (as xenstore-watch)', async () => {
    const d = await startDaemon();
    try {
      const t = spawnLines(process.execPath, [cliScript(), '--socket', d.socket, 'watch', '-n', '5', '/gone']);
      try {
        await t.waitForLine((l) => l === '/gone');
        await d.stop();
        const r = await t.done;
        assert.equal(r.code, 0, `exit ${String(r.code)}; stderr ${JSON.stringify(r.stderr)}`);
        assert.equal(r.stdout, '/gone\n');
        assert.equal(r.stderr, '');
      } finally {
        t.kill();
      }
    } finally {
      await d.stop();
    }
  });

  test('a watch that cannot be set: the message with its empty second line, exit 1', async () => {
    const d = daemon();
    for (const args of [
      ['-n', '3', '/wt/dup', '/wt/dup'],
      ['-n', '1', '/wt/'],
    ]) {
      const [x, t] = await Promise.all([xen(d, 'watch', args, { timeoutMs: 30_000 }), ts('watch', ...args)]);
      const what = `watch ${args.join(' ')}`;
      assert.equal(t.code, 1, explain(what, t));
      assert.equal(x.code, 1, explain(what, x));
      assert.deepEqual(t.stdout, x.stdout, what);
      assert.equal(withoutProg(t.stderr), withoutProg(x.stderr), what);
      assert.match(t.stderr.toString(), /^tsxenstore: Unable to add watch on \S+\n\n$/);
    }
  });

  test('watch -d DEPTH limits the depth of reported changes', async () => {
    const d = daemon();
    await withClient((c) => c.write('/wt/depth/a/b', ''));
    const t = spawnLines(process.execPath, [cliScript(), '--socket', d.socket, 'watch', '-n', '3', '-d', '1', '/wt/depth']);
    try {
      await t.waitForLine((l) => l === '/wt/depth');
      await withClient(async (c) => {
        await c.write('/wt/depth/a/b', 'too deep');
        await c.write('/wt/depth/z', 'depth 1');
        await c.write('/wt/depth', 'depth 0');
      });
      const r = await t.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '/wt/depth\n/wt/depth/z\n/wt/depth\n');
    } finally {
      t.kill();
    }
  });

  test('watch --json prints one JSON object per event', async () => {
    const r = await ts('--json', 'watch', '-n', '2', 'relw-json', '@releaseDomain');
    ok('tsxenstore --json watch', r);
    const lines = r.stdout.toString('utf8').split('\n').filter((l) => l !== '');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      [{ path: 'relw-json' }, { path: '@releaseDomain' }],
    );
  });
});

// ---- control ---------------------------------------------------------------------------

describe('control', () => {
  test('control check prints OK; help lists the commands', async () => {
    const c = await ts('control', 'check');
    assert.equal(c.code, 0, explain('control check', c));
    assert.equal(c.stdout.toString(), 'OK\n');
    assert.equal(c.stderr.length, 0);
    const h = await ts('control', 'help');
    assert.equal(h.code, 0, explain('control help', h));
    const text = h.stdout.toString();
    for (const cmd of ['check', 'help', 'quota', 'log']) assert.match(text, new RegExp(`^${cmd}\\b`, 'm'), cmd);
    const p = await ts('control', 'print', 'hello from commands.test');
    assert.equal(p.stdout.toString(), 'OK\n');
  });

  test('control failures: unknown command (exit 3 with the help), no command (exit 2)', async () => {
    const u = await ts('control', 'no-such-command');
    assert.equal(u.code, 3, explain('control no-such-command', u));
    assert.equal(u.stdout.length, 0);
    assert.match(u.stderr.toString(), /^Command not supported\. Valid commands are:\n[\s\S]*\bcheck\b[\s\S]*\n$/);
    const none = await ts('control');
    assert.equal(none.code, 2, explain('control', none));
    assert.match(none.stderr.toString(), /^Usage:\n.*control <command> \[<arg>\.\.\.\]\n$/);
  });
});

// ---- --json ------------------------------------------------------------------------------

describe('--json', () => {
  test('read, list, exists and ls print JSON with the right content', async () => {
    await withClient(async (c) => {
      await writeAll(c, { '/js/a': 'alpha', '/js/b/c': 'tab\there "q" é', '/js/b/d': '' });
      await c.setPerms('/js/a', ['b1', 'r0']);
    });
    const parse = (r: BytesResult): unknown => {
      assert.equal(r.code, 0, explain('json', r));
      return JSON.parse(r.stdout.toString('utf8'));
    };
    assert.deepEqual(parse(await ts('--json', 'read', '/js/a', '/js/b/c', '/js/b')), { '/js/a': 'alpha', '/js/b/c': 'tab\there "q" é', '/js/b': '' });
    assert.deepEqual(parse(await ts('read', '--json', '/js/a')), { '/js/a': 'alpha' });
    assert.deepEqual(parse(await ts('--json', 'list', '/js', '/js/b', '/js/a')), { '/js': ['a', 'b'], '/js/b': ['c', 'd'], '/js/a': [] });
    assert.deepEqual(parse(await ts('--json', 'exists', '/js/a', '/js/b')), { '/js/a': true, '/js/b': true });
    const missingKey = await ts('--json', 'exists', '/js/a', '/js/nope');
    assert.equal(missingKey.code, 1);
    assert.deepEqual(JSON.parse(missingKey.stdout.toString()), { '/js/a': true, '/js/nope': false });
    assert.deepEqual(parse(await ts('--json', 'ls', '/js')), [
      { path: '/js/a', value: 'alpha', perms: ['b1', 'r0'] },
      { path: '/js/b', value: '', perms: ['n0'] },
      { path: '/js/b/c', value: 'tab\there "q" é', perms: ['n0'] },
      { path: '/js/b/d', value: '', perms: ['n0'] },
    ]);
  });

  test('--json failures exit 1 without a stack trace', async () => {
    for (const args of [
      ['--json', 'read', '/js/nope'],
      ['--json', 'list', '/js/nope'],
      ['--json', 'ls', '/js/nope'],
      ['--json', 'read', '/js/'],
    ]) {
      const r = await ts(...args);
      assert.equal(r.code, 1, explain(args.join(' '), r));
      assert.match(r.stderr.toString(), /^tsxenstore: /);
    }
  });
});

// ---- help and usage --------------------------------------------------------------------

const HELP_FLAGS: Record<string, string[]> = {
  read: ['-h', '-p', '-s', '-R'],
  write: ['-h', '-s', '-R'],
  rm: ['-h', '-s', '-t'],
  exists: ['-h', '-s'],
  list: ['-h', '-p', '-s'],
  ls: ['-h', '-f', '-p', '-s'],
  chmod: ['-h', '-u', '-r', '-s'],
  watch: ['-h', '-n', '-d'],
};

describe('help and usage', () => {
  for (const [cmd, flags] of Object.entries(HELP_FLAGS)) {
    test(`${cmd} --help / -h: stdout, exit 0, mentions ${flags.join(' ')}`, async () => {
      const runs = await Promise.all([ts(cmd, '--help'), ts(cmd, '-h')]);
      for (const [i, h] of ['--help', '-h'].entries()) {
        const r = runs[i]!;
        assert.equal(r.code, 0, explain(`${cmd} ${h}`, r));
        const text = r.stdout.toString();
        assert.match(text, new RegExp(`Usage: tsxenstore ${cmd} `));
        for (const f of flags) assert.ok(text.includes(f), `${cmd} ${h} does not mention ${f}:\n${text}`);
        assert.equal(r.stderr.length, 0);
      }
      // Help wins over missing operands and does not need a daemon.
      const noDaemon = await runBytes(process.execPath, [cliScript(), '--socket', '/nonexistent-tsxs/socket', cmd, '--help']);
      assert.equal(noDaemon.code, 0, explain(`${cmd} --help without a daemon`, noDaemon));
    });
  }

  test('tsxenstore --help lists every command and the global options', async () => {
    const r = await runBytes(process.execPath, [cliScript(), '--help']);
    assert.equal(r.code, 0, explain('--help', r));
    const text = r.stdout.toString();
    for (const w of [...Object.keys(HELP_FLAGS), 'control', 'sim', '--socket', '--domain', '--sim-dir', '--json', '-s']) {
      assert.ok(text.includes(w), `--help does not mention ${w}`);
    }
  });

  test('control --help: help on stdout, exit 0', async () => {
    const r = await ts('control', '--help');
    assert.equal(r.code, 0, explain('control --help', r));
    assert.match(r.stdout.toString(), /control/);
  });

  test('sim --help: help on stdout, exit 0, mentions its options', async () => {
    const r = await ts('sim', '--help');
    assert.equal(r.code, 0, explain('sim --help', r));
    for (const w of ['create-guest', 'destroy-guest', '--name', '--release']) assert.ok(r.stdout.toString().includes(w), w);
  });

  test('usage errors: exit 1, usage on stderr, nothing on stdout', async () => {
    await withClient((c) => c.write('/js/a', 'alpha'));
    const cases: string[][] = [
      [],
      ['read'],
      ['write', '/k'],
      ['rm'],
      ['list'],
      ['exists'],
      ['exists', '-p', '/js'], // 4.17 rejects -p for exists
      ['chmod'],
      ['watch'],
      ['read', '-x', '/js/a'], // unknown options are a usage error in tsxenstore
      ['ls', '--bogus'],
      ['rm', '-p', '/js/a'], // an option of another mode
      ['read', '-n', '3', '/js/a'],
    ];
    const results = await mapLimit(cases, 3, (args) => ts(...args));
    for (const [i, args] of cases.entries()) {
      const r = results[i]!;
      assert.equal(r.code, 1, explain(args.join(' '), r));
      assert.equal(r.stdout.length, 0, args.join(' '));
      assert.match(r.stderr.toString(), /^tsxenstore: .*Usage: tsxenstore /m, args.join(' '));
    }
    // Nothing was done by the rejected commands.
    await withClient(async (c) => assert.equal(await c.readString('/js/a'), 'alpha'));
  });

  test(
    'long options may be abbreviated when the prefix is unique (getopt_long), as in xenstore-read --pre',
    { skip },
    async () => {
      const d = daemon();
      await withClient((c) => c.write('/js/abbr', 'v'));
      for (const [cmd, args] of [
        ['read', ['--pre', '/js/abbr']],
        ['ls', ['--fl', '/js']],
        ['list', ['--pref', '/js']],
      ] as const) {
        const [x, t] = await Promise.all([xen(d, cmd, args), ts(cmd, ...args)]);
        assert.equal(x.code, 0, explain(`xenstore-${cmd}`, x));
        assert.equal(t.code, 0, explain(`tsxenstore ${cmd} ${args.join(' ')}`, t));
        assert.deepEqual(t.stdout, x.stdout);
      }
    },
  );

  test('an unknown mode: the message with an empty second line, as the multi-call xenstore', async () => {
    const r = await ts('bogus');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.toString(), 'tsxenstore: unknown mode bogus\n\n');
    if (existsSync('/usr/bin/xenstore')) {
      const x = await runBytes('/usr/bin/xenstore', ['bogus'], { env: daemon().env });
      assert.equal(withoutProg(r.stderr), withoutProg(x.stderr));
      assert.equal(r.code, x.code);
    }
  });
});

// ---- unreachable daemon -------------------------------------------------------------------

describe('unreachable daemon', () => {
  const COMMANDS: string[][] = [
    ['read', '/a'],
    ['write', '/a', 'v'],
    ['rm', '/a'],
    ['exists', '/a'],
    ['list', '/a'],
    ['ls'],
    ['ls', '-p', '/a'],
    ['chmod', '/a', 'n0'],
    ['watch', '-n', '1', '/a'],
    ['--json', 'read', '/a'],
    ['control', 'check'],
  ];

  const check = async (socket: string, expected: RegExp, xenMessage: boolean): Promise<void> => {
    const problems: string[] = [];
    await mapLimit(COMMANDS, 3, async (args) => {
      const r = await runBytes(process.execPath, [cliScript(), '--socket', socket, ...args]);
      try {
        assertNoStackTrace(args.join(' '), r);
        assert.equal(r.code, 1, explain(args.join(' '), r));
        assert.equal(r.stdout.length, 0);
        const err = r.stderr.toString();
        // Xen's line, then ours: which socket, and whether anything is there.
        assert.match(err, /^tsxenstore: xs_open: [^\n]+\ntsxenstore: [^\n]*socket [^\n]+\n$/, `${args.join(' ')}: ${JSON.stringify(err)}`);
        assert.match(err.split('\n')[0]!, expected, args.join(' '));
        assert.ok(err.split('\n')[1]!.includes(socket), `the hint names ${socket}`);
        // The same message as Xen's tool of the same name.
        const tool = args[0] === '--json' ? args[1] : args[0];
        if (xenMessage && tool !== undefined && tool !== 'control' && (XEN_TOOLS as readonly string[]).includes(tool)) {
          const toolArgs = args.slice(args[0] === '--json' ? 2 : 1);
          const x = await runBytes(xenToolPath(tool as (typeof XEN_TOOLS)[number]), toolArgs, { env: { XENSTORED_PATH: socket } });
          assert.equal(withoutProg(Buffer.from(`${err.split('\n')[0]!}\n`)), withoutProg(x.stderr), args.join(' '));
        }
      } catch (e) {
        problems.push(e instanceof Error ? e.message : String(e));
      }
    });
    assert.deepEqual(problems, []);
  };

  test('a missing socket: Xen\'s xs_open line and a hint on stderr, exit 1', async () => {
    await check('/nonexistent-tsxs-dir/socket', /No such file or directory/, skip === false);
  });

  test('a socket file nobody listens on: xs_open: Connection refused', { skip: existsSync('/usr/bin/python3') ? false : 'needs /usr/bin/python3' }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsxs-stale-'));
    try {
      const sock = join(dir, 'stale.sock');
      // A bound, never-listening Unix socket (Node cannot make one without listening).
      const r = await runBytes('/usr/bin/python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
      assert.equal(r.code, 0, explain('python3 bind', r));
      await check(sock, /Connection refused/, skip === false);
    } finally {
      await rmDir(dir, { recursive: true, force: true });
    }
  });

  test('the daemon is reachable through $XENSTORED_PATH too', async () => {
    const d: DaemonHandle = daemon();
    const r = await runBytes(process.execPath, [cliScript(), 'control', 'check'], { env: { XENSTORED_PATH: d.socket } });
    assert.equal(r.code, 0, explain('control check via XENSTORED_PATH', r));
    assert.equal(r.stdout.toString(), 'OK\n');
  });
});

// ---- errors that say why -----------------------------------------------------------------

describe('errors that say why', () => {
  test('--verbose and --json add the errno after Xen\'s message; without them the line is Xen\'s', async () => {
    const plain = await ts('read', '/no/such/key');
    assert.equal(plain.code, 1);
    assert.equal(plain.stderr.toString(), "tsxenstore: couldn't read path /no/such/key\n");
    const verbose = await ts('--verbose', 'read', '/no/such/key');
    assert.equal(verbose.stderr.toString(), "tsxenstore: couldn't read path /no/such/key: ENOENT (No such file or directory)\n");
    const guest = await ts('--verbose', 'write', '/no-parent/for/this', 'x');
    assert.equal(guest.code, 0, explain('dom0 creates parents', guest));
  });

  test('an unreachable daemon: which socket, and whether anything is there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsxs-unreachable-'));
    try {
      const r = await runBytes(process.execPath, [cliScript(), '--socket', join(dir, 'none'), 'read', '/x']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.toString(), `tsxenstore: xs_open: No such file or directory\ntsxenstore: the daemon's socket ${join(dir, 'none')} does not exist: is the daemon running? (--socket PATH or XENSTORED_PATH name another)\n`);
    } finally {
      await rmDir(dir, { recursive: true, force: true });
    }
  });

  test('control: wrong arguments of a known command show its usage and the daemon logs which; a file that cannot be written says why', async () => {
    const bad = await ts('control', 'quota', 'set', 'bogus', '3');
    assert.equal(bad.code, 3);
    assert.equal(bad.stderr.toString(), "Invalid arguments for quota: quota set bogus 3\nUsage: quota [set <name> <val>|<domid>]\n(the daemon's log says which argument was wrong)\n");
    const nan = await ts('control', 'quota', 'set', 'nodes', 'abc');
    assert.equal(nan.code, 3);
    await waitFor(() => (daemon().log().includes('CONTROL quota set bogus 3: EINVAL: no quota named "bogus"') && daemon().log().includes('CONTROL quota set nodes abc: EINVAL: not an unsigned number: "abc"')) || undefined, { what: 'the reasons in the daemon log' });
    const dump = await ts('control', 'dump', '/proc/no-such-dir/dump');
    assert.equal(dump.code, 3);
    assert.equal(dump.stderr.toString(), 'Error 2 when trying to execute command. (ENOENT: No such file or directory)\n');
  });
});
