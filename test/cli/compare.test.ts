/**
 * `tsxenstore ls|read|list|exists` against Xen 4.17's xenstore-ls/-read/-list/-exists,
 * byte for byte, on one daemon holding a few hundred generated nodes (seeded):
 * deep paths, long names, awkward values (empty, spaces, quotes, backslashes,
 * control characters, every byte class, UTF-8, values around the 80-column
 * truncation point, very long values) and many different permissions.
 *
 * For each command: stdout must be the same bytes, stderr the same text once
 * the program-name prefix is removed, and the exit codes equal. Both run with
 * stdout a pipe, so xenstore-ls's width is 80.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from '../../src/index.js';
import { useDaemon } from '../helpers/daemon.js';
import { assertNoStackTrace, explainBytes as explain, mapLimit, tsx, withoutProg, xen, xenToolPath, type BytesResult, type XenTool } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';

const TOOLS: XenTool[] = ['ls', 'read', 'list', 'exists', 'chmod'];
const missing = TOOLS.filter((t) => !existsSync(xenToolPath(t)));
const skip = missing.length > 0 ? `xenstore-utils missing: ${missing.join(', ')}` : false;

const daemon = useDaemon();

// ---- the generated store ---------------------------------------------------------------

const BASE = '/cmp';
const DEEP = '/cmpdeep';
const DEEP_LEVELS = 80;
/** The node of the deep chain at `depth`: names 'n', with 'nm' at every 7th level. */
function deepPath(depth: number): string {
  let p = DEEP;
  for (let i = 1; i <= depth; i++) p += i % 7 === 0 ? '/nm' : '/n';
  return p;
}
const REL = 'cmprel';
const SEED = 0x5eed_2024;

interface GenNode {
  readonly path: string;
  readonly depth: number; // below BASE
  readonly value: Buffer | undefined; // undefined: made with MKDIR
}

interface Store {
  readonly nodes: GenNode[];
  readonly perms: Array<{ path: string; modes: string[]; recurse: boolean }>;
  readonly rel: Array<{ path: string; value: Buffer }>;
}

function generate(seed: number): Store {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)] as T;
  const range = (lo: number, hi: number): number => lo + int(hi - lo + 1);
  const bytes = (n: number, lo: number, hi: number): Buffer => Buffer.from(Array.from({ length: n }, () => range(lo, hi)));
  const printable = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(range(0x20, 0x7e))).join('');

  const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_@';
  const name = (): string => {
    const len = r() < 0.06 ? range(60, 90) : range(1, 12);
    return Array.from({ length: len }, () => NAME_CHARS.charAt(int(NAME_CHARS.length))).join('');
  };

  const UTF8 = ['héllo wörld', '日本語のテキスト', 'emoji 😀🎉', 'ß∂ƒ©˙∆˚¬', 'Ωmega – “quotes” …', 'мир'];
  const value = (): Buffer => {
    switch (int(14)) {
      case 0:
        return Buffer.alloc(0);
      case 1:
        return Buffer.from(`${' '.repeat(range(1, 4))}two  spaces${' '.repeat(range(0, 3))}`);
      case 2:
        return Buffer.from(`say "hi" 'there' \`x\` "${printable(range(0, 10))}"`);
      case 3:
        return Buffer.from(`back\\slash\\\\double\\${printable(range(0, 6))}\\`);
      case 4:
        return Buffer.from(`line1\nline2\ttab\rcr${r() < 0.5 ? '\n' : ''}`);
      case 5:
        return bytes(range(1, 24), 0x00, 0x1f);
      case 6:
        return bytes(range(1, 40), 0x7f, 0xff);
      case 7:
        return Buffer.from(pick(UTF8), 'utf8');
      case 8:
        // Around the truncation point of an 80-column listing.
        return Buffer.from(printable(range(55, 85)));
      case 9: {
        // Around the point, with a few escapes in it (the cut counts escaped characters).
        const b = Buffer.from(printable(range(55, 85)));
        for (let i = 0; i < 4; i++) b[int(b.length)] = pick([0x00, 0x01, 0x09, 0x0a, 0x5c, 0x1b, 0x7f, 0xc3, 0xff]);
        return b;
      }
      case 10:
        return bytes(range(300, 3000), 0x00, 0xff);
      case 11:
        return bytes(range(0, 100), 0x00, 0xff);
      case 12:
        return Buffer.from(String(int(100000)));
      default:
        return Buffer.from(`\\x41 \\n ${printable(range(0, 20))}`);
    }
  };

  const nodes: GenNode[] = [];
  const byPath = new Set<string>();
  const parents: Array<{ path: string; depth: number }> = [{ path: BASE, depth: 0 }];
  while (nodes.length < 320) {
    // Favour recent nodes as parents, so chains reach depth 6.
    const parent = r() < 0.5 ? (parents[parents.length - 1 - int(Math.min(4, parents.length))] ?? parents[0]!) : pick(parents);
    if (parent.depth >= 6) continue;
    const path = `${parent.path}/${name()}`;
    if (byPath.has(path) || path.length > 1000) continue;
    byPath.add(path);
    const node: GenNode = { path, depth: parent.depth + 1, value: r() < 0.1 ? undefined : value() };
    nodes.push(node);
    parents.push({ path, depth: node.depth });
  }
  // An implicitly created parent: a deep write whose intermediate nodes have no value.
  nodes.push({ path: `${BASE}/implicit/x/y/z`, depth: 4, value: Buffer.from('deep value') });

  const LETTERS = ['n', 'r', 'w', 'b'];
  const DOMIDS = [0, 1, 2, 3, 5, 7, 10, 42, 100, 255, 1000, 32767, 65535];
  const perms: Store['perms'] = [];
  const chosen = new Set<string>();
  while (perms.length < 45) {
    const n = pick(nodes);
    if (chosen.has(n.path)) continue;
    chosen.add(n.path);
    const modes = Array.from({ length: range(1, 6) }, () => `${pick(LETTERS)}${pick(DOMIDS)}`);
    perms.push({ path: n.path, modes, recurse: r() < 0.15 });
  }

  const rel = [
    { path: `${REL}/a`, value: Buffer.from('relative value') },
    { path: `${REL}/b/c`, value: Buffer.from(printable(75)) },
    { path: `${REL}/b/d`, value: bytes(10, 0, 0x1f) },
  ];
  return { nodes, perms, rel };
}

const store = generate(SEED);
const explicit = store.nodes.map((n) => n.path);
const withChildren = [...new Set(store.nodes.map((n) => n.path.slice(0, n.path.lastIndexOf('/'))))].filter((p) => p !== BASE && p.length > BASE.length);
const leaves = store.nodes.filter((n) => !withChildren.includes(n.path)).map((n) => n.path);
const deepest = [...store.nodes].sort((a, b) => b.depth - a.depth)[0]!;
const topChildren = [...new Set(store.nodes.map((n) => n.path.split('/').slice(0, 3).join('/')))];
const biggestTop = topChildren
  .map((t) => ({ t, n: store.nodes.filter((x) => x.path.startsWith(`${t}/`)).length }))
  .sort((a, b) => b.n - a.n)[0]!.t;
const midDeep = store.nodes.find((n) => n.depth === 3 && withChildren.includes(n.path))?.path ?? biggestTop;

before(async () => {
  if (skip !== false) return;
  const d = await daemon.ready();
  const c = await connect({ path: d.socket });
  try {
    await Promise.all(store.nodes.map((n) => (n.value === undefined ? c.mkdir(n.path) : c.write(n.path, n.value))));
    await Promise.all(store.rel.map((n) => c.write(n.path, n.value)));
    // A chain 80 levels deep: at depth 72 the name precision reaches 0, below it turns negative.
    for (let depth = 1; depth <= DEEP_LEVELS; depth++) {
      const value = depth % 3 === 0 ? Buffer.from(`v${depth}`.repeat(depth % 5)) : Buffer.alloc(0);
      await c.write(deepPath(depth), value);
    }
    assert.equal(await c.control('check'), 'OK');
  } finally {
    c.close();
  }
  // Permissions through Xen's own xenstore-chmod (recursive ones first, so the others stay visible).
  const ordered = [...store.perms.filter((p) => p.recurse), ...store.perms.filter((p) => !p.recurse)];
  for (const p of ordered) {
    const r = await xen(d, 'chmod', [...(p.recurse ? ['-r'] : []), p.path, ...p.modes]);
    assert.equal(r.code, 0, explain(`xenstore-chmod ${p.path} ${p.modes.join(' ')}`, r));
  }
});

// ---- comparing -------------------------------------------------------------------------

type Cmd = 'ls' | 'read' | 'list' | 'exists';

interface Pair {
  readonly xen: BytesResult;
  readonly ts: BytesResult;
}

async function both(cmd: Cmd, args: readonly string[]): Promise<Pair> {
  const d = daemon();
  const [x, t] = await Promise.all([xen(d, cmd, args), tsx(d, [cmd, ...args])]);
  return { xen: x, ts: t };
}

function assertSame(cmd: Cmd, args: readonly string[], p: Pair): void {
  const what = `${cmd} ${args.map((a) => JSON.stringify(a)).join(' ')}`.slice(0, 400);
  const detail = `\n${explain(`xenstore-${cmd}`, p.xen)}\n${explain('tsxenstore', p.ts)}`.slice(0, 6000);
  assert.ok(!p.xen.timedOut && !p.ts.timedOut, `${what}: timed out${detail}`);
  assertNoStackTrace(`tsxenstore ${what}`, p.ts);
  assert.equal(p.ts.code, p.xen.code, `${what}: exit code${detail}`);
  assert.equal(withoutProg(p.ts.stderr), withoutProg(p.xen.stderr), `${what}: stderr${detail}`);
  if (!p.ts.stdout.equals(p.xen.stdout)) {
    // Point at the first differing line for a readable failure.
    const xl = p.xen.stdout.toString('latin1').split('\n');
    const tl = p.ts.stdout.toString('latin1').split('\n');
    let i = 0;
    while (i < xl.length && xl[i] === tl[i]) i++;
    assert.fail(`${what}: stdout differs at line ${i + 1}\n  xen: ${JSON.stringify(xl[i])}\n  ts:  ${JSON.stringify(tl[i])}`);
  }
}

/** Runs every case (a few at once) and reports all mismatches together. */
async function compareAll(cases: ReadonlyArray<{ cmd: Cmd; args: readonly string[] }>): Promise<Pair[]> {
  const failures: string[] = [];
  const results = await mapLimit(cases, 3, async (c) => {
    const p = await both(c.cmd, c.args);
    try {
      assertSame(c.cmd, c.args, p);
    } catch (e) {
      failures.push(e instanceof Error ? e.message : String(e));
    }
    return p;
  });
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} commands differ:\n\n${failures.join('\n\n')}`);
  return results;
}

describe('generated store', { skip }, () => {
  test('the store is what it should be (guards against vacuous comparisons)', async () => {
    assert.ok(store.nodes.length >= 300);
    assert.ok(deepest.depth === 6, `deepest node at depth ${deepest.depth}`);
    const p = await both('ls', ['-p', BASE]);
    assertSame('ls', ['-p', BASE], p);
    const text = p.xen.stdout.toString('latin1');
    assert.ok(text.split('\n').length > 300, 'every node listed');
    assert.match(text, /\\\.\.\."  \(/, 'some values are truncated');
    assert.match(text, /\\x[89a-f][0-9a-f]/, 'high bytes are escaped');
    assert.match(text, /\\00[0-7]/, 'low bytes are escaped');
    assert.match(text, /\([nrwb]\d+(,[nrwb]\d+){2,}\)/, 'several perms on some nodes');
    assert.match(text, / \. \. /, 'dot leaders');
  });

  test('ls, ls -p, ls -f, ls -f -p on many paths', async () => {
    const pathSets: string[][] = [
      [],
      ['/'],
      [BASE],
      [biggestTop],
      [midDeep],
      [deepest.path.split('/').slice(0, -2).join('/')],
      [leaves[0]!],
      [`${BASE}/implicit`],
      [`${BASE}/no-such-node`],
      [`${BASE}/`],
      ['//cmp'],
      [REL],
      [`${REL}/b`],
      [topChildren[1]!, topChildren[2]!],
      [`${BASE}/implicit`, `${BASE}/no-such-node`, topChildren[1]!],
      [`${BASE}/no-such-node`, `${BASE}/implicit`],
      ['@introduceDomain'],
      [DEEP],
    ];
    const flagSets: string[][] = [[], ['-p'], ['-f'], ['-f', '-p']];
    const cases = pathSets.flatMap((paths) => flagSets.map((flags) => ({ cmd: 'ls' as const, args: [...flags, ...paths] })));
    await compareAll(cases);
  });

  test('read, read -p, read -R (every node at once, single keys, failures)', async () => {
    const some = [explicit[0]!, explicit[7]!, `${BASE}/implicit/x`, leaves[3]!, deepest.path];
    const keySets: string[][] = [
      explicit,
      ...some.map((k) => [k]),
      [explicit[1]!, `${BASE}/no-such-node`, explicit[2]!],
      [`${BASE}/no-such-node`],
      [`${BASE}/`],
      [`${REL}/a`, `${REL}/b/d`],
      [`${REL}/b`],
      ['@introduceDomain'],
    ];
    const flagSets: string[][] = [[], ['-p'], ['-R'], ['-p', '-R']];
    const cases = keySets.flatMap((keys) => flagSets.map((flags) => ({ cmd: 'read' as const, args: [...flags, ...keys] })));
    await compareAll(cases);
  });

  test('the other spellings of the flags: bundles, long names, -s, options after operands', async () => {
    const k = [explicit[10]!, explicit[11]!];
    await compareAll([
      { cmd: 'ls', args: ['-fp', biggestTop] },
      { cmd: 'ls', args: ['--flat', '--prefix', biggestTop] },
      { cmd: 'ls', args: [biggestTop, '-p'] },
      { cmd: 'ls', args: ['-s', biggestTop] },
      { cmd: 'read', args: ['-pR', ...k] },
      { cmd: 'read', args: ['--prefix', '--raw', ...k] },
      { cmd: 'read', args: [...k, '-p'] },
      { cmd: 'read', args: ['-s', ...k] },
      { cmd: 'list', args: ['--prefix', BASE] },
      { cmd: 'list', args: [BASE, '-p'] },
      { cmd: 'exists', args: ['-s', ...k] },
      { cmd: 'read', args: ['--', '-p'] },
      { cmd: 'ls', args: ['--', biggestTop] },
    ]);
  });

  test('list, list -p', async () => {
    const keySets: string[][] = [
      withChildren,
      ['/'],
      [BASE],
      [leaves[0]!],
      [withChildren[0]!, `${BASE}/no-such-node`, withChildren[1]!],
      [`${BASE}/`],
      [REL, `${REL}/b`],
    ];
    const cases = keySets.flatMap((keys) => [[], ['-p']].map((flags) => ({ cmd: 'list' as const, args: [...flags, ...keys] })));
    await compareAll(cases);
  });

  test('exists: existing and missing keys, several keys', async () => {
    const keySets: string[][] = [
      [explicit[0]!],
      [`${BASE}/implicit/x`],
      [`${BASE}/no-such-node`],
      [`${BASE}/no-such/deeper`],
      explicit.slice(0, 50),
      [explicit[3]!, `${BASE}/no-such-node`, explicit[4]!],
      [`${BASE}/no-such-node`, explicit[5]!],
      [`${BASE}/`],
      [`${REL}/a`],
      ['/'],
    ];
    const results = await compareAll(keySets.map((keys) => ({ cmd: 'exists' as const, args: keys })));
    // Non-vacuous: some exist, some do not.
    assert.deepEqual(
      results.map((r) => r.xen.code),
      [0, 0, 1, 1, 0, 1, 1, 1, 0, 0],
    );
  });
});
