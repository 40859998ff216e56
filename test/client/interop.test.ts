/**
 * The client library next to Xen's own clients on one daemon: what the
 * library writes xenstore-read reads and vice versa, permissions both ways,
 * and watches firing across clients (library <- xenstore-write,
 * pyxs <- library).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { connect, type WatchEvent, type WatchStream, type XenStoreClient } from '../../src/index.js';
import { spawnLines, useDaemon } from '../helpers/daemon.js';
import { explainBytes as explain, xen, xenToolPath, type XenTool } from '../helpers/cli.js';

const PYTHON = '/usr/bin/python3';
const tools: XenTool[] = ['read', 'write', 'ls', 'list', 'rm', 'chmod'];
const missingTools = tools.filter((t) => !existsSync(xenToolPath(t)));
const skipXen = missingTools.length > 0 ? `xenstore-utils missing: ${missingTools.join(', ')}` : false;

function pyxsUnavailable(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import pyxs'], { timeout: 60_000, encoding: 'utf8' });
  return r.status === 0 ? false : `pyxs not importable by ${PYTHON}: ${r.stderr}`;
}
const skipPy = pyxsUnavailable();

const daemon = useDaemon();

async function withClient<T>(fn: (c: XenStoreClient) => Promise<T>): Promise<T> {
  const c = await connect({ path: daemon().socket });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Runs a Xen tool and asserts exit 0; returns stdout bytes. */
async function xenOk(tool: XenTool, ...args: string[]): Promise<Buffer> {
  const r = await xen(daemon(), tool, args);
  assert.equal(r.code, 0, explain(`xenstore-${tool} ${args.join(' ')}`, r));
  return r.stdout;
}

async function nextEvent(w: WatchStream, timeoutMs = 30_000): Promise<WatchEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no watch event on ${w.path} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const r = await Promise.race([w.next(), timeout]);
    assert.equal(r.done, false);
    return r.value as WatchEvent;
  } finally {
    clearTimeout(timer);
  }
}

test('what the library writes, xenstore-read reads (escaped and raw)', { skip: skipXen }, async () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await withClient(async (c) => {
    await c.write('/io/lib/plain', 'hello world');
    await c.write('/io/lib/empty', '');
    await c.write('/io/lib/ctl', 'a\tb\nc\rd\\e "q" \'s\'');
    await c.write('/io/lib/utf8', 'é✓');
    await c.write('/io/lib/bin', all);
  });
  assert.equal((await xenOk('read', '/io/lib/plain')).toString('latin1'), 'hello world\n');
  assert.equal((await xenOk('read', '/io/lib/empty')).toString('latin1'), '\n');
  assert.equal((await xenOk('read', '/io/lib/ctl')).toString('latin1'), 'a\\tb\\nc\\rd\\\\e "q" \'s\'\n');
  assert.equal((await xenOk('read', '/io/lib/utf8')).toString('latin1'), '\\xc3\\xa9\\xe2\\x9c\\x93\n');
  assert.deepEqual(await xenOk('read', '-R', '/io/lib/bin'), all);
  assert.deepEqual(await xenOk('read', '-R', '/io/lib/utf8'), Buffer.from('é✓', 'utf8'));
  // The escaped form of all 256 bytes, by the spec's table.
  let expected = '';
  for (let b = 0; b < 256; b++) {
    if (b === 0x5c) expected += '\\\\';
    else if (b >= 0x20 && b <= 0x7e) expected += String.fromCharCode(b);
    else if (b === 9) expected += '\\t';
    else if (b === 10) expected += '\\n';
    else if (b === 13) expected += '\\r';
    else if (b <= 7) expected += `\\00${b}`;
    else expected += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  assert.equal((await xenOk('read', '/io/lib/bin')).toString('latin1'), `${expected}\n`);
  // The library's tree as xenstore-ls sees it.
  assert.equal((await xenOk('ls', '-f', '/io/lib/plain')).toString('latin1'), '');
  assert.match((await xenOk('ls', '-f', '/io/lib')).toString('latin1'), /^\/io\/lib\/plain = "hello world"$/m);
});

test('what xenstore-write writes, the library reads', { skip: skipXen }, async () => {
  await xenOk('write', '/io/xen/plain', 'from xen', '/io/xen/esc', 'a\\tb\\x41\\000z');
  await xenOk('write', '-R', '/io/xen/raw', 'a\\nb');
  await withClient(async (c) => {
    assert.equal(await c.readString('/io/xen/plain'), 'from xen');
    assert.deepEqual(await c.read('/io/xen/esc'), Buffer.from([0x61, 0x09, 0x62, 0x41, 0x00, 0x7a]));
    assert.deepEqual(await c.read('/io/xen/raw'), Buffer.from('a\\nb', 'latin1'));
    assert.deepEqual([...(await c.directory('/io/xen'))].sort(), ['esc', 'plain', 'raw']);
  });
  // And removal by xenstore-rm is seen by the library.
  await xenOk('rm', '/io/xen/plain');
  await withClient(async (c) => assert.equal(await c.exists('/io/xen/plain'), false));
});

test('permissions set by one side are seen by the other', { skip: skipXen }, async () => {
  await withClient(async (c) => {
    await c.write('/io/perm/lib', 'v');
    await c.setPerms('/io/perm/lib', [
      { domid: 0, access: 'none' },
      { domid: 1, access: 'read' },
      { domid: 2, access: 'write' },
      { domid: 3, access: 'both' },
    ]);
  });
  assert.equal((await xenOk('ls', '-f', '-p', '/io/perm')).toString('latin1'), '/io/perm/lib = "v"   (n0,r1,w2,b3)\n');

  await xenOk('write', '/io/perm/xen', 'w');
  await xenOk('chmod', '/io/perm/xen', 'b4', 'r0', 'n9');
  await withClient(async (c) =>
    assert.deepEqual(await c.getPerms('/io/perm/xen'), [
      { domid: 4, access: 'both' },
      { domid: 0, access: 'read' },
      { domid: 9, access: 'none' },
    ]),
  );
});

test('a library transaction commits for xenstore-read; an aborted one leaves nothing', { skip: skipXen }, async () => {
  await withClient(async (c) => {
    await c.transaction(async (tx) => {
      await tx.write('/io/tx/a', 'committed');
      await tx.write('/io/tx/b', 'also');
    });
    const tx = await c.startTransaction();
    await tx.write('/io/tx/c', 'aborted');
    await tx.abort();
  });
  assert.equal((await xenOk('read', '/io/tx/a', '/io/tx/b')).toString('latin1'), 'committed\nalso\n');
  const r = await xen(daemon(), 'read', ['/io/tx/c']);
  assert.equal(r.code, 1, explain('xenstore-read /io/tx/c', r));
});

test('a library watch fires for xenstore-write and xenstore-rm', { skip: skipXen }, async () => {
  await withClient(async (c) => {
    await c.write('/io/w', '');
    const w = await c.watch('/io/w');
    try {
      assert.equal((await nextEvent(w)).path, '/io/w');
      await xenOk('write', '/io/w/by-xen', '1');
      assert.equal((await nextEvent(w)).path, '/io/w/by-xen');
      await xenOk('write', '/io/w/p', '1', '/io/w/q', '2'); // two writes in one transaction
      const two = [(await nextEvent(w)).path, (await nextEvent(w)).path].sort();
      assert.deepEqual(two, ['/io/w/p', '/io/w/q']);
      await xenOk('rm', '/io/w/by-xen');
      assert.equal((await nextEvent(w)).path, '/io/w/by-xen');
    } finally {
      await w.return();
    }
  });
});

/** pyxs: watch PATH with TOKEN, print a JSON line per event (the first one too), stop after N. */
const PYXS_WATCH = `
import json, queue, sys, faulthandler
faulthandler.dump_traceback_later(90, exit=True)
from pyxs import Client
sock, path, token, n = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode(), int(sys.argv[4])
with Client(unix_socket_path=sock) as c:
    m = c.monitor()
    m.watch(path, token)
    for _ in range(n):
        try:
            ev = m.events.get(timeout=60)
        except queue.Empty:
            print(json.dumps({"timeout": True}), flush=True)
            sys.exit(2)
        print(json.dumps({"path": ev.path.decode("latin-1"), "token": ev.token.decode("latin-1")}), flush=True)
`;

test('a pyxs watch fires for a library write', { skip: skipPy }, async () => {
  await withClient((c) => c.write('/io/py', ''));
  const p = spawnLines(PYTHON, ['-c', PYXS_WATCH, daemon().socket, '/io/py', 'py-token', '3'], { timeoutMs: 90_000 });
  try {
    await p.waitForLine((l) => l.includes('"path"'));
    assert.deepEqual(JSON.parse(p.lines[0] ?? ''), { path: '/io/py', token: 'py-token' });
    await withClient(async (c) => {
      await c.write('/io/py/from-lib', 'x');
      await p.waitForLine((l) => l.includes('/io/py/from-lib'));
      await c.transaction(async (tx) => tx.write('/io/py/from-lib-tx', 'y'));
    });
    const r = await p.done;
    assert.equal(r.code, 0, `pyxs watcher: ${r.stdout}\n${r.stderr}`);
    assert.deepEqual(
      p.lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown),
      [
        { path: '/io/py', token: 'py-token' },
        { path: '/io/py/from-lib', token: 'py-token' },
        { path: '/io/py/from-lib-tx', token: 'py-token' },
      ],
    );
  } finally {
    p.kill();
  }
});
