/**
 * The client library (src/client) against the built daemon: data calls,
 * permissions, requests in flight, transactions and their retry, watches
 * as async iterables, domain/control/quota/feature calls, and how every
 * failure surfaces as a XenStoreError.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect,
  openSocket,
  Op,
  XenStoreError,
  type ByteChannel,
  type ConnectOptions,
  type Permission,
  type WatchEvent,
  type WatchStream,
  type XenStoreClient,
} from '../../src/index.js';
import { startDaemon, useDaemon, waitFor, type DaemonHandle } from '../helpers/daemon.js';

const daemon = useDaemon();

/** Opens a client on the file's daemon; closed by the caller. */
async function client(opts: Omit<ConnectOptions, 'path'> = {}): Promise<XenStoreClient> {
  return connect({ path: daemon().socket, ...opts });
}

/** Runs `fn` with a fresh client and closes it afterwards. */
async function withClient<T>(fn: (c: XenStoreClient) => Promise<T>, opts: Omit<ConnectOptions, 'path'> = {}): Promise<T> {
  const c = await client(opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** A socket channel that records every frame the client sends (type and payload). */
interface Recording {
  readonly channel: ByteChannel;
  /** Message types, in sending order. */
  readonly sent: number[];
  /** Payloads, parallel to `sent`. */
  readonly payloads: Buffer[];
}

/**
 * Wraps a socket channel. `hold`, if given, may return a promise for a frame:
 * that frame (and every later one) is only passed on once the promise settles.
 */
async function recordingChannel(path: string, hold?: (type: number, payload: Buffer) => Promise<unknown> | undefined): Promise<Recording> {
  const inner = await openSocket(path);
  const sent: number[] = [];
  const payloads: Buffer[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  const channel: ByteChannel = {
    write(buf: Buffer): void {
      // The client writes one whole frame per call: a 16-byte header, then the payload.
      const type = buf.readUInt32LE(0);
      const payload = Buffer.from(buf.subarray(16));
      sent.push(type);
      payloads.push(payload);
      const gate = hold?.(type, payload);
      if (gate === undefined) {
        queue = queue.then(() => inner.write(buf));
      } else {
        queue = queue.then(() => gate.catch(() => undefined)).then(() => inner.write(buf));
      }
    },
    start: (onData, onClose) => inner.start(onData, onClose),
    close: () => inner.close(),
  };
  return { channel, sent, payloads };
}

/** A XenStoreError with this code (for assert.rejects). */
function xsError(code: string | readonly string[]): (e: unknown) => boolean {
  const codes = typeof code === 'string' ? [code] : code;
  return (e: unknown) => {
    assert.ok(e instanceof XenStoreError, `expected a XenStoreError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `expected code ${codes.join('|')}, got ${e.code} (${e.message})`);
    return true;
  };
}

/** The next event of a watch, or a failure if none arrives in time (never hangs the file). */
async function nextEvent(w: WatchStream, timeoutMs = 30_000): Promise<WatchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no watch event on ${w.path} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const r = await Promise.race([w.next(), timeout]);
    assert.equal(r.done, false, `watch ${w.path} ended`);
    return r.value as WatchEvent;
  } finally {
    clearTimeout(timer);
  }
}

const paths = (evs: readonly WatchEvent[]): string[] => evs.map((e) => e.path);

// ---- values ----------------------------------------------------------------

describe('values', () => {
  test('string values round trip (ASCII, empty, spaces, UTF-8)', async () => {
    await withClient(async (c) => {
      const cases: Record<string, string> = {
        '/cl/str/plain': 'hello',
        '/cl/str/empty': '',
        '/cl/str/spaces': '  two  spaces  ',
        '/cl/str/utf8': 'héllo wörld ✓ 日本語',
        '/cl/str/ctl': 'line1\nline2\ttab\rcr',
        '/cl/str/quotes': `say "hi" 'x' back\\slash`,
      };
      for (const [p, v] of Object.entries(cases)) await c.write(p, v);
      for (const [p, v] of Object.entries(cases)) {
        assert.equal(await c.readString(p), v, p);
        assert.deepEqual(await c.read(p), Buffer.from(v, 'utf8'), p);
      }
      // Overwrite.
      await c.write('/cl/str/plain', 'again');
      assert.equal(await c.readString('/cl/str/plain'), 'again');
    });
  });

  test('binary values round trip, including NUL bytes', async () => {
    await withClient(async (c) => {
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await c.write('/cl/bin/all', all);
      assert.deepEqual(await c.read('/cl/bin/all'), all);

      const nuls = Buffer.from([0, 0, 0x41, 0, 0x42, 0]);
      await c.write('/cl/bin/nuls', nuls);
      assert.deepEqual(await c.read('/cl/bin/nuls'), nuls);

      await c.write('/cl/bin/one-nul', new Uint8Array([0]));
      assert.deepEqual(await c.read('/cl/bin/one-nul'), Buffer.from([0]));

      // A string with an embedded NUL is written as its UTF-8 bytes.
      await c.write('/cl/bin/strnul', 'a\0b');
      assert.deepEqual(await c.read('/cl/bin/strnul'), Buffer.from([0x61, 0, 0x62]));

      // A large value (dom0 is not bound by the node-size quota).
      const big = Buffer.alloc(3000, 0);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      await c.write('/cl/bin/big', big);
      assert.deepEqual(await c.read('/cl/bin/big'), big);
    });
  });

  test('a request over 4096 bytes is refused client-side with E2BIG', async () => {
    const rec = await recordingChannel(daemon().socket);
    const c = await connect({ channel: rec.channel });
    try {
      await assert.rejects(c.write('/cl/too-big', Buffer.alloc(5000, 0x61)), xsError('E2BIG'));
      assert.ok(!rec.sent.includes(Op.WRITE), 'nothing was sent');
      assert.equal(await c.exists('/cl/too-big'), false);
    } finally {
      c.close();
    }
  });

  test('mkdir, rm, exists', async () => {
    await withClient(async (c) => {
      await c.mkdir('/cl/md/a');
      assert.equal(await c.exists('/cl/md/a'), true);
      assert.equal(await c.exists('/cl/md'), true);
      assert.deepEqual(await c.read('/cl/md/a'), Buffer.alloc(0));
      assert.deepEqual(await c.directory('/cl/md'), ['a']);

      // mkdir of an existing node keeps its value.
      await c.write('/cl/md/v', 'keep');
      await c.mkdir('/cl/md/v');
      assert.equal(await c.readString('/cl/md/v'), 'keep');

      await c.write('/cl/md/a/b/c', 'deep');
      await c.rm('/cl/md/a');
      assert.equal(await c.exists('/cl/md/a'), false);
      assert.equal(await c.exists('/cl/md/a/b/c'), false);
      assert.equal(await c.exists('/cl/md/v'), true);

      // Removing a missing node whose parent exists succeeds; a missing parent fails.
      await c.rm('/cl/md/never-there');
      await assert.rejects(c.rm('/cl/no-such-parent/child'), xsError('ENOENT'));

      assert.equal(await c.exists('/cl/md/nope'), false);
      await assert.rejects(c.read('/cl/md/nope'), xsError('ENOENT'));
    });
  });

  test('relative paths resolve under /local/domain/0', async () => {
    await withClient(async (c) => {
      await c.write('cl-rel/x', 'rel');
      assert.equal(await c.readString('/local/domain/0/cl-rel/x'), 'rel');
      assert.equal(await c.readString('cl-rel/x'), 'rel');
      assert.deepEqual(await c.directory('cl-rel'), ['x']);
    });
  });
});

// ---- directory -------------------------------------------------------------------

describe('directory', () => {
  test('lists children; a leaf has none; a missing node is ENOENT', async () => {
    await withClient(async (c) => {
      await c.write('/cl/dir/b', '2');
      await c.write('/cl/dir/a', '1');
      await c.write('/cl/dir/c/d', '3');
      assert.deepEqual([...(await c.directory('/cl/dir'))].sort(), ['a', 'b', 'c']);
      assert.deepEqual(await c.directory('/cl/dir/a'), []);
      await assert.rejects(c.directory('/cl/dir/none'), xsError('ENOENT'));
    });
  });

  test('DIRECTORY_PART starts again when the directory changes between parts', async () => {
    const names = Array.from({ length: 1200 }, (_, i) => `entry-${String(i).padStart(5, '0')}`);
    await withClient(async (c) => {
      await Promise.all(names.map((n) => c.write(`/cl/partdir/${n}`, '')));
    });
    const other = await client();
    let parts = 0;
    // Before the second DIRECTORY_PART request goes out, another connection adds a
    // child that sorts first, shifting every later name: offsets from the first
    // listing would now give duplicates unless the client notices the new generation.
    const rec = await recordingChannel(daemon().socket, (type) => {
      if (type !== Op.DIRECTORY_PART) return undefined;
      parts++;
      return parts === 2 ? other.write('/cl/partdir/a-new-first-entry', '') : undefined;
    });
    const c = await connect({ channel: rec.channel });
    try {
      const got = await c.directory('/cl/partdir');
      assert.equal(new Set(got).size, got.length, 'no duplicates');
      assert.deepEqual([...got].sort(), ['a-new-first-entry', ...names].sort());
      const offsets = rec.payloads.filter((_, i) => rec.sent[i] === Op.DIRECTORY_PART).map((p) => p.toString('latin1').split('\0')[1]);
      assert.ok(offsets.filter((o) => o === '0').length >= 2, `the listing started again at offset 0: ${offsets.join(',')}`);
    } finally {
      c.close();
      other.close();
    }
  });

  test('a directory of 1500 children comes back complete through DIRECTORY_PART', async () => {
    const names = Array.from({ length: 1500 }, (_, i) => `child-number-${String(i).padStart(5, '0')}`);
    await withClient(async (c) => {
      // All writes in flight at once.
      await Promise.all(names.map((n, i) => c.write(`/cl/bigdir/${n}`, String(i))));
    });
    const rec = await recordingChannel(daemon().socket);
    const c = await connect({ channel: rec.channel });
    try {
      const got = await c.directory('/cl/bigdir');
      assert.equal(got.length, names.length);
      assert.deepEqual([...got].sort(), names);
      assert.equal(new Set(got).size, got.length, 'no duplicates');
      // The plain DIRECTORY reply would exceed 4096 bytes: the parts fallback was used.
      assert.ok(rec.sent.includes(Op.DIRECTORY_PART), `frames sent: ${rec.sent.join(',')}`);

      // The same inside a transaction.
      const tx = await c.startTransaction();
      try {
        const inTx = await tx.directory('/cl/bigdir');
        assert.deepEqual([...inTx].sort(), names);
      } finally {
        await tx.abort();
      }
    } finally {
      c.close();
    }
  });
});

// ---- permissions ---------------------------------------------------------------

describe('permissions', () => {
  test('getPerms/setPerms with the typed model', async () => {
    await withClient(async (c) => {
      await c.write('/cl/perm/a', 'v');
      assert.deepEqual(await c.getPerms('/cl/perm/a'), [{ domid: 0, access: 'none' }]);

      const perms: Permission[] = [
        { domid: 0, access: 'none' },
        { domid: 3, access: 'read' },
        { domid: 4, access: 'write' },
        { domid: 5, access: 'both' },
      ];
      await c.setPerms('/cl/perm/a', perms);
      assert.deepEqual(await c.getPerms('/cl/perm/a'), perms);

      // The string form is accepted too and parsed into the same model.
      await c.setPerms('/cl/perm/a', ['b7', 'r0', 'n12']);
      assert.deepEqual(await c.getPerms('/cl/perm/a'), [
        { domid: 7, access: 'both' },
        { domid: 0, access: 'read' },
        { domid: 12, access: 'none' },
      ]);

      // Inside a transaction, visible only after commit.
      await c.transaction(async (tx) => {
        await tx.setPerms('/cl/perm/a', [{ domid: 0, access: 'read' }]);
        assert.deepEqual(await tx.getPerms('/cl/perm/a'), [{ domid: 0, access: 'read' }]);
      });
      assert.deepEqual(await c.getPerms('/cl/perm/a'), [{ domid: 0, access: 'read' }]);

      await assert.rejects(c.getPerms('/cl/perm/missing'), xsError('ENOENT'));
    });
  });

  test("setPerms with 'x5' rejects with EINVAL before sending anything", async () => {
    await withClient(async (c) => c.write('/cl/perm/b', 'v'));
    const rec = await recordingChannel(daemon().socket);
    const c = await connect({ channel: rec.channel });
    try {
      await assert.rejects(c.setPerms('/cl/perm/b', ['n0', 'x5']), xsError('EINVAL'));
      await assert.rejects(c.setPerms('/cl/perm/b', ['x5']), xsError('EINVAL'));
      await assert.rejects(c.setPerms('/cl/perm/b', ['r']), xsError('EINVAL'));
      await assert.rejects(c.setPerms('/cl/perm/b', ['r70000']), xsError('EINVAL'));
      await assert.rejects(c.setPerms('/cl/perm/b', []), xsError('EINVAL'));
      assert.ok(!rec.sent.includes(Op.SET_PERMS), `frames sent: ${rec.sent.join(',')}`);
      assert.deepEqual(await c.getPerms('/cl/perm/b'), [{ domid: 0, access: 'none' }]);
    } finally {
      c.close();
    }
  });
});

// ---- requests in flight -----------------------------------------------------------

describe('requests in flight', () => {
  test('2000 concurrent reads of different keys each get their own value', async () => {
    await withClient(async (c) => {
      const N = 2000;
      const key = (i: number): string => `/cl/many/k${i}`;
      const val = (i: number): string => `value-${i}-${'x'.repeat(i % 37)}`;
      const writes = Array.from({ length: N }, (_, i) => c.write(key(i), val(i)));
      assert.equal(c.inFlight, N, 'all writes are in flight at once');
      await Promise.all(writes);

      const reads = Array.from({ length: N }, (_, i) => c.readString(key(i)));
      assert.equal(c.inFlight, N, 'all reads are in flight at once');
      const got = await Promise.all(reads);
      for (let i = 0; i < N; i++) assert.equal(got[i], val(i), key(i));
      assert.equal(c.inFlight, 0);

      // Mixed kinds of request, including failures, interleaved.
      const mixed = await Promise.allSettled([
        c.readString(key(1)),
        c.read('/cl/many/missing'),
        c.directory('/cl/many/k5'),
        c.exists(key(7)),
        c.getPerms(key(9)),
        c.read('/cl/many/'),
        c.readString(key(11)),
      ]);
      assert.deepEqual(
        mixed.map((r) => (r.status === 'fulfilled' ? { ok: r.value } : { err: (r.reason as XenStoreError).code })),
        [{ ok: val(1) }, { err: 'ENOENT' }, { ok: [] }, { ok: true }, { ok: [{ domid: 0, access: 'none' }] }, { err: 'EINVAL' }, { ok: val(11) }],
      );
    });
  });

  test('more than maxInFlight requests at once are refused with EBUSY', async () => {
    await withClient(
      async (c) => {
        await c.write('/cl/busy', 'b');
        const rs = await Promise.allSettled([c.read('/cl/busy'), c.read('/cl/busy'), c.read('/cl/busy')]);
        assert.equal(rs[0]?.status, 'fulfilled');
        assert.equal(rs[1]?.status, 'fulfilled');
        assert.equal(rs[2]?.status, 'rejected');
        if (rs[2]?.status === 'rejected') xsError('EBUSY')(rs[2].reason);
        // And the connection still works.
        assert.equal(await c.readString('/cl/busy'), 'b');
      },
      { maxInFlight: 2 },
    );
  });
});

// ---- transactions ----------------------------------------------------------------

describe('transactions', () => {
  test('commit makes the writes visible; before it they are private', async () => {
    await withClient(async (c) => {
      const tx = await c.startTransaction();
      assert.ok(tx.id > 0);
      await tx.write('/cl/tx/a', '1');
      await tx.mkdir('/cl/tx/dir');
      assert.equal(await tx.readString('/cl/tx/a'), '1');
      assert.equal(await c.exists('/cl/tx/a'), false, 'not visible outside before commit');
      await tx.commit();
      assert.equal(await c.readString('/cl/tx/a'), '1');
      assert.equal(await c.exists('/cl/tx/dir'), true);
    });
  });

  test('abort discards the writes', async () => {
    await withClient(async (c) => {
      await c.write('/cl/tx/keep', 'old');
      const tx = await c.startTransaction();
      await tx.write('/cl/tx/b', '2');
      await tx.write('/cl/tx/keep', 'new');
      await tx.rm('/cl/tx/a');
      await tx.abort();
      assert.equal(await c.exists('/cl/tx/b'), false);
      assert.equal(await c.readString('/cl/tx/keep'), 'old');
      // A second abort is a no-op.
      await tx.abort();
    });
  });

  test('transaction() returns the result; a throwing body aborts and rethrows', async () => {
    await withClient(async (c) => {
      const r = await c.transaction(async (tx) => {
        await tx.write('/cl/tx/fn', 'yes');
        return 42;
      });
      assert.equal(r, 42);
      assert.equal(await c.readString('/cl/tx/fn'), 'yes');

      const boom = new Error('boom');
      await assert.rejects(
        c.transaction(async (tx) => {
          await tx.write('/cl/tx/fn-thrown', 'no');
          throw boom;
        }),
        (e: unknown) => e === boom,
      );
      assert.equal(await c.exists('/cl/tx/fn-thrown'), false);

      // A daemon error inside the body is passed on as it is.
      await assert.rejects(
        c.transaction(async (tx) => tx.read('/cl/tx/missing')),
        xsError('ENOENT'),
      );
    });
  });

  test('a startTransaction() conflict gives XenStoreError EAGAIN', async () => {
    await withClient(async (c) => {
      await c.write('/cl/tx/conflict', '0');
      const tx = await c.startTransaction();
      const seen = Number(await tx.readString('/cl/tx/conflict'));
      await c.write('/cl/tx/conflict', '100'); // someone else changes what tx read
      await tx.write('/cl/tx/conflict', String(seen + 1));
      await assert.rejects(tx.commit(), xsError('EAGAIN'));
      assert.equal(await c.readString('/cl/tx/conflict'), '100');
    });
  });

  const increment = async (c: XenStoreClient, path: string): Promise<void> => {
    await c.transaction(async (tx) => {
      const n = Number(await tx.readString(path));
      await tx.write(path, String(n + 1));
    });
  };

  test('20 concurrent transaction() callers on one connection increment a counter to exactly 20', async () => {
    await withClient(async (c) => {
      await c.write('/cl/tx/counter1', '0');
      await Promise.all(Array.from({ length: 20 }, () => increment(c, '/cl/tx/counter1')));
      assert.equal(await c.readString('/cl/tx/counter1'), '20');
    });
  });

  test('20 concurrent transaction() callers over 3 connections increment a counter to exactly 20', async () => {
    const clients = await Promise.all([client(), client(), client()]);
    try {
      await clients[0]!.write('/cl/tx/counter3', '0');
      await Promise.all(Array.from({ length: 20 }, (_, i) => increment(clients[i % 3]!, '/cl/tx/counter3')));
      assert.equal(await clients[1]!.readString('/cl/tx/counter3'), '20');
    } finally {
      for (const c of clients) c.close();
    }
  });
});

// ---- watches ----------------------------------------------------------------------

describe('watches', () => {
  test('the first event is the path; then one event per write and rm', async () => {
    await withClient(async (c) => {
      await c.write('/cl/w1', '');
      const w = await c.watch('/cl/w1');
      try {
        const first = await nextEvent(w);
        assert.deepEqual(first, { path: '/cl/w1', token: w.token });
        await c.write('/cl/w1/a', '1');
        assert.equal((await nextEvent(w)).path, '/cl/w1/a');
        await c.write('/cl/w1x', 'not below /cl/w1'); // a sibling with a common prefix
        await c.write('/cl/w1', 'self');
        assert.equal((await nextEvent(w)).path, '/cl/w1');
        await c.rm('/cl/w1/a');
        assert.equal((await nextEvent(w)).path, '/cl/w1/a');
        // A write by another connection is seen too.
        await withClient((c2) => c2.write('/cl/w1/other', 'x'));
        assert.equal((await nextEvent(w)).path, '/cl/w1/other');
      } finally {
        await w.return();
      }
    });
  });

  test('an explicit token is reported with every event', async () => {
    await withClient(async (c) => {
      const w = await c.watch('/cl/wtok', { token: 'my-token' });
      try {
        assert.deepEqual(await nextEvent(w), { path: '/cl/wtok', token: 'my-token' });
        await c.write('/cl/wtok', 'v');
        assert.deepEqual(await nextEvent(w), { path: '/cl/wtok', token: 'my-token' });
        // The same token twice on one connection is refused.
        await assert.rejects(c.watch('/cl/wtok-other', { token: 'my-token' }), xsError('EEXIST'));
      } finally {
        await w.return();
      }
    });
  });

  test('a relative watch reports relative paths', async () => {
    await withClient(async (c) => {
      await c.write('cl-relw', '');
      const w = await c.watch('cl-relw');
      try {
        assert.equal((await nextEvent(w)).path, 'cl-relw');
        await c.write('cl-relw/x', '1');
        assert.equal((await nextEvent(w)).path, 'cl-relw/x');
        // Written through the absolute path: still reported relative to the watch.
        await c.write('/local/domain/0/cl-relw/y', '2');
        assert.equal((await nextEvent(w)).path, 'cl-relw/y');
      } finally {
        await w.return();
      }
    });
  });

  test('the depth option limits how deep below the path changes are reported', async () => {
    await withClient(async (c) => {
      await c.write('/cl/wd/x/y', '');
      const w1 = await c.watch('/cl/wd', { depth: 1 });
      const w0 = await c.watch('/cl/wd', { depth: 0 });
      const all = await c.watch('/cl/wd');
      try {
        assert.equal((await nextEvent(w1)).path, '/cl/wd');
        assert.equal((await nextEvent(w0)).path, '/cl/wd');
        assert.equal((await nextEvent(all)).path, '/cl/wd');

        await c.write('/cl/wd/x/y', 'depth 2');
        await c.write('/cl/wd/z', 'depth 1');
        await c.write('/cl/wd', 'depth 0');

        assert.deepEqual(paths([await nextEvent(all), await nextEvent(all), await nextEvent(all)]), ['/cl/wd/x/y', '/cl/wd/z', '/cl/wd']);
        assert.deepEqual(paths([await nextEvent(w1), await nextEvent(w1)]), ['/cl/wd/z', '/cl/wd']);
        assert.deepEqual(paths([await nextEvent(w0)]), ['/cl/wd']);
      } finally {
        await Promise.all([w1.return(), w0.return(), all.return()]);
      }
    });
  });

  test('break out of for-await sends UNWATCH; the token can be used again', async () => {
    const rec = await recordingChannel(daemon().socket);
    const c = await connect({ channel: rec.channel });
    try {
      await c.write('/cl/wb', '');
      const w = await c.watch('/cl/wb', { token: 'tok-break' });
      const seen: string[] = [];
      for await (const ev of w) {
        seen.push(ev.path);
        break;
      }
      assert.deepEqual(seen, ['/cl/wb']);
      assert.ok(rec.sent.includes(Op.UNWATCH), `frames sent: ${rec.sent.join(',')}`);
      // The ended iterator stays ended.
      assert.deepEqual(await w.next(), { value: undefined, done: true });

      // The daemon forgot the watch: the same path and token can be watched again
      // (it would answer EEXIST otherwise), and the new watch sees later writes.
      const again = await c.watch('/cl/wb', { token: 'tok-break' });
      try {
        assert.equal((await nextEvent(again)).path, '/cl/wb');
        await c.write('/cl/wb/later', '1');
        assert.equal((await nextEvent(again)).path, '/cl/wb/later');
      } finally {
        await again.return();
      }
      assert.equal(await c.control('check'), 'OK');
    } finally {
      c.close();
    }
  });

  test('a consumer that falls behind gets EOVERFLOW (bounded buffering)', async () => {
    await withClient(
      async (c) => {
        await c.write('/cl/wo', '');
        const w = await c.watch('/cl/wo', { token: 'tok-ovf' });
        // 1 initial event + 50 writes, none consumed, with room for 5.
        for (let i = 0; i < 50; i++) await c.write(`/cl/wo/k${i}`, String(i));
        await c.control('check'); // every event sent before this reply has been seen
        await assert.rejects(w.next(), xsError('EOVERFLOW'));
        await assert.rejects(w.next(), xsError('EOVERFLOW'));
        // The overflowing watch was dropped at the daemon too: its token is free again.
        await waitFor(
          async () => {
            const again = await c.watch('/cl/wo', { token: 'tok-ovf' });
            await again.return();
            return true;
          },
          { timeoutMs: 30_000, what: 're-watching after EOVERFLOW' },
        );
        await w.return();
      },
      { watchBuffer: 5 },
    );
  });

  test('close() ends a waiting watch with ECLOSED', async () => {
    const c = await client();
    const w = await c.watch('/cl/wclose');
    assert.equal((await nextEvent(w)).path, '/cl/wclose');
    const waiting = w.next();
    c.close();
    await assert.rejects(waiting, xsError('ECLOSED'));
    await w.return();
  });

  test(
    'a token outside Latin-1 still receives its events',
    async () => {
      await withClient(async (c) => {
        const w = await c.watch('/cl/wtok-utf8', { token: 'tok-✓' });
        try {
          assert.deepEqual(await nextEvent(w, 5_000), { path: '/cl/wtok-utf8', token: 'tok-✓' });
        } finally {
          await w.return();
        }
      });
    },
  );

  test('@introduceDomain can be watched from the socket', async () => {
    await withClient(async (c) => {
      const w = await c.watch('@introduceDomain');
      try {
        assert.equal((await nextEvent(w)).path, '@introduceDomain');
      } finally {
        await w.return();
      }
    });
  });
});

// ---- control, quota, features -------------------------------------------------------

describe('control, quota, features', () => {
  test("control('check') is OK; unknown commands are EINVAL", async () => {
    await withClient(async (c) => {
      assert.equal(await c.control('check'), 'OK');
      assert.equal(await c.control('print', 'hello from the client test'), 'OK');
      assert.match(await c.control('help'), /check/);
      await assert.rejects(c.control('no-such-command'), xsError('EINVAL'));
    });
  });

  test('quota names, values, and setting a global quota', async () => {
    await withClient(async (c) => {
      const names = await c.quotaNames();
      for (const n of ['nodes', 'watches', 'transactions', 'node-size']) assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
      for (const n of names) {
        const v = await c.getQuota(n);
        assert.ok(Number.isInteger(v) && v >= 0, `${n} = ${v}`);
      }
      const before = await c.getQuota('watches');
      try {
        await c.setQuota('watches', before + 7);
        assert.equal(await c.getQuota('watches'), before + 7);
      } finally {
        await c.setQuota('watches', before);
      }
      assert.equal(await c.getQuota('watches'), before);
      await assert.rejects(c.getQuota('no-such-quota'), xsError('EINVAL'));
    });
  });

  test('features: the daemon reports an integer bit mask', async () => {
    await withClient(async (c) => {
      const f = await c.getFeatures();
      assert.ok(Number.isInteger(f) && f >= 0, String(f));
      const f0 = await c.getFeatures(0);
      assert.ok(Number.isInteger(f0) && f0 >= 0, String(f0));
      await assert.rejects(c.getFeatures(4321), xsError('ENOENT'));
    });
  });
});

// ---- domains (a daemon without the simulated Xen, so INTRODUCE needs no ring page) ----

describe('domain calls (daemon with --no-sim)', () => {
  const nosim = useDaemon({ args: ['--no-sim'] });

  test('introduce, isDomainIntroduced, getDomainPath, per-domain quota and features, release', async () => {
    const c = await connect({ path: nosim().socket });
    try {
      const intro = await c.watch('@introduceDomain');
      const rel = await c.watch('@releaseDomain');
      assert.equal((await nextEvent(intro)).path, '@introduceDomain');
      assert.equal((await nextEvent(rel)).path, '@releaseDomain');

      assert.equal(await c.isDomainIntroduced(0), true);
      assert.equal(await c.isDomainIntroduced(5), false);
      await c.introduce(5, 0x1234, 7);
      assert.equal((await nextEvent(intro)).path, '@introduceDomain');
      assert.equal(await c.isDomainIntroduced(5), true);
      assert.equal(await c.getDomainPath(5), '/local/domain/5');
      assert.equal(await c.getDomainPath(9), '/local/domain/9');

      const globalNodes = await c.getQuota('nodes');
      await c.setQuota('nodes', 42, 5);
      assert.equal(await c.getQuota('nodes', 5), 42);
      assert.equal(await c.getQuota('nodes'), globalNodes, 'the global value is unchanged');

      await c.setFeatures(5, 1);
      assert.equal(await c.getFeatures(5), 1);

      await c.release(5);
      assert.equal((await nextEvent(rel)).path, '@releaseDomain');
      assert.equal(await c.isDomainIntroduced(5), false);
      await assert.rejects(c.release(5), xsError('ENOENT'));
      await Promise.all([intro.return(), rel.return()]);
    } finally {
      c.close();
    }
  });
});

// ---- failures --------------------------------------------------------------------------

describe('failures', () => {
  test('connecting to a missing socket rejects with ENOENT/ECONNREFUSED (no hang)', async () => {
    await assert.rejects(connect({ path: '/nonexistent-dir-tsxs/socket' }), xsError(['ENOENT', 'ECONNREFUSED']));
    const d = daemon();
    await assert.rejects(connect({ path: `${d.dir}/no-socket-here` }), xsError(['ENOENT', 'ECONNREFUSED']));
  });

  test('bad paths reject with EINVAL', async () => {
    await withClient(async (c) => {
      for (const p of ['/cl/bad/', '//cl', '/cl//x', '', '/cl/with space', '/cl/tab\tx']) {
        await assert.rejects(c.read(p), xsError('EINVAL'), JSON.stringify(p));
        await assert.rejects(c.write(p, 'v'), xsError('EINVAL'), JSON.stringify(p));
      }
      await assert.rejects(c.directory('/cl/bad/'), xsError('EINVAL'));
      await assert.rejects(c.mkdir('//x'), xsError('EINVAL'));
      await assert.rejects(c.watch('/cl/bad/'), xsError('EINVAL'));
      // exists() does not swallow errors other than ENOENT.
      await assert.rejects(c.exists('/cl/bad/'), xsError('EINVAL'));
      // The error carries the operation and the path.
      await assert.rejects(c.read('/cl/bad/'), (e: unknown) => {
        assert.ok(e instanceof XenStoreError);
        assert.equal(e.op, 'READ');
        assert.equal(e.path, '/cl/bad/');
        return true;
      });
    });
  });

  test('close() rejects requests still in flight with ECLOSED; later calls reject too', async () => {
    const c = await client();
    await c.write('/cl/closing', 'x');
    const pending = c.read('/cl/closing');
    c.close();
    await assert.rejects(pending, xsError('ECLOSED'));
    await assert.rejects(c.read('/cl/closing'), xsError('ECLOSED'));
  });

  test('the daemon going away rejects a watch iterator and pending calls with ECONNRESET', async () => {
    const d: DaemonHandle = await startDaemon();
    let frozen = false;
    try {
      const c = await connect({ path: d.socket });
      await c.write('/gone/x', 'v');
      const w = await c.watch('/gone');
      assert.equal((await nextEvent(w)).path, '/gone');
      const waiting = w.next(); // no event will come: parked until the connection ends
      waiting.catch(() => undefined); // observed below

      // Freeze the daemon so the read is certainly unanswered, then kill it.
      process.kill(d.pid, 'SIGSTOP');
      frozen = true;
      const pending = c.read('/gone/x');
      pending.catch(() => undefined); // observed below
      assert.equal(c.inFlight, 1);
      process.kill(d.pid, 'SIGKILL');
      frozen = false;

      await assert.rejects(pending, xsError('ECONNRESET'));
      await assert.rejects(waiting, xsError('ECONNRESET'));
      await assert.rejects(w.next(), xsError('ECONNRESET'));
      await assert.rejects(c.read('/gone/x'), xsError('ECONNRESET'));
      await assert.rejects(c.watch('/gone'), xsError('ECONNRESET'));
      await w.return(); // ending a failed stream does not throw or send anything
      c.close();
    } finally {
      if (frozen) process.kill(d.pid, 'SIGKILL');
      await d.stop();
    }
  });

  test('a graceful daemon shutdown also ends a waiting watch with ECONNRESET', async () => {
    const d = await startDaemon();
    try {
      const c = await connect({ path: d.socket });
      const w = await c.watch('/bye');
      assert.equal((await nextEvent(w)).path, '/bye');
      const waiting = w.next();
      waiting.catch(() => undefined);
      await d.stop();
      await assert.rejects(waiting, xsError('ECONNRESET'));
      c.close();
    } finally {
      await d.stop();
    }
  });
});

// After everything above, the file's daemon still checks out.
test('the store is consistent after all of the above', async () => {
  await withClient(async (c) => assert.equal(await c.control('check'), 'OK'));
});
