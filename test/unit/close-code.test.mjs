// lib's close() argument check agrees with the core's rule for every 16-bit value.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('../..', import.meta.url));

it('isSendableCloseCode matches the addon isValidCloseCode for 0..65535', () => {
  const addon = require('node-gyp-build')(root);
  const { isSendableCloseCode } = require('../../dist/constants.js');
  const disagree = [];
  for (let code = 0; code <= 0xffff; code++) {
    if (isSendableCloseCode(code) !== addon.isValidCloseCode(code)) disagree.push(code);
  }
  assert.deepEqual(disagree.slice(0, 20), []);
});
