import { test } from 'node:test';
import assert from 'node:assert/strict';
import { opName } from '../../src/protocol/op.js';
test('opName', () => { assert.equal(opName(2), 'READ'); });
