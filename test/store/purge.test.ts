// purgeDomain: nodes the domain owns go with their subtrees, its ACL entries go
// everywhere else, untouched subtrees keep their identity, counts stay right; mentionsDomain.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { childNodes } from '../../src/store/children.js';
import type { Node } from '../../src/store/node.js';
import { exists, getPerms, mkdir, read, setPerms, write } from '../../src/store/ops.js';
import { formatPerms, parsePerms } from '../../src/store/perms.js';
import { mentionsDomain, purgeDomain } from '../../src/store/purge.js';
import { Store } from '../../src/store/store.js';
import { lookup } from '../../src/store/tree.js';
import { assertConsistent, B, ctxOf, guest, P, runScript, scriptArb, startWorld } from '../support/fixtures.js';

/**
 * /local/domain/5          n5        (owned: goes, with /local/domain/5/by-dom0 owned by 0)
 * /local/domain/6          n6, r5    (ACL entry stripped)
 * /backend/vif/5           n0, r5    (ACL entry stripped)
 * /shared                  w0        (unrelated)
 * /shared/g5               w5        (created by 5: goes)
 * /unrelated/deep/tree     n0        (unrelated: same object)
 */
function world(): Store {
  const s = new Store();
  const c = ctxOf(s);
  mkdir(c, P('/local/domain/5'));
  setPerms(c, P('/local/domain/5'), parsePerms(['n5']));
  write(ctxOf(s, guest(5)), P('/local/domain/5/device/vif/0'), B('x'));
  write(c, P('/local/domain/5/by-dom0'), B('d'));
  mkdir(c, P('/local/domain/6'));
  setPerms(c, P('/local/domain/6'), parsePerms(['n6', 'r5']));
  mkdir(c, P('/backend/vif/5'));
  setPerms(c, P('/backend/vif/5'), parsePerms(['n0', 'r5']));
  mkdir(c, P('/shared'));
  setPerms(c, P('/shared'), parsePerms(['w0']));
  write(ctxOf(s, guest(5)), P('/shared/g5'), B('g'));
  write(c, P('/unrelated/deep/tree'), B('u'));
  s.takeChanges();
  return s;
}

const at = (s: Store, abs: string): Node | undefined => lookup(s.root, P(abs).comps);

describe('purgeDomain', () => {
  test('removes owned nodes with their subtrees and strips ACL entries', () => {
    const s = world();
    assert.ok(mentionsDomain(s.root, 5));
    purgeDomain(s, 5, false);
    const c = ctxOf(s);
    assert.ok(!exists(c, P('/local/domain/5')));
    assert.ok(!exists(c, P('/local/domain/5/by-dom0')));
    assert.ok(!exists(c, P('/shared/g5')));
    assert.ok(exists(c, P('/shared')));
    assert.deepEqual(formatPerms(getPerms(c, P('/local/domain/6'))), ['n6']);
    assert.deepEqual(formatPerms(getPerms(c, P('/backend/vif/5'))), ['n0']);
    assert.equal(read(c, P('/unrelated/deep/tree')).toString(), 'u');
    assert.ok(!mentionsDomain(s.root, 5));
    assert.equal(s.usage(5), 0);
    assertConsistent(s);
  });

  test('reports removals and perms changes', () => {
    const s = world();
    purgeDomain(s, 5, false);
    const ch = s.takeChanges().map((c) => `${c.removed ? 'rm' : 'perms'} ${c.path.abs}`).sort();
    assert.deepEqual(ch, ['perms /backend/vif/5', 'perms /local/domain/6', 'rm /local/domain/5', 'rm /shared/g5']);
  });

  test('untouched subtrees are the same objects; changed nodes get a new generation', () => {
    const s = world();
    const unrelated = at(s, '/unrelated');
    const shared = at(s, '/shared');
    const domain = at(s, '/local/domain');
    const vif = at(s, '/backend/vif');
    purgeDomain(s, 5, false);
    assert.ok(at(s, '/unrelated') === unrelated);
    assert.ok(at(s, '/shared') !== shared, '/shared lost a child');
    assert.ok(at(s, '/shared')!.gen > shared!.gen);
    assert.ok(at(s, '/local/domain')!.gen > domain!.gen, 'a name left /local/domain');
    assert.equal(at(s, '/backend/vif')!.gen, vif!.gen, 'only a child of /backend/vif changed');
    assert.ok(at(s, '/backend/vif/5')!.gen > 0);
  });

  test('keepOwned: owned nodes stay, passed to dom0 with their default kind', () => {
    const s = world();
    purgeDomain(s, 5, true);
    const c = ctxOf(s);
    assert.deepEqual(formatPerms(getPerms(c, P('/local/domain/5'))), ['n0']);
    assert.deepEqual(formatPerms(getPerms(c, P('/shared/g5'))), ['w0']);
    assert.equal(read(c, P('/local/domain/5/device/vif/0')).toString(), 'x');
    assert.ok(!mentionsDomain(s.root, 5));
    assert.equal(s.usage(5), 0);
    assertConsistent(s);
  });

  test('a domain nobody mentions: same root, no changes', () => {
    const s = world();
    const root = s.root;
    purgeDomain(s, 42, false);
    assert.ok(s.root === root);
    assert.deepEqual(s.takeChanges(), []);
  });

  test('after any history, purge leaves no mention, right counts, and shares clean subtrees (property)', () => {
    fc.assert(
      fc.property(scriptArb(50), fc.integer({ min: 1, max: 3 }), fc.boolean(), (script, domid, keepOwned) => {
        const s = startWorld();
        runScript(s, script);
        const before = s.root;
        purgeDomain(s, domid, keepOwned);
        assert.ok(!mentionsDomain(s.root, domid));
        assert.equal(s.usage(domid), 0);
        assertConsistent(s);
        // Any subtree of the old tree that never mentioned the domain is still there, as the same object.
        const walk = (old: Node, comps: string[]): void => {
          if (!mentionsDomain(old, domid)) {
            assert.ok(lookup(s.root, comps) === old, `/${comps.join('/')}`);
            return;
          }
          const removed = !keepOwned && comps.length > 0 && old.perms[0].domid === domid;
          if (removed) return;
          for (const k of childNodes(old.children)) walk(k, [...comps, k.name]);
        };
        walk(before, []);
      }),
      { numRuns: 200 },
    );
  });
});

describe('mentionsDomain', () => {
  test('finds owners and ACL entries anywhere', () => {
    const s = new Store();
    assert.ok(!mentionsDomain(s.root, 3));
    mkdir(ctxOf(s), P('/a/b/c'));
    setPerms(ctxOf(s), P('/a/b/c'), parsePerms(['n0', 'r3']));
    assert.ok(mentionsDomain(s.root, 3));
    assert.ok(!mentionsDomain(s.root, 4));
    setPerms(ctxOf(s), P('/a/b/c'), parsePerms(['n4']));
    assert.ok(mentionsDomain(s.root, 4));
    assert.ok(!mentionsDomain(s.root, 3));
  });
});
