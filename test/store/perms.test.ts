// Permissions: parse/format round trip and bad strings, Xen's access rules
// (privileged, owner, own ACL entry over default, SET_TARGET), inheritPerms, withoutDomain.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import {
  canRead,
  canWrite,
  DEFAULT_PERMS,
  encodePerms,
  formatPerms,
  inheritPerms,
  isOwner,
  ownerOf,
  parsePerm,
  parsePerms,
  permsEqual,
  withoutDomain,
  type Perm,
  type PermKind,
  type Perms,
} from '../../src/store/perms.js';
import { DOM0, guest, xs } from '../support/fixtures.js';

const kindArb = fc.constantFrom<PermKind>('n', 'r', 'w', 'b');
const permArb: fc.Arbitrary<Perm> = fc.record({ kind: kindArb, domid: fc.nat({ max: 0xffff }) }).map((p) => ({ ...p }));
const permsArb: fc.Arbitrary<Perms> = fc.array(permArb, { minLength: 1, maxLength: 6 }).map((a) => a as unknown as Perms);

function perms(...items: string[]): Perms {
  return parsePerms(items);
}

describe('parse and format', () => {
  test('parsePerm reads kind and domid', () => {
    assert.deepEqual(parsePerm('r5'), { kind: 'r', domid: 5 });
    assert.deepEqual(parsePerm('b0'), { kind: 'b', domid: 0 });
    assert.deepEqual(parsePerm('n65535'), { kind: 'n', domid: 65535 });
  });

  test('bad permission strings are EINVAL', () => {
    for (const bad of ['', 'r', 'x1', 'R1', ' r1', 'r 1', 'r-1', 'r+1', 'r1a', 'r65536', 'rw1', 'r0x1']) {
      assert.throws(() => parsePerm(bad), xs('EINVAL'), JSON.stringify(bad));
    }
    assert.throws(() => parsePerms([]), xs('EINVAL'));
    assert.throws(() => parsePerms(['r1', 'bogus']), xs('EINVAL'));
  });

  test('format(parse(x)) = x and parse(format(p)) = p (property)', () => {
    fc.assert(
      fc.property(permsArb, (p) => {
        const text = formatPerms(p);
        assert.deepEqual(parsePerms(text), [...p]);
        assert.deepEqual(formatPerms(parsePerms(text)), text);
        assert.ok(permsEqual(parsePerms(text), p));
      }),
    );
  });

  test('encodePerms is the NUL-terminated list', () => {
    assert.equal(encodePerms(perms('r1', 'w2', 'n3')).toString('latin1'), 'r1\0w2\0n3\0');
    assert.equal(encodePerms(DEFAULT_PERMS).toString('latin1'), 'n0\0');
  });

  test('permsEqual compares entries in order', () => {
    assert.ok(permsEqual(perms('r1', 'w2'), perms('r1', 'w2')));
    assert.ok(!permsEqual(perms('r1', 'w2'), perms('r1')));
    assert.ok(!permsEqual(perms('r1', 'w2'), perms('r1', 'r2')));
    assert.ok(!permsEqual(perms('r1', 'w2'), perms('r1', 'w3')));
    assert.ok(!permsEqual(perms('w2', 'r1'), perms('r1', 'w2')));
  });
});

describe('access rules', () => {
  const p = perms('n1', 'r2', 'w3', 'b4', 'n5');

  test('privileged callers may do everything', () => {
    assert.ok(canRead(p, DOM0));
    assert.ok(canWrite(p, DOM0));
    assert.ok(isOwner(p, DOM0));
  });

  test('the owner may do everything whatever the default', () => {
    assert.ok(canRead(p, guest(1)));
    assert.ok(canWrite(p, guest(1)));
    assert.ok(isOwner(p, guest(1)));
  });

  test("a domain's own entry decides for it", () => {
    assert.ok(canRead(p, guest(2)) && !canWrite(p, guest(2)));
    assert.ok(!canRead(p, guest(3)) && canWrite(p, guest(3)));
    assert.ok(canRead(p, guest(4)) && canWrite(p, guest(4)));
    assert.ok(!isOwner(p, guest(4)));
  });

  test('an explicit entry wins over a more generous default', () => {
    const open = perms('b1', 'n5', 'r6');
    assert.ok(!canRead(open, guest(5)) && !canWrite(open, guest(5)));
    assert.ok(canRead(open, guest(6)) && !canWrite(open, guest(6)));
    assert.ok(canRead(open, guest(7)) && canWrite(open, guest(7)));
  });

  test('others get the default (first entry) kind', () => {
    assert.ok(!canRead(p, guest(9)) && !canWrite(p, guest(9)));
    assert.ok(canRead(perms('r1'), guest(9)) && !canWrite(perms('r1'), guest(9)));
    assert.ok(!canRead(perms('w1'), guest(9)) && canWrite(perms('w1'), guest(9)));
  });

  test('a domain with a target acts as its target', () => {
    // Domain 8 targets domain 1 (the owner): owner rights.
    assert.ok(isOwner(p, guest(8, 1)) && canRead(p, guest(8, 1)) && canWrite(p, guest(8, 1)));
    // Domain 8 targets domain 2: domain 2's entry applies.
    assert.ok(canRead(p, guest(8, 2)) && !canWrite(p, guest(8, 2)));
    // Domain 8 targeting nobody listed gets the default.
    assert.ok(!canRead(p, guest(8, 9)));
  });

  test('ownerOf is the first entry', () => {
    assert.equal(ownerOf(p), 1);
  });
});

describe('inheritPerms', () => {
  const parent = perms('r0', 'w3', 'b7');

  test('an unprivileged creator becomes the owner, the rest is inherited', () => {
    assert.deepEqual(formatPerms(inheritPerms(parent, guest(5))), ['r5', 'w3', 'b7']);
  });

  test('a privileged creator inherits unchanged (same object)', () => {
    assert.ok(inheritPerms(parent, DOM0) === parent);
  });

  test('the owner of the parent inherits unchanged', () => {
    const own = perms('n5', 'r1');
    assert.ok(inheritPerms(own, guest(5)) === own);
  });

  test('a creator with a target still becomes the owner itself', () => {
    assert.equal(ownerOf(inheritPerms(perms('n1'), guest(8, 1))), 8);
  });
});

describe('withoutDomain', () => {
  test('drops every ACL entry of the domain', () => {
    assert.deepEqual(formatPerms(withoutDomain(perms('r0', 'w3', 'b5', 'r3'), 3)), ['r0', 'b5']);
  });

  test('an owner entry passes to dom0, keeping the default kind', () => {
    assert.deepEqual(formatPerms(withoutDomain(perms('w3', 'r4', 'b3'), 3)), ['w0', 'r4']);
  });

  test('perms not naming the domain come back as the same object', () => {
    const p = perms('r1', 'w2');
    assert.ok(withoutDomain(p, 3) === p);
  });

  test('the result never names the domain and keeps the other entries (property)', () => {
    fc.assert(
      fc.property(permsArb, fc.nat({ max: 8 }), (p, d) => {
        const out = withoutDomain(p, d);
        assert.ok(out.length >= 1);
        if (d !== 0) assert.ok(out.every((e) => e.domid !== d));
        assert.deepEqual(out.slice(1), p.slice(1).filter((e) => e.domid !== d));
        assert.equal(out[0].kind, p[0].kind);
      }),
    );
  });
});
