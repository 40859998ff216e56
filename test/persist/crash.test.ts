// --durable DIR: crash consistency.
//  - The log format on its own (in process): a torn last entry, cut at any
//    byte, is dropped and the state before it recovered; corruption in the
//    middle stops recovery naming the byte; a crash between writing a new
//    snapshot and emptying the log still recovers.
//  - A kill -9 loop on the real daemon: concurrent clients write, remove and
//    commit two-key transactions; after every restart on the same DIR each
//    acknowledged change is there, and no transaction is half-applied.
//  - A disk that refuses writes (a small tmpfs filled up): the write fails for
//    the client (connection closed, never an OK) and is undone; once space
//    returns, writes succeed again and survive a crash.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { connect, type XenStoreClient } from '../../src/client/client.js';
import { XenStoreError } from '../../src/client/errors.js';
import { DurableLog } from '../../src/server/durable.js';
import { nodeRecords } from '../../src/state/snapshot.js';
import { encodeStream } from '../../src/state/stream.js';
import { diffTrees } from '../../src/store/diff.js';
import type { Node } from '../../src/store/node.js';
import { tsx } from '../helpers/cli.js';
import { rng } from '../helpers/random.js';
import { canConnect, daemonScript, explain, run, startDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';
import { assertSameTree, buildStore, cleanupTempDirs, killAndWait, mountTmpfs, scriptArb, sleep, tempDir, unmount, type StoreStep } from '../helpers/persist.js';
import fc from 'fast-check';

after(cleanupTempDirs);

// ---- the log on its own ----------------------------------------------------------------

/** Writes a snapshot of the first root and one log entry per later root; returns the entries' offsets. */
function writeLog(dir: string, roots: readonly Node[]): number[] {
  const dl = new DurableLog(dir, 1 << 30);
  assert.equal(dl.recover(), undefined, 'a new directory holds no state');
  dl.maybeSnapshot(roots[0]!, true);
  for (let i = 1; i < roots.length; i++) {
    dl.append(diffTrees(roots[i - 1]!, roots[i]!));
    dl.sync();
  }
  dl.close();
  const log = readFileSync(join(dir, 'log'));
  const starts: number[] = [];
  for (let pos = 0; pos < log.length; pos += 12 + log.readUInt32LE(pos + 4)) starts.push(pos);
  return starts;
}

function recoverDir(dir: string): ReturnType<DurableLog['recover']> {
  const dl = new DurableLog(dir, 1 << 30);
  try {
    return dl.recover();
  } finally {
    dl.close();
  }
}

/** Successive roots of one store, each a real change. */
function rootsOf(steps: readonly StoreStep[]): Node[] {
  const s = buildStore([]);
  const roots = [s.root];
  for (const st of steps) {
    buildStore([st], s);
    if (s.root !== roots[roots.length - 1]) roots.push(s.root);
  }
  return roots;
}

const SCRIPT: StoreStep[] = [
  { op: 'write', path: ['a', 'b'], value: Buffer.from('one\0') },
  { op: 'perms', path: ['a'], perms: [{ kind: 'r', domid: 0 }, { kind: 'w', domid: 4 }] },
  { op: 'wide', path: ['w'], count: 35, value: Buffer.from([0, 1, 2]) },
  { op: 'rm', path: ['a', 'b'] },
  { op: 'write', path: ['a', 'c', 'd'], value: Buffer.from('last') },
];

describe('durable log: recovery', () => {
  test('a torn last entry, cut at any byte, is dropped: the state before it comes back and the log is cut to whole entries', () => {
    const roots = rootsOf(SCRIPT);
    const base = tempDir();
    const starts = writeLog(base, roots);
    const log = readFileSync(join(base, 'log'));
    const last = starts[starts.length - 1]!;
    assert.equal(starts.length, roots.length - 1);
    for (let cut = last; cut <= log.length; cut++) {
      const dir = tempDir();
      copyFileSync(join(base, 'snapshot'), join(dir, 'snapshot'));
      writeFileSync(join(dir, 'log'), log.subarray(0, cut));
      const r = recoverDir(dir);
      assert.ok(r !== undefined);
      const complete = cut === log.length;
      assertSameTree(r.root, roots[complete ? roots.length - 1 : roots.length - 2]!, `cut at ${cut}`);
      assert.equal(r.truncatedBytes, complete ? 0 : cut - last, `cut at ${cut}`);
      assert.equal(readFileSync(join(dir, 'log')).length, complete ? log.length : last, 'the torn tail is cut off on disk');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('random histories recover to the last synced root', () => {
    fc.assert(
      fc.property(scriptArb(30), (steps) => {
        const roots = rootsOf(steps);
        const dir = tempDir();
        writeLog(dir, roots);
        const r = recoverDir(dir);
        assert.ok(r !== undefined);
        assertSameTree(r.root, roots[roots.length - 1]!);
        assert.equal(r.entries, roots.length - 1);
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 40 },
    );
  });

  test('corruption before the last entry stops recovery, naming the byte', () => {
    const roots = rootsOf(SCRIPT);
    const base = tempDir();
    const starts = writeLog(base, roots);
    const log = readFileSync(join(base, 'log'));
    const second = starts[1]!;
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['a payload byte of entry 2', (b) => b.writeUInt8(b.readUInt8(second + 12 + 20) ^ 0xff, second + 12 + 20), new RegExp(`byte ${second}: checksum mismatch`)],
      ['the magic of entry 2', (b) => (b[second] = 0), new RegExp(`byte ${second}: bad entry magic`)],
    ];
    for (const [name, damage, re] of cases) {
      const dir = tempDir();
      copyFileSync(join(base, 'snapshot'), join(dir, 'snapshot'));
      const bad = Buffer.from(log);
      damage(bad);
      writeFileSync(join(dir, 'log'), bad);
      assert.throws(() => recoverDir(dir), re, name);
    }
  });

  test(
    'a crash after the new snapshot is in place but before the log is emptied still recovers the latest state',
    () => {
      // The snapshot holds /p; the log then adds /p/q and removes /p.
      const store = buildStore([{ op: 'write', path: ['p'], value: Buffer.from('1') }]);
      const roots = [store.root];
      buildStore([{ op: 'write', path: ['p', 'q'], value: Buffer.from('2') }], store);
      roots.push(store.root);
      buildStore([{ op: 'rm', path: ['p'] }], store);
      roots.push(store.root);
      const dir = tempDir();
      writeLog(dir, roots);
      // maybeSnapshot writes the new snapshot (tmp + rename), then empties the log.
      // Simulate a crash between the two: snapshot for real, then put the old log back.
      const oldLog = readFileSync(join(dir, 'log'));
      const dl = new DurableLog(dir, 1 << 30);
      dl.recover();
      dl.maybeSnapshot(roots[roots.length - 1]!, true);
      dl.close();
      writeFileSync(join(dir, 'log'), oldLog);
      const r = recoverDir(dir);
      assert.ok(r !== undefined);
      assertSameTree(r.root, roots[roots.length - 1]!);
    },
  );
});

// ---- the daemon, killed -9 again and again ----------------------------------------------------

type Expect = { readonly kind: 'value'; readonly value: string } | { readonly kind: 'absent' };

interface Model {
  /** Acknowledged state of each key. */
  readonly acked: Map<string, Expect>;
  /** Keys whose last change was sent but not acknowledged when the daemon died: the old or the new state. */
  readonly maybe: Map<string, Expect>;
  /** Pairs written by transactions: both or neither, same value. */
  readonly pairs: Set<string>;
}

const isConnectionLoss = (e: unknown): boolean => e instanceof XenStoreError && ['ECONNRESET', 'ECLOSED', 'ECONNREFUSED', 'EPIPE'].includes(e.code);

/** One client's workload until the connection dies: writes, removals, two-key transactions. */
async function workload(xs: XenStoreClient, round: number, client: number, model: Model, counter: { acked: number }, unexpected: string[], rand: () => number): Promise<void> {
  const mine: string[] = [];
  for (let n = 0; ; n++) {
    const dice = rand();
    try {
      if (dice < 0.55 || mine.length === 0) {
        const key = `/crash/r${round}/c${client}/w${n}`;
        const value = `r${round}c${client}n${n}:${'x'.repeat(Math.floor(rand() * 200))}`;
        model.maybe.set(key, { kind: 'value', value });
        await xs.write(key, Buffer.from(value, 'latin1'));
        model.maybe.delete(key);
        model.acked.set(key, { kind: 'value', value });
        mine.push(key);
      } else if (dice < 0.7) {
        const key = mine.splice(Math.floor(rand() * mine.length), 1)[0]!;
        model.maybe.set(key, { kind: 'absent' });
        await xs.rm(key);
        model.maybe.delete(key);
        model.acked.set(key, { kind: 'absent' });
      } else {
        const pair = `/crash/r${round}/c${client}/t${n}`;
        const value = `tx r${round}c${client}n${n}`;
        model.pairs.add(pair);
        model.maybe.set(`${pair}/a`, { kind: 'value', value });
        model.maybe.set(`${pair}/b`, { kind: 'value', value });
        await xs.transaction(
          async (tx) => {
            await tx.write(`${pair}/a`, value);
            await tx.write(`${pair}/b`, value);
          },
          { deadlineMs: 120_000 },
        );
        for (const k of ['a', 'b']) {
          model.maybe.delete(`${pair}/${k}`);
          model.acked.set(`${pair}/${k}`, { kind: 'value', value });
        }
      }
      counter.acked++;
    } catch (e) {
      if (!isConnectionLoss(e)) unexpected.push(`client ${client} op ${n}: ${String(e)}`);
      return;
    }
  }
}

async function readKey(xs: XenStoreClient, key: string): Promise<Expect> {
  try {
    return { kind: 'value', value: (await xs.read(key)).toString('latin1') };
  } catch (e) {
    if (e instanceof XenStoreError && e.code === 'ENOENT') return { kind: 'absent' };
    throw e;
  }
}

/** Every acknowledged change is there; unacknowledged ones are old or new; pairs are whole. */
async function verify(d: DaemonHandle, model: Model, when: string): Promise<void> {
  const xs = await connect({ path: d.socket });
  try {
    const keys = [...new Set([...model.acked.keys(), ...model.maybe.keys()])];
    const seen = new Map<string, Expect>();
    for (let i = 0; i < keys.length; i += 200) {
      const chunk = keys.slice(i, i + 200);
      const got = await Promise.all(chunk.map((k) => readKey(xs, k)));
      chunk.forEach((k, j) => seen.set(k, got[j]!));
    }
    const problems: string[] = [];
    const fmt = (x: Expect | undefined): string => (x === undefined ? 'never acknowledged' : x.kind === 'absent' ? 'absent' : JSON.stringify(x.value.slice(0, 40)));
    for (const k of keys) {
      const now = seen.get(k)!;
      const acked = model.acked.get(k) ?? { kind: 'absent' as const };
      const maybe = model.maybe.get(k);
      const same = (a: Expect, b: Expect): boolean => a.kind === b.kind && (a.kind === 'absent' || (b.kind === 'value' && a.value === b.value));
      if (same(now, acked) || (maybe !== undefined && same(now, maybe))) continue;
      problems.push(`${k}: found ${fmt(now)}, acknowledged ${fmt(model.acked.get(k))}${maybe === undefined ? '' : `, in flight ${fmt(maybe)}`}`);
    }
    for (const p of model.pairs) {
      const a = seen.get(`${p}/a`)!;
      const b = seen.get(`${p}/b`)!;
      const whole = (a.kind === 'absent' && b.kind === 'absent') || (a.kind === 'value' && b.kind === 'value' && a.value === b.value);
      if (!whole) problems.push(`transaction ${p} half applied: a=${fmt(a)} b=${fmt(b)}`);
    }
    assert.deepEqual(problems.slice(0, 20), [], `${when}: ${problems.length} problems`);
    assert.equal(await xs.control('check'), 'OK', `${when}: CONTROL check`);
  } finally {
    xs.close();
  }
}

describe('durable daemon: kill -9 loop', () => {
  test('after every kill -9 and restart on the same DIR, every acknowledged change is there and no transaction is half-applied', { timeout: 240_000 }, async (t) => {
    const dir = join(tempDir(), 'durable');
    const seed = Number(process.env.TSXS_CRASH_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`seed ${seed} (TSXS_CRASH_SEED to repeat)`);
    const rand = rng(seed);
    const model: Model = { acked: new Map(), maybe: new Map(), pairs: new Set() };
    const ROUNDS = 8;
    const CLIENTS = 4;
    // A small snapshot bound, so kills also land around snapshots and log truncation.
    const args = ['--no-sim', '--durable', dir, '-Q', 'durable-snapshot-bytes=12000'];
    let d: DaemonHandle | undefined;
    try {
      d = await startDaemon({ args });
      await verify(d, model, 'at the first start');
      for (let round = 0; round < ROUNDS; round++) {
        const live: DaemonHandle = d;
        const clients = await Promise.all(Array.from({ length: CLIENTS }, () => connect({ path: live.socket })));
        const counter = { acked: 0 };
        const unexpected: string[] = [];
        const loops = clients.map((xs, i) => workload(xs, round, i, model, counter, unexpected, rng(seed * 31 + round * 7 + i)));
        // Let some work be acknowledged, then kill at a random moment.
        await waitFor(() => counter.acked >= 15 || unexpected.length > 0, { what: 'some acknowledged writes' });
        await sleep(Math.floor(rand() * 400));
        process.kill(live.pid, 'SIGKILL');
        await Promise.all(loops);
        for (const xs of clients) xs.close();
        await live.stop();
        d = undefined;
        assert.deepEqual(unexpected, [], `round ${round}: only connection loss may stop a client`);
        t.diagnostic(`round ${round}: ${counter.acked} acknowledged operations before the kill, ${model.maybe.size} keys in flight`);
        d = await startDaemon({ args });
        await verify(d, model, `round ${round}, after the kill`);
        // What the changes in flight became is settled now: from here on, it is the expected state.
        const xs = await connect({ path: d.socket });
        try {
          for (const k of model.maybe.keys()) model.acked.set(k, await readKey(xs, k));
        } finally {
          xs.close();
        }
        model.maybe.clear();
      }
    } finally {
      await d?.stop();
    }
  });
});

// ---- a disk that refuses writes --------------------------------------------------------------

/** Fills the file system holding `mnt` completely; returns the filler file. */
function fillDisk(mnt: string): string {
  const filler = join(mnt, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 0x66);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  return filler;
}

interface Attempt {
  readonly key: string;
  /** The client was told OK. */
  readonly ok: boolean;
  readonly error: unknown;
  /** The value is in the store afterwards. */
  readonly present: boolean;
}

/**
 * Writes 3000-byte values, each on a fresh connection, until the disk refuses
 * one (the log's last page may have room for a few): that attempt either got
 * no OK or its value is not in the store.
 */
async function writeUntilRefused(d: DaemonHandle, prefix: string): Promise<Attempt[]> {
  const big = 'v'.repeat(3000);
  const out: Attempt[] = [];
  const probe = await connect({ path: d.socket });
  try {
    for (let i = 0; i < 40; i++) {
      const key = `${prefix}/k${i}`;
      const c = await connect({ path: d.socket });
      let ok = false;
      let error: unknown;
      try {
        await c.write(key, big);
        ok = true;
      } catch (e) {
        error = e;
      } finally {
        c.close();
      }
      const present = await probe.exists(key);
      out.push({ key, ok, error, present });
      if (!ok || !present) return out;
    }
  } finally {
    probe.close();
  }
  assert.fail('the full disk never refused a commit');
}

/**
 * Runs `body` on a fresh tmpfs of `size` (the only way to fill a disk here),
 * unmounted afterwards; skips the test where tmpfs cannot be mounted.
 */
async function onSmallTmpfs(t: TestContext, size: string, body: (mnt: string) => Promise<void>): Promise<void> {
  const mnt = tempDir('tsxs-tmpfs-');
  const why = mountTmpfs(mnt, size);
  if (why !== undefined) {
    t.skip(`cannot mount a small tmpfs here (${why}); a full disk cannot be simulated without it`);
    return;
  }
  try {
    await body(mnt);
  } finally {
    unmount(mnt);
  }
}

/** A durable daemon on `mnt`, whose disk is then filled; stopped afterwards. */
async function durableOnFullDisk(mnt: string, body: (d: DaemonHandle) => Promise<void>): Promise<void> {
  const d = await startDaemon({ args: ['--no-sim', '--durable', join(mnt, 'durable')] });
  try {
    fillDisk(mnt);
    await body(d);
  } finally {
    await d.stop();
  }
}

describe('durable daemon: disk full', () => {
  test('a commit the disk refuses is undone, the daemon keeps serving; after space returns, writes succeed and survive a crash', { timeout: 120_000 }, (t) =>
    onSmallTmpfs(t, '256k', async (mnt) => {
      let d: DaemonHandle | undefined;
      try {
        const dir = join(mnt, 'durable');
        const args = ['--no-sim', '--durable', dir];
        d = await startDaemon({ args });
        const xs = await connect({ path: d.socket });
        await xs.write('/full/before', 'kept');
        xs.close();
        const filler = fillDisk(mnt);
        const attempts = await writeUntilRefused(d, '/full');
        const refused = attempts[attempts.length - 1]!;
        const stored = attempts.filter((a) => a.present).map((a) => a.key);
        for (const a of attempts) {
          // Whatever else happens, a write fails only by losing the connection.
          if (!a.ok) assert.ok(isConnectionLoss(a.error), `${a.key}: ${String(a.error)}`);
        }
        assert.equal(refused.present, false, 'the refused write was undone');
        assert.ok(d.running(), 'the daemon keeps running');
        await waitFor(() => /durable log: ENOSPC/.test(d!.log()), { what: 'the daemon to log the refused write' });
        const check = await connect({ path: d.socket });
        try {
          assert.equal((await check.read('/full/before')).toString(), 'kept');
          assert.equal(await check.control('check'), 'OK');
          // Reads need no disk.
          assert.deepEqual(await check.directory('/full'), ['before', ...stored.map((k) => k.slice('/full/'.length))].sort());
          // Space returns.
          unlinkSync(filler);
          await check.write('/full/after', 'space is back');
          assert.equal((await check.read('/full/after')).toString(), 'space is back');
        } finally {
          check.close();
        }
        // It is durable: kill -9 and recover.
        await killAndWait(d.pid, 'SIGKILL');
        await d.stop();
        d = await startDaemon({ args });
        const r = await connect({ path: d.socket });
        try {
          assert.equal((await r.read('/full/before')).toString(), 'kept');
          assert.equal((await r.read('/full/after')).toString(), 'space is back');
          for (const k of stored) assert.equal((await r.read(k)).length, 3000, k);
          assert.equal(await r.exists(refused.key), false, 'a refused commit never reappears');
          assert.equal(await r.control('check'), 'OK');
        } finally {
          r.close();
        }
      } finally {
        await d?.stop();
      }
    }));

  test('a commit the disk refuses is never acknowledged: the client sees its connection closed, not OK', { timeout: 60_000 }, (t) =>
    onSmallTmpfs(t, '128k', (mnt) =>
      durableOnFullDisk(mnt, async (d) => {
        const attempts = await writeUntilRefused(d, '/ack').catch((e: unknown) => {
          throw new Error(`${String(e)}\n--- daemon log ---\n${d.log()}`);
        });
        const refused = attempts[attempts.length - 1]!;
        assert.equal(refused.ok, false, `${refused.key} was answered OK but is not in the store`);
        assert.ok(isConnectionLoss(refused.error), String(refused.error));
      }),
    ));

  test('a daemon started on a full disk says so and exits; it never listens and then crashes', { timeout: 60_000 }, (t) =>
    onSmallTmpfs(t, '64k', async (mnt) => {
      // The snapshot of even a fresh store needs more than the few bytes left.
      fillDisk(mnt);
      const socket = join(mnt, 'never');
      const r = await run(process.execPath, [daemonScript(), '--no-sim', '--socket', socket, '--durable', join(mnt, 'durable')]);
      assert.notEqual(r.code, 0, explain('tsxenstored', r));
      assert.match(r.stderr, /cannot (write the first snapshot|recover) .*ENOSPC/, explain('tsxenstored', r));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'a clear message, not a stack trace');
      assert.equal(await canConnect(socket), false, 'it never accepted a client');
    }));

  test('a commit the disk refused does not appear in the history either', { timeout: 60_000 }, (t) =>
    onSmallTmpfs(t, '128k', (mnt) =>
      durableOnFullDisk(mnt, async (d) => {
        const attempts = await writeUntilRefused(d, '/h');
        const refused = attempts[attempts.length - 1]!;
        const log = await tsx(d, ['log', refused.key]);
        assert.equal(log.code, 0);
        assert.equal(log.stdout.toString(), '', `the history lists a revision that never happened:\n${log.stdout.toString()}`);
      }),
    ));
});
