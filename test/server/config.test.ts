// The limits table: every setting has a unique name and a default; quota
// names are the C daemon's, and older names are still understood.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultSettings, QUOTA_NAMES, quotaName, SETTINGS, settingName } from '../../src/server/config.js';

test('setting names are unique and every one has a non-negative default', () => {
  const names = SETTINGS.map((s) => s.name);
  assert.equal(new Set(names).size, names.length);
  const defaults = defaultSettings();
  for (const s of SETTINGS) assert.ok(Number.isInteger(defaults[s.name]) && defaults[s.name] >= 0, s.name);
});

test("the quotas carry the C daemon's names", () => {
  assert.deepEqual([...QUOTA_NAMES].sort(), ['node-size', 'nodes', 'outstanding', 'path-max', 'permissions', 'transaction-nodes', 'transactions', 'watches']);
});

test('settingName and quotaName accept names and the older node-permissions, nothing else', () => {
  assert.equal(settingName('permissions'), 'permissions');
  assert.equal(settingName('node-permissions'), 'permissions');
  assert.equal(settingName('history-bytes'), 'history-bytes');
  assert.equal(settingName('bogus'), undefined);
  assert.equal(quotaName('node-permissions'), 'permissions');
  assert.equal(quotaName('nodes'), 'nodes');
  assert.equal(quotaName('history'), undefined, 'a setting that is not a quota');
  assert.equal(quotaName(''), undefined);
});
