// Path syntax and resolution (docs/misc/xenstore.txt rules): allowed characters,
// '//' and trailing '/', length limits, relative paths, '@' names; relativeTo, commonPrefixLength.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { ABS_PATH_MAX, REL_PATH_MAX } from '../../src/protocol/limits.js';
import {
  checkSpecial,
  commonPrefixLength,
  domainHome,
  isSpecial,
  pathOf,
  relativeTo,
  resolvePath,
  ROOT,
} from '../../src/store/path.js';
import { xs } from '../support/fixtures.js';

describe('resolvePath: absolute paths', () => {
  test('the root is "/" with no components', () => {
    const r = resolvePath('/', 3);
    assert.equal(r.abs, '/');
    assert.deepEqual(r.comps, []);
    assert.ok(r === ROOT);
  });

  test('splits into components and keeps the text', () => {
    const r = resolvePath('/local/domain/0/name', 7);
    assert.equal(r.abs, '/local/domain/0/name');
    assert.deepEqual(r.comps, ['local', 'domain', '0', 'name']);
  });

  test('every allowed character is accepted: A-Z a-z 0-9 - / _ @', () => {
    const r = resolvePath('/AZaz09-_@/x@y', 0);
    assert.deepEqual(r.comps, ['AZaz09-_@', 'x@y']);
  });

  test('forbidden characters are EINVAL', () => {
    for (const bad of ['/a b', '/a.b', '/a\0b', '/a\\b', '/a:b', '/é', '/a+b', '/a*', '/a\n']) {
      assert.throws(() => resolvePath(bad, 0), xs('EINVAL'), JSON.stringify(bad));
    }
  });

  test('empty, "//", trailing "/" are EINVAL', () => {
    for (const bad of ['', '//', '/a//b', '//a', '/a/', '/a/b/', 'a//b', 'a/']) {
      assert.throws(() => resolvePath(bad, 0), xs('EINVAL'), JSON.stringify(bad));
    }
  });

  test(`absolute paths may be ${ABS_PATH_MAX} characters, not one more`, () => {
    const ok = `/${'a'.repeat(ABS_PATH_MAX - 1)}`;
    assert.equal(resolvePath(ok, 0).abs.length, ABS_PATH_MAX);
    assert.throws(() => resolvePath(`${ok}b`, 0), xs('EINVAL'));
  });

  test('only characters that are allowed pass (property)', () => {
    const allowed = /^[A-Za-z0-9\-_@]+$/;
    const anyComp = fc.string({ minLength: 1, maxLength: 4 }).filter((c) => !c.includes('/'));
    const goodComp = fc.stringMatching(/^[A-Za-z0-9_@-]{1,4}$/);
    fc.assert(
      fc.property(fc.array(fc.oneof(anyComp, goodComp), { minLength: 1, maxLength: 4 }), (parts) => {
        const raw = `/${parts.join('/')}`;
        if (parts.every((c) => allowed.test(c))) assert.deepEqual(resolvePath(raw, 0).comps, parts);
        else assert.throws(() => resolvePath(raw, 0), xs('EINVAL'));
      }),
    );
  });
});

describe('resolvePath: relative paths and specials', () => {
  test('relative paths resolve under /local/domain/<domid>', () => {
    const r = resolvePath('device/vif/0', 12);
    assert.equal(r.abs, '/local/domain/12/device/vif/0');
    assert.deepEqual(r.comps, ['local', 'domain', '12', 'device', 'vif', '0']);
    assert.equal(domainHome(12), '/local/domain/12');
  });

  test(`relative paths may be ${REL_PATH_MAX} characters, not one more`, () => {
    const ok = 'a'.repeat(REL_PATH_MAX);
    assert.equal(resolvePath(ok, 1).abs, `/local/domain/1/${ok}`);
    assert.throws(() => resolvePath(`${ok}b`, 1), xs('EINVAL'));
  });

  test("'@' paths are watch points, not nodes: EINVAL", () => {
    assert.throws(() => resolvePath('@releaseDomain', 0), xs('EINVAL'));
    assert.throws(() => resolvePath('@introduceDomain', 0), xs('EINVAL'));
    assert.throws(() => resolvePath('@', 0), xs('EINVAL'));
  });

  test("'@' inside a path is an ordinary character", () => {
    assert.deepEqual(resolvePath('/@x', 0).comps, ['@x']);
    assert.deepEqual(resolvePath('a@b', 0).comps, ['local', 'domain', '0', 'a@b']);
  });

  test('isSpecial and checkSpecial', () => {
    assert.ok(isSpecial('@releaseDomain'));
    assert.ok(!isSpecial('/@releaseDomain'));
    assert.ok(!isSpecial(''));
    assert.equal(checkSpecial('@any thing.goes'), '@any thing.goes');
    assert.throws(() => checkSpecial('@a\0b'), xs('EINVAL'));
    assert.throws(() => checkSpecial('nope'), xs('EINVAL'));
    assert.throws(() => checkSpecial(`@${'x'.repeat(REL_PATH_MAX)}`), xs('EINVAL'));
  });
});

describe('pathOf, relativeTo, commonPrefixLength', () => {
  test('pathOf rebuilds the absolute text', () => {
    assert.ok(pathOf([]) === ROOT);
    assert.equal(pathOf(['a', 'b']).abs, '/a/b');
  });

  test('relativeTo strips the home prefix only at a component boundary', () => {
    const home = '/local/domain/5';
    assert.equal(relativeTo('/local/domain/5/device/vbd', home), 'device/vbd');
    assert.equal(relativeTo('/local/domain/5', home), '/local/domain/5');
    assert.equal(relativeTo('/local/domain/55/x', home), '/local/domain/55/x');
    assert.equal(relativeTo('/vm/5', home), '/vm/5');
  });

  test('relativeTo inverts relative resolution (property)', () => {
    const comp = fc.stringMatching(/^[a-z0-9_-]{1,6}$/);
    fc.assert(
      fc.property(fc.array(comp, { minLength: 1, maxLength: 5 }), fc.nat({ max: 0x7fef }), (parts, domid) => {
        const rel = parts.join('/');
        assert.equal(relativeTo(resolvePath(rel, domid).abs, domainHome(domid)), rel);
      }),
    );
  });

  test('commonPrefixLength', () => {
    assert.equal(commonPrefixLength([], ['a']), 0);
    assert.equal(commonPrefixLength(['a', 'b'], ['a', 'b']), 2);
    assert.equal(commonPrefixLength(['a', 'b', 'c'], ['a', 'b']), 2);
    assert.equal(commonPrefixLength(['a', 'x'], ['a', 'y', 'z']), 1);
    assert.equal(commonPrefixLength(['x'], ['y']), 0);
  });
});
