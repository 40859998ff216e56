// History from the command line: tsxenstore log [PATH], diff R1 R2 [PATH],
// read --at REV, and history export --git DIR (one Git commit per revision,
// files <path>.value and <path>.perms, a transaction that committed after
// another commit since its start as a merge commit). Bounded retention.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { connect, type XenStoreClient } from '../../src/client/client.js';
import { explainBytes, runBytes, tsx, type BytesResult } from '../helpers/cli.js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon.js';
import { cleanupTempDirs, tempDir } from '../helpers/persist.js';

after(cleanupTempDirs);

interface LogLine {
  readonly rev: number;
  readonly domid: number;
  readonly conn: number;
  readonly txId: number;
  readonly baseRev: number | undefined;
  readonly op: string;
}

function parseLog(out: string): LogLine[] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = /^r([0-9]+) (\S+) dom([0-9]+) conn([0-9]+) tx([0-9]+)(?: base r([0-9]+))? (.*)$/.exec(l);
      assert.ok(m !== null, `log line ${JSON.stringify(l)}`);
      assert.ok(!Number.isNaN(Date.parse(m[2]!)), `a time in ${l}`);
      return { rev: Number(m[1]), domid: Number(m[3]), conn: Number(m[4]), txId: Number(m[5]), baseRev: m[6] === undefined ? undefined : Number(m[6]), op: m[7]! };
    });
}

async function ok(d: DaemonHandle, args: string[]): Promise<string> {
  const r = await tsx(d, args);
  assert.equal(r.code, 0, explainBytes(`tsxenstore ${args.join(' ')}`, r));
  return r.stdout.toString('latin1');
}

async function git(dir: string, args: string[]): Promise<BytesResult> {
  const r = await runBytes('git', ['-C', dir, ...args], { env: { GIT_CONFIG_NOSYSTEM: '1', HOME: dir } });
  assert.equal(r.code, 0, explainBytes(`git ${args.join(' ')}`, r));
  return r;
}

const lines = (r: BytesResult): string[] => r.stdout.toString('utf8').split('\n').filter((l) => l !== '');

describe('history: log, diff, read --at, export --git', () => {
  let d: DaemonHandle | undefined;
  let xs: XenStoreClient | undefined;
  let ys: XenStoreClient | undefined;
  const tx: { plain: number; merged: number } = { plain: 0, merged: 0 };
  after(async () => {
    xs?.close();
    ys?.close();
    await d?.stop();
  });

  test('make known revisions', { timeout: 60_000 }, async () => {
    d = await startDaemon({ args: ['--no-sim'] });
    xs = await connect({ path: d.socket });
    ys = await connect({ path: d.socket });
    await xs.write('/h/a', '1'); // r1 (creates /h too)
    await xs.write('/h/b', Buffer.from('2\0x', 'latin1')); // r2
    await xs.setPerms('/h/a', ['r0', 'w5']); // r3
    await xs.rm('/h/b'); // r4
    const t0 = await xs.startTransaction(); // base r4, nothing commits meanwhile
    await t0.write('/h/c', 'c');
    await t0.write('/h/d', 'd');
    await t0.commit(); // r5
    tx.plain = t0.id;
    const t1 = await xs.startTransaction();
    await t1.read('/h/a'); // base r5 (a transaction's base is taken at its first request)
    await ys.write('/h/x', 'x'); // r6, by another connection
    await t1.write('/h/t', 't');
    await t1.commit(); // r7: committed after r6 since its start
    tx.merged = t1.id;
    const ro = await xs.startTransaction();
    await ro.read('/h/a');
    await ro.commit(); // read-only: no revision
    await xs.write('/h/a', '1b'); // r8
    await xs.write('/h/a', '1b'); // no change: no revision
  });

  test('tsxenstore log [PATH]: the revisions that changed PATH, newest first, with who and what', { timeout: 60_000 }, async () => {
    assert.ok(d !== undefined && xs !== undefined && ys !== undefined);
    const all = parseLog(await ok(d, ['log']));
    assert.deepEqual(
      all.map((l) => l.rev),
      [8, 7, 6, 5, 4, 3, 2, 1],
    );
    const a = parseLog(await ok(d, ['log', '/h/a']));
    assert.deepEqual(
      a.map((l) => [l.rev, l.op]),
      [
        [8, 'WRITE /h/a'],
        [3, 'SET_PERMS /h/a'],
        [1, 'WRITE /h/a'],
      ],
    );
    assert.deepEqual(
      parseLog(await ok(d, ['log', '/h/b'])).map((l) => l.rev),
      [4, 2],
    );
    const t = parseLog(await ok(d, ['log', '/h/t']));
    assert.equal(t.length, 1);
    assert.deepEqual(t[0], { rev: 7, domid: 0, conn: t[0]!.conn, txId: tx.merged, baseRev: 5, op: `transaction ${tx.merged}: WRITE /h/t` });
    // A transaction's revision says what it wrote.
    const c = parseLog(await ok(d, ['log', '/h/c']));
    assert.equal(c[0]!.op, `transaction ${tx.plain}: WRITE /h/c, WRITE /h/d`);
    const x = parseLog(await ok(d, ['log', '/h/x']));
    assert.equal(x.length, 1);
    assert.notEqual(x[0]!.conn, t[0]!.conn, 'two different connections');
    assert.equal(x[0]!.txId, 0);
    assert.equal(x[0]!.baseRev, undefined);
    assert.deepEqual(
      parseLog(await ok(d, ['log', '/h/c'])).map((l) => [l.rev, l.baseRev, l.txId]),
      [[5, 4, tx.plain]],
    );
    assert.equal(await ok(d, ['log', '/never/written']), '');
    // --json gives the same, as data.
    const json = JSON.parse(await ok(d, ['--json', 'log', '/h/a'])) as Array<{ rev: number; op: string }>;
    assert.deepEqual(
      json.map((j) => [j.rev, j.op]),
      a.map((l) => [l.rev, l.op]),
    );
  });

  test('tsxenstore diff R1 R2 [PATH]: exactly the change between two revisions', { timeout: 60_000 }, async () => {
    assert.ok(d !== undefined);
    assert.equal(await ok(d, ['diff', 'r1', 'r2']), '+ /h/b = "2\\000x"  (n0)\n');
    assert.equal(await ok(d, ['diff', '2', '3']), '+ /h/a = "1"  (r0,w5)\n');
    assert.equal(await ok(d, ['diff', 'r3', 'r4']), '- /h/b\n');
    assert.equal(await ok(d, ['diff', 'r4', 'r5']), '+ /h/c = "c"  (n0)\n+ /h/d = "d"  (n0)\n');
    assert.equal(await ok(d, ['diff', 'r0', 'r1']), '+ /h = ""  (n0)\n+ /h/a = "1"  (n0)\n');
    assert.equal(await ok(d, ['diff', 'r5', 'r8', '/h/a']), '+ /h/a = "1b"  (r0,w5)\n');
    assert.equal(await ok(d, ['diff', 'r8', 'r8']), '');
    const bad = await tsx(d, ['diff', 'r1', 'r99']);
    assert.equal(bad.code, 1, explainBytes('diff r1 r99', bad));
    assert.equal(bad.stderr.toString(), 'tsxenstore: diff r1 r99: no revision 99 (history holds r0..r8)\n');
    const junk = await tsx(d, ['diff', 'r1', 'latest']);
    assert.equal(junk.code, 1);
    assert.match(junk.stderr.toString(), /"latest" is not a revision/);
  });

  test('tsxenstore read --at REV: the value as it was', { timeout: 60_000 }, async () => {
    assert.ok(d !== undefined);
    assert.equal(await ok(d, ['read', '--at', 'r1', '/h/a']), '1\n');
    assert.equal(await ok(d, ['read', '--at', '7', '/h/a']), '1\n');
    assert.equal(await ok(d, ['read', '--at', 'r8', '/h/a']), '1b\n');
    assert.equal(await ok(d, ['read', '--at', 'r2', '/h/b']), '2\\000x\n');
    const raw = await tsx(d, ['read', '-R', '--at', 'r2', '/h/b']);
    assert.deepEqual(raw.stdout, Buffer.from('2\0x', 'latin1'));
    assert.equal(await ok(d, ['read', '-p', '--at', 'r6', '/h/x', '/h/c']), '/h/x: x\n/h/c: c\n');
    const gone = await tsx(d, ['read', '--at', 'r4', '/h/b']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr.toString(), /couldn't read path \/h\/b at r4: No such file or directory/);
    const outside = await tsx(d, ['read', '--at', 'r1000', '/h/a']);
    assert.equal(outside.code, 1);
    assert.match(outside.stderr.toString(), /couldn't read path \/h\/a at r1000: no revision 1000 \(history holds r0\.\.r8\)/);
    const before = await tsx(d, ['read', '--at', 'r5', '/h/t']);
    assert.equal(before.code, 1);
  });

  test('history export --git DIR: one commit per revision, each showing exactly its change; a late transaction is a merge', { timeout: 60_000 }, async () => {
    assert.ok(d !== undefined);
    const repo = join(tempDir(), 'repo');
    assert.match(await ok(d, ['history', 'export', '--git', repo]), /exported 9 revisions/);
    const log = lines(await git(repo, ['log', '--format=%H %s']));
    assert.equal(lines(await git(repo, ['log', '--oneline'])).length, 9, 'r0 (start) .. r8');
    const sha = new Map<number, string>();
    for (const l of log) {
      const m = /^([0-9a-f]{40}) r([0-9]+) /.exec(l);
      assert.ok(m !== null, l);
      sha.set(Number(m[2]), m[1]!);
    }
    assert.deepEqual([...sha.keys()].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const at = (rev: number): string => sha.get(rev)!;
    const changed = async (rev: number): Promise<string[]> => lines(await git(repo, ['diff', '--name-status', `${at(rev)}^1`, at(rev)]));
    assert.deepEqual(await changed(1), ['A\th.perms', 'A\th.value', 'A\th/a.perms', 'A\th/a.value']);
    assert.deepEqual(await changed(2), ['A\th/b.perms', 'A\th/b.value']);
    assert.deepEqual(await changed(3), ['M\th/a.perms']);
    assert.deepEqual(await changed(4), ['D\th/b.perms', 'D\th/b.value']);
    assert.deepEqual(await changed(5), ['A\th/c.perms', 'A\th/c.value', 'A\th/d.perms', 'A\th/d.value']);
    assert.deepEqual(await changed(6), ['A\th/x.perms', 'A\th/x.value']);
    assert.deepEqual(await changed(7), ['A\th/t.perms', 'A\th/t.value']);
    assert.deepEqual(await changed(8), ['M\th/a.value']);
    // git show of a plain commit shows that change and nothing else.
    assert.deepEqual(lines(await git(repo, ['show', '--format=', '--name-only', at(2)])), ['h/b.perms', 'h/b.value']);
    // File contents: raw value bytes and the perms list.
    assert.deepEqual((await git(repo, ['show', `${at(2)}:h/b.value`])).stdout, Buffer.from('2\0x', 'latin1'));
    assert.equal((await git(repo, ['show', `${at(3)}:h/a.perms`])).stdout.toString(), 'r0,w5\n');
    assert.equal((await git(repo, ['show', `${at(0)}:.root.perms`])).stdout.toString(), 'n0\n');
    assert.deepEqual(lines(await git(repo, ['ls-tree', '--name-only', at(0)])).sort(), ['.root.perms', '.root.value', 'local.perms', 'local.value', 'tool', 'tool.perms', 'tool.value']);
    // Parents: a line, except the transaction that committed after r6 since it started at r5.
    const parents = async (rev: number): Promise<string[]> => lines(await git(repo, ['rev-list', '--parents', '-n', '1', at(rev)]))[0]!.split(' ').slice(1);
    assert.deepEqual(await parents(0), []);
    for (const rev of [1, 2, 3, 4, 5, 6, 8]) assert.deepEqual(await parents(rev), [at(rev - 1)], `r${rev} has one parent`);
    assert.deepEqual(await parents(7), [at(6), at(5)], 'r7 merges its base r5');
    assert.deepEqual(lines(await git(repo, ['log', '--merges', '--format=%s'])), [`r7 transaction ${tx.merged}: WRITE /h/t`]);
    assert.deepEqual(lines(await git(repo, ['log', '-1', '--format=%s', at(3)])), ['r3 SET_PERMS /h/a']);
    // The checked-out tree is the newest revision.
    assert.equal(readFileSync(join(repo, 'h', 'a.value'), 'utf8'), '1b');
    assert.equal(readFileSync(join(repo, 'h', 'a.perms'), 'utf8'), 'r0,w5\n');
  });
});

describe('history: bounded retention', () => {
  test('only the newest revisions are kept (-Q history=N); older ones are refused by number', { timeout: 60_000 }, async () => {
    const d = await startDaemon({ args: ['--no-sim', '-Q', 'history=3'] });
    const xs = await connect({ path: d.socket });
    try {
      for (let i = 1; i <= 6; i++) await xs.write('/r/k', String(i)); // r1..r6
      assert.deepEqual(
        parseLog(await ok(d, ['log', '/r/k'])).map((l) => l.rev),
        [6, 5],
        'r4..r6 are kept; r4 has no retained predecessor to compare with',
      );
      assert.equal(await ok(d, ['read', '--at', 'r4', '/r/k']), '4\n');
      const old = await tsx(d, ['read', '--at', 'r3', '/r/k']);
      assert.equal(old.code, 1);
      const diff = await tsx(d, ['diff', 'r1', 'r6']);
      assert.equal(diff.code, 1);
      assert.match(diff.stderr.toString(), /diff r1 r6: no revision 1 \(history holds r4\.\.r6\)/);
      const repo = join(tempDir(), 'repo');
      assert.match(await ok(d, ['history', 'export', '--git', repo]), /exported 3 revisions/);
      assert.equal(lines(await git(repo, ['log', '--oneline'])).length, 3);
    } finally {
      xs.close();
      await d.stop();
    }
  });
});
