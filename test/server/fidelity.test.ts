/**
 * Where tsxenstored follows Xen's daemons, pinned to what they answered when
 * probed (Debian 12's C xenstored and oxenstored, ../shared/refdaemons):
 * - RM: watches on the removed node and its parents fire with the removed
 *   path; watches below it fire with their own path only if their node
 *   existed (C xenstored; oxenstored also fires for an absent node one level
 *   below, /u/nothere here: we follow the C daemon and say so in the README);
 * - UNWATCH of a watch that does not exist answers ENOENT whatever the path
 *   looks like (both daemons); a wrong argument count is EINVAL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op } from '../../src/protocol/op.js';
import { errorName, Harness, payload } from '../helpers/inproc.js';

test('RM /u fires what the C xenstored fires: the removed node, its parents, and watches on nodes that existed below', () => {
  const h = new Harness();
  const a = h.connect();
  const b = h.connect();
  b.write('/u/x/y', '1');
  b.write('/u/z', '2');
  b.write('/other', '3');
  for (const w of ['/u', '/u/x', '/u/x/y', '/u/c/c/a', '/u/nothere', '/', '/other']) a.ok(Op.WATCH, payload(w, `t${w}`));
  a.events(); // each watch's first event
  b.ok(Op.RM, payload('/u'));
  const got = a
    .events()
    .map((e) => `${e.token}=${e.path}`)
    .sort();
  assert.deepEqual(got, ['t/=/u', 't/u/x/y=/u/x/y', 't/u/x=/u/x', 't/u=/u'].sort());
});

test('UNWATCH of a watch that does not exist is ENOENT for any path (both daemons); a wrong argument count is EINVAL', () => {
  const h = new Harness();
  const a = h.connect();
  for (const p of ['/valid/none', '@bogus', 'bad//path', '/trailing/', '']) {
    assert.equal(errorName(a.call(Op.UNWATCH, payload(p, 'tok')).reply), 'ENOENT', JSON.stringify(p));
  }
  assert.equal(errorName(a.call(Op.UNWATCH, payload('onlyone')).reply), 'EINVAL');
  a.ok(Op.WATCH, payload('/w', 'tok'));
  a.events();
  a.ok(Op.UNWATCH, payload('/w', 'tok'));
  assert.equal(errorName(a.call(Op.UNWATCH, payload('/w', 'tok')).reply), 'ENOENT', 'gone once removed');
});
