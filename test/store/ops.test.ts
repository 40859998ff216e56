// Data operations on a live Store: read/write/mkdir/rm/directory/directoryPart/getPerms/setPerms
// semantics, permission errors for guests, quotas, and per-owner counts matching a recount (fast-check).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { XsError } from '../../src/protocol/errno.js';
import { PAYLOAD_MAX } from '../../src/protocol/limits.js';
import { directory, directoryPart, exists, getPerms, mkdir, read, rm, setPerms, write } from '../../src/store/ops.js';
import { formatPerms, parsePerms, type Caller } from '../../src/store/perms.js';
import type { Limits } from '../../src/store/state.js';
import { Store } from '../../src/store/store.js';
import { lookup } from '../../src/store/tree.js';
import {
  assertConsistent,
  B,
  CALLERS,
  ctxOf,
  DOM0,
  guest,
  P,
  runScript,
  runStep,
  scriptArb,
  snapshot,
  startWorld,
  stepPathArb,
  xs,
} from '../support/fixtures.js';

const G5 = guest(5);
const dom0 = (s: Store) => ctxOf(s, DOM0);

function nodeAt(s: Store, abs: string) {
  const n = lookup(s.root, P(abs).comps);
  assert.ok(n !== undefined, abs);
  return n;
}

/**
 * /local/domain/5   owned by 5
 * /public           r0 (everyone reads)
 * /secret/inner     n0 (nobody else)
 * /shared           w0 (everyone writes, nobody else reads)
 * /acl              n0 with r5 (domain 5 may read)
 */
function world(): Store {
  const s = new Store();
  const c = dom0(s);
  mkdir(c, P('/local/domain/5'));
  setPerms(c, P('/local/domain/5'), parsePerms(['n5']));
  write(c, P('/public'), B('hello'));
  setPerms(c, P('/public'), parsePerms(['r0']));
  write(c, P('/secret/inner'), B('s'));
  mkdir(c, P('/shared'));
  setPerms(c, P('/shared'), parsePerms(['w0']));
  mkdir(c, P('/acl'));
  setPerms(c, P('/acl'), parsePerms(['n0', 'r5']));
  s.takeChanges();
  return s;
}

describe('read and write', () => {
  test('write then read gives the bytes back, binary-safe', () => {
    const s = new Store();
    const v = Buffer.from([0, 1, 2, 0, 255]);
    write(dom0(s), P('/a'), v);
    assert.deepEqual([...read(dom0(s), P('/a'))], [...v]);
  });

  test('write creates missing parents with empty values and the parent perms', () => {
    const s = new Store();
    write(dom0(s), P('/a/b/c'), B('leaf'));
    assert.equal(read(dom0(s), P('/a')).length, 0);
    assert.equal(read(dom0(s), P('/a/b')).length, 0);
    assert.equal(read(dom0(s), P('/a/b/c')).toString(), 'leaf');
    assert.deepEqual(formatPerms(getPerms(dom0(s), P('/a/b'))), ['n0']);
    assert.equal(s.usage(0), 3);
    assertConsistent(s);
  });

  test('overwriting replaces the value and keeps the count', () => {
    const s = new Store();
    write(dom0(s), P('/a'), B('1'));
    write(dom0(s), P('/a'), B('22'));
    assert.equal(read(dom0(s), P('/a')).toString(), '22');
    assert.equal(s.usage(0), 1);
  });

  test('writing the same value again gives back the same root', () => {
    const s = new Store();
    write(dom0(s), P('/a/b'), B('x'));
    const root = s.root;
    write(dom0(s), P('/a/b'), B('x'));
    assert.ok(s.root === root);
  });

  test('every write reports a change, even an unchanged value', () => {
    const s = new Store();
    write(dom0(s), P('/a/b'), B('x'));
    write(dom0(s), P('/a/b'), B('x'));
    const ch = s.takeChanges();
    assert.deepEqual(ch.map((c) => [c.path.abs, c.removed]), [['/a/b', false], ['/a/b', false]]);
    assert.deepEqual(s.takeChanges(), []);
  });

  test('reading a missing node is ENOENT', () => {
    const s = new Store();
    write(dom0(s), P('/a'), B(''));
    assert.throws(() => read(dom0(s), P('/a/b')), xs('ENOENT'));
    assert.throws(() => read(dom0(s), P('/x/y/z')), xs('ENOENT'));
    assert.ok(!exists(dom0(s), P('/a/b')));
    assert.ok(exists(dom0(s), P('/a')));
  });

  test('the root can be read and written', () => {
    const s = new Store();
    assert.equal(read(dom0(s), P('/')).length, 0);
    write(dom0(s), P('/'), B('top'));
    assert.equal(read(dom0(s), P('/')).toString(), 'top');
    assertConsistent(s);
  });
});

describe('mkdir', () => {
  test('creates the node and its parents with empty values', () => {
    const s = new Store();
    mkdir(dom0(s), P('/a/b'));
    assert.equal(read(dom0(s), P('/a/b')).length, 0);
    assert.equal(s.usage(0), 2);
    assert.deepEqual(s.takeChanges().map((c) => c.path.abs), ['/a/b']);
  });

  test('on an existing node changes nothing and reports nothing', () => {
    const s = new Store();
    write(dom0(s), P('/a'), B('keep'));
    s.takeChanges();
    const root = s.root;
    mkdir(dom0(s), P('/a'));
    assert.ok(s.root === root);
    assert.equal(read(dom0(s), P('/a')).toString(), 'keep');
    assert.deepEqual(s.takeChanges(), []);
  });
});

describe('rm', () => {
  test('removes the node with its subtree and uncounts them', () => {
    const s = new Store();
    write(dom0(s), P('/a/b/c'), B('1'));
    write(dom0(s), P('/a/d'), B('2'));
    s.takeChanges();
    rm(dom0(s), P('/a/b'));
    assert.throws(() => read(dom0(s), P('/a/b')), xs('ENOENT'));
    assert.throws(() => read(dom0(s), P('/a/b/c')), xs('ENOENT'));
    assert.equal(read(dom0(s), P('/a/d')).toString(), '2');
    assert.equal(s.usage(0), 2);
    const ch = s.takeChanges();
    assert.deepEqual(ch.map((c) => [c.path.abs, c.removed]), [['/a/b', true]]);
    assertConsistent(s);
  });

  test('a missing node whose parent exists: OK, nothing changes', () => {
    const s = new Store();
    write(dom0(s), P('/a'), B(''));
    s.takeChanges();
    const root = s.root;
    rm(dom0(s), P('/a/nope'));
    assert.ok(s.root === root);
    assert.deepEqual(s.takeChanges(), []);
  });

  test('a missing parent is ENOENT', () => {
    const s = new Store();
    write(dom0(s), P('/a'), B(''));
    assert.throws(() => rm(dom0(s), P('/a/nope/deeper')), xs('ENOENT'));
    assert.throws(() => rm(dom0(s), P('/x/y')), xs('ENOENT'));
  });

  test('rm / is EINVAL', () => {
    const s = new Store();
    write(dom0(s), P('/a'), B(''));
    assert.throws(() => rm(dom0(s), P('/')), xs('EINVAL'));
    assert.ok(exists(dom0(s), P('/a')));
  });
});

describe('directory', () => {
  test('lists child names sorted, each NUL-terminated', () => {
    const s = new Store();
    for (const n of ['zeta', 'alpha', 'Mid', '10', '9']) mkdir(dom0(s), P(`/d/${n}`));
    assert.equal(directory(dom0(s), P('/d')).toString('latin1'), '10\x009\0Mid\0alpha\0zeta\0');
  });

  test('no children: empty payload; missing node: ENOENT', () => {
    const s = new Store();
    mkdir(dom0(s), P('/leaf'));
    assert.equal(directory(dom0(s), P('/leaf')).length, 0);
    assert.throws(() => directory(dom0(s), P('/none')), xs('ENOENT'));
  });

  test('a list of exactly 4096 bytes is returned, one byte more is E2BIG', () => {
    const s = new Store();
    // 40 names of 100 bytes (+NUL) = 4040, then one of 55 (+NUL) = 4096.
    for (let i = 0; i < 40; i++) mkdir(dom0(s), P(`/d/${String(i).padStart(2, '0')}${'x'.repeat(98)}`));
    mkdir(dom0(s), P(`/d/z${'y'.repeat(54)}`));
    assert.equal(directory(dom0(s), P('/d')).length, PAYLOAD_MAX);
    rm(dom0(s), P(`/d/z${'y'.repeat(54)}`));
    mkdir(dom0(s), P(`/d/z${'y'.repeat(55)}`));
    assert.throws(() => directory(dom0(s), P('/d')), xs('E2BIG'));
  });
});

describe('directoryPart', () => {
  /** Pages through the list; returns the concatenated names and the parts seen. */
  function pageAll(s: Store, abs: string): { names: string; parts: Buffer[]; gens: string[] } {
    const parts: Buffer[] = [];
    const gens: string[] = [];
    let names = '';
    let offset = 0;
    for (let guard = 0; guard < 1000; guard++) {
      const part = directoryPart(dom0(s), P(abs), offset);
      parts.push(part);
      assert.ok(part.length <= PAYLOAD_MAX);
      const text = part.toString('latin1');
      const nul = text.indexOf('\0');
      gens.push(text.slice(0, nul));
      const body = text.slice(nul + 1);
      // The last part ends with an extra NUL: "\0" alone, or "...name\0\0".
      const done = body === '\0' || body.endsWith('\0\0');
      const chunk = done ? body.slice(0, -1) : body;
      names += chunk;
      offset += chunk.length;
      if (done) return { names, parts, gens };
      assert.ok(chunk.length > 0, 'a non-final part makes progress');
    }
    assert.fail('directoryPart never finished');
  }

  test('concatenated parts reproduce the full list; generation is the node generation', () => {
    const s = new Store();
    const names: string[] = [];
    for (let i = 0; i < 300; i++) names.push(`child-${String(i).padStart(3, '0')}-${'q'.repeat(i % 50)}`);
    for (const n of names) mkdir(dom0(s), P(`/big/${n}`));
    const full = names.slice().sort().map((n) => `${n}\0`).join('');
    assert.ok(full.length > 2 * PAYLOAD_MAX);
    const { names: got, parts, gens } = pageAll(s, '/big');
    assert.equal(got, full);
    assert.ok(parts.length >= 3);
    const gen = String(nodeAt(s, '/big').gen);
    assert.deepEqual(new Set(gens), new Set([gen]));
  });

  test('a short list comes in one part with the final extra NUL', () => {
    const s = new Store();
    mkdir(dom0(s), P('/d/a'));
    mkdir(dom0(s), P('/d/b'));
    const gen = nodeAt(s, '/d').gen;
    assert.equal(directoryPart(dom0(s), P('/d'), 0).toString('latin1'), `${gen}\0a\0b\0\0`);
    assert.equal(directoryPart(dom0(s), P('/d'), 2).toString('latin1'), `${gen}\0b\0\0`);
    assert.equal(directoryPart(dom0(s), P('/d'), 4).toString('latin1'), `${gen}\0\0`);
  });

  test('an empty node gives "<gen>\\0\\0"; an offset past the end is EINVAL', () => {
    const s = new Store();
    mkdir(dom0(s), P('/e'));
    const gen = nodeAt(s, '/e').gen;
    assert.equal(directoryPart(dom0(s), P('/e'), 0).toString('latin1'), `${gen}\0\0`);
    assert.throws(() => directoryPart(dom0(s), P('/e'), 1), xs('EINVAL'));
  });

  test('the generation changes when the child list changes, not when a child value does', () => {
    const s = new Store();
    mkdir(dom0(s), P('/d/a'));
    const g1 = nodeAt(s, '/d').gen;
    write(dom0(s), P('/d/a'), B('new value'));
    assert.equal(nodeAt(s, '/d').gen, g1);
    mkdir(dom0(s), P('/d/b'));
    const g2 = nodeAt(s, '/d').gen;
    assert.notEqual(g2, g1);
    rm(dom0(s), P('/d/a'));
    assert.notEqual(nodeAt(s, '/d').gen, g2);
  });

  test('paging reproduces any child list (property)', () => {
    const nameArb = fc.stringMatching(/^[a-z0-9]{1,120}$/);
    fc.assert(
      fc.property(fc.uniqueArray(nameArb, { maxLength: 120 }), (names) => {
        const s = new Store();
        mkdir(dom0(s), P('/d'));
        for (const n of names) mkdir(dom0(s), P(`/d/${n}`));
        const full = names.slice().sort().map((n) => `${n}\0`).join('');
        assert.equal(pageAll(s, '/d').names, full);
      }),
      { numRuns: 60 },
    );
  });
});

describe('getPerms and setPerms', () => {
  test('dom0 sets and reads back permissions', () => {
    const s = new Store();
    mkdir(dom0(s), P('/a'));
    setPerms(dom0(s), P('/a'), parsePerms(['r0', 'w3']));
    assert.deepEqual(formatPerms(getPerms(dom0(s), P('/a'))), ['r0', 'w3']);
  });

  test('dom0 may change the owner; the count moves with it', () => {
    const s = new Store();
    mkdir(dom0(s), P('/a/b'));
    setPerms(dom0(s), P('/a/b'), parsePerms(['n7']));
    assert.equal(s.usage(7), 1);
    assert.equal(s.usage(0), 1);
    assertConsistent(s);
  });

  test('equal perms leave the same root; a change is reported with the new perms', () => {
    const s = new Store();
    mkdir(dom0(s), P('/a'));
    setPerms(dom0(s), P('/a'), parsePerms(['r0']));
    s.takeChanges();
    const root = s.root;
    setPerms(dom0(s), P('/a'), parsePerms(['r0']));
    assert.ok(s.root === root);
    setPerms(dom0(s), P('/a'), parsePerms(['b0']));
    const ch = s.takeChanges();
    assert.deepEqual(ch.map((c) => formatPerms(c.perms)), [['r0'], ['b0']]);
  });

  test('setPerms on a missing node is ENOENT', () => {
    const s = new Store();
    assert.throws(() => setPerms(dom0(s), P('/nope'), parsePerms(['n0'])), xs('ENOENT'));
  });
});

describe('permissions of unprivileged callers', () => {
  test('guest reads: allowed, EACCES, and ENOENT turning into EACCES', () => {
    const s = world();
    const g = ctxOf(s, G5);
    assert.equal(read(g, P('/public')).toString(), 'hello');
    assert.throws(() => read(g, P('/secret')), xs('EACCES'));
    assert.throws(() => read(g, P('/secret/inner')), xs('EACCES'));
    // Missing below a readable node: ENOENT; below an unreadable one: EACCES.
    assert.throws(() => read(g, P('/public/missing')), xs('ENOENT'));
    assert.throws(() => read(g, P('/secret/missing')), xs('EACCES'));
    assert.throws(() => read(g, P('/secret/missing/deeper')), xs('EACCES'));
    assert.throws(() => read(g, P('/shared/missing')), xs('EACCES'));
    assert.throws(() => getPerms(g, P('/secret')), xs('EACCES'));
    assert.throws(() => directory(g, P('/secret')), xs('EACCES'));
    assert.throws(() => directoryPart(g, P('/secret'), 0), xs('EACCES'));
    // Its own ACL entry lets domain 5 read /acl.
    assert.equal(read(g, P('/acl')).length, 0);
    assert.throws(() => read(ctxOf(s, guest(6)), P('/acl')), xs('EACCES'));
  });

  test('guest writes: needs write on the node, or on the nearest parent to create', () => {
    const s = world();
    const g = ctxOf(s, G5);
    const before = s.root;
    assert.throws(() => write(g, P('/public'), B('x')), xs('EACCES'));
    assert.throws(() => write(g, P('/public/new'), B('x')), xs('EACCES'));
    assert.throws(() => write(g, P('/secret/a/b'), B('x')), xs('EACCES'));
    assert.throws(() => mkdir(g, P('/public')), xs('EACCES'));
    assert.throws(() => mkdir(g, P('/acl/x')), xs('EACCES'));
    assert.ok(s.root === before);
    // Write-only /shared: creating below it works, reading it does not.
    write(g, P('/shared/mine'), B('m'));
    assert.throws(() => read(g, P('/shared')), xs('EACCES'));
    assert.equal(read(g, P('/shared/mine')).toString(), 'm');
    write(g, P('/local/domain/5/x/y'), B('1'));
    assert.equal(read(g, P('/local/domain/5/x/y')).toString(), '1');
    assertConsistent(s);
  });

  test('an unprivileged creator owns what it creates, inheriting the rest of the ACL', () => {
    const s = world();
    const c = dom0(s);
    mkdir(c, P('/pool'));
    setPerms(c, P('/pool'), parsePerms(['w0', 'r9']));
    write(ctxOf(s, G5), P('/pool/a/b'), B('v'));
    assert.deepEqual(formatPerms(getPerms(c, P('/pool/a'))), ['w5', 'r9']);
    assert.deepEqual(formatPerms(getPerms(c, P('/pool/a/b'))), ['w5', 'r9']);
    assert.equal(s.usage(5), 3);
    // A privileged creator inherits unchanged.
    write(c, P('/pool/dom0'), B(''));
    assert.deepEqual(formatPerms(getPerms(c, P('/pool/dom0'))), ['w0', 'r9']);
    assertConsistent(s);
  });

  test('guest rm: needs write on the node; a missing child needs access to the parent', () => {
    const s = world();
    const g = ctxOf(s, G5);
    assert.throws(() => rm(g, P('/public')), xs('EACCES'));
    assert.throws(() => rm(g, P('/secret/inner')), xs('EACCES'));
    assert.throws(() => rm(g, P('/secret/missing')), xs('EACCES'));
    assert.throws(() => rm(g, P('/secret/missing/deeper')), xs('EACCES'));
    rm(g, P('/public/missing'));
    assert.throws(() => rm(g, P('/public/missing/deeper')), xs('ENOENT'));
    write(g, P('/local/domain/5/x'), B(''));
    rm(g, P('/local/domain/5/x'));
    assert.ok(!exists(dom0(s), P('/local/domain/5/x')));
  });

  test(
    'guest rm of a missing child under a write-only parent is EACCES (the parent is unreadable)',
    () => {
      const s = world();
      assert.throws(() => rm(ctxOf(s, G5), P('/shared/missing')), xs('EACCES'));
    },
  );

  test('guest setPerms: owners may change the ACL, not the owner (EPERM); others EACCES', () => {
    const s = world();
    const g = ctxOf(s, G5);
    write(g, P('/local/domain/5/x'), B(''));
    setPerms(g, P('/local/domain/5/x'), parsePerms(['n5', 'r6']));
    assert.deepEqual(formatPerms(getPerms(g, P('/local/domain/5/x'))), ['n5', 'r6']);
    assert.throws(() => setPerms(g, P('/local/domain/5/x'), parsePerms(['n6'])), xs('EPERM'));
    assert.throws(() => setPerms(g, P('/public'), parsePerms(['r0'])), xs('EACCES'));
    assert.throws(() => setPerms(g, P('/shared'), parsePerms(['w0'])), xs('EACCES'));
    assert.throws(() => setPerms(g, P('/secret/none'), parsePerms(['n5'])), xs('EACCES'));
    assert.throws(() => setPerms(g, P('/public/none'), parsePerms(['n5'])), xs('ENOENT'));
    assert.equal(s.usage(5), 2);
    assertConsistent(s);
  });

  test('a domain with a target acts as its target', () => {
    const s = world();
    const stub = ctxOf(s, guest(8, 5));
    assert.equal(read(stub, P('/local/domain/5')).length, 0);
    write(stub, P('/local/domain/5/by-stub'), B('s'));
    // As in Xen, the creator (not its target) owns the new node.
    assert.deepEqual(formatPerms(getPerms(dom0(s), P('/local/domain/5/by-stub'))), ['n8']);
    assert.equal(read(stub, P('/local/domain/5/by-stub')).toString(), 's');
    assert.throws(() => read(stub, P('/secret')), xs('EACCES'));
    // Owner rights through the target, but still no owner change.
    setPerms(stub, P('/local/domain/5'), parsePerms(['n5', 'r8']));
    assert.throws(() => setPerms(stub, P('/local/domain/5'), parsePerms(['n8'])), xs('EPERM'));
  });
});

describe('quotas', () => {
  const limits: Limits = { nodes: 4, nodeSize: 10, nodePerms: 2, pathMax: 12 };
  const q = (s: Store, caller: Caller = G5) => ctxOf(s, caller, limits);

  test('node-size: a value longer than nodeSize is E2BIG', () => {
    const s = world();
    write(q(s), P('/local/domain/5/a'), Buffer.alloc(10));
    assert.throws(() => write(q(s), P('/local/domain/5/a'), Buffer.alloc(11)), xs('E2BIG'));
    assert.throws(() => write(q(s), P('/local/domain/5/b'), Buffer.alloc(11)), xs('E2BIG'));
    assert.equal(read(q(s), P('/local/domain/5/a')).length, 10);
  });

  test('nodes: creating past the quota is ENOSPC, counting every created parent', () => {
    const s = world();
    assert.equal(s.usage(5), 1); // its home
    const root = s.root;
    assert.throws(() => write(q(s), P('/local/domain/5/a/b/c/d'), B('')), xs('ENOSPC'));
    assert.ok(s.root === root);
    write(q(s), P('/local/domain/5/a/b/c'), B(''));
    assert.equal(s.usage(5), 4);
    assert.throws(() => mkdir(q(s), P('/local/domain/5/z')), xs('ENOSPC'));
    // Overwriting an existing node needs no quota.
    write(q(s), P('/local/domain/5/a/b/c'), B('ok'));
    // Removing frees quota.
    rm(q(s), P('/local/domain/5/a/b'));
    mkdir(q(s), P('/local/domain/5/z'));
    assertConsistent(s);
  });

  test('path-max: a path longer than pathMax (relative to home) is E2BIG', () => {
    const s = world();
    write(q(s), P(`/local/domain/5/${'a'.repeat(12)}`), B(''));
    assert.throws(() => write(q(s), P(`/local/domain/5/${'b'.repeat(13)}`), B('')), xs('E2BIG'));
  });

  test('node-permissions: more entries than nodePerms is ENOSPC', () => {
    const s = world();
    write(q(s), P('/local/domain/5/a'), B(''));
    setPerms(q(s), P('/local/domain/5/a'), parsePerms(['n5', 'r1']));
    assert.throws(() => setPerms(q(s), P('/local/domain/5/a'), parsePerms(['n5', 'r1', 'r2'])), xs('ENOSPC'));
  });

  test('without limits (privileged) nothing is enforced', () => {
    const s = world();
    write(ctxOf(s, DOM0), P(`/local/domain/5/${'x'.repeat(100)}/a/b/c/d/e`), Buffer.alloc(5000));
    setPerms(ctxOf(s, DOM0), P('/local/domain/5'), parsePerms(['n5', 'r1', 'r2', 'r3', 'r4']));
    assertConsistent(s);
  });
});

describe('invariants under random operations', () => {
  test('counts always equal a recount; failed operations change nothing (property)', () => {
    fc.assert(
      fc.property(scriptArb(60), (script) => {
        const s = startWorld();
        for (const [who, op] of script) {
          const root = s.root;
          const counts = new Map(s.usageTable());
          try {
            runStep(s, who, op);
          } catch (e) {
            assert.ok(e instanceof XsError, `unexpected ${String(e)}`);
            assert.ok(s.root === root, `${op.kind} ${op.path} failed with ${e.errno} but changed the tree`);
            assert.deepEqual(new Map(s.usageTable()), counts);
          }
          assertConsistent(s);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('reads and directory listings never change the root (property)', () => {
    fc.assert(
      fc.property(scriptArb(30), fc.constantFrom(...CALLERS), stepPathArb, (script, who, path) => {
        const s = startWorld();
        runScript(s, script);
        const before = snapshot(s.root);
        const root = s.root;
        for (const kind of ['read', 'directory'] as const) {
          try {
            runStep(s, who, { kind, path });
          } catch (e) {
            assert.ok(e instanceof XsError);
          }
        }
        assert.ok(s.root === root);
        assert.deepEqual(snapshot(s.root), before);
      }),
      { numRuns: 100 },
    );
  });

  test(
    'counts stay equal to a recount when dom0 gives the root to another owner',
    () => {
      const s = new Store();
      setPerms(dom0(s), P('/'), parsePerms(['r5']));
      assert.equal(s.usage(0), 0);
      assert.equal(s.usage(5), 0);
      assertConsistent(s);
    },
  );
});
