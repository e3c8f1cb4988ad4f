// The constants lib reads on the per-message path must be a fast-properties object. The addon
// builds its constants one property at a time and V8 turns such an object into a hash table past
// a dozen properties: every `EVENT_MESSAGE` read then became a dictionary lookup (about 10% of
// small-echo throughput, bench (b)). V8's own predicate says which shape an object has.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function fastProperties(expression) {
  const script = `
    const { defaultBinding, fastConstants } = require('./dist/native.js');
    const binding = defaultBinding();
    process.stdout.write(String(%HasFastProperties(${expression})));`;
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout === 'true';
}

describe('unit: the constants the hot path reads', () => {
  it('fastConstants() gives an object with fast properties, whatever shape the addon built', () => {
    assert.equal(fastProperties('fastConstants(binding.constants)'), true);
  });

  it('the copy holds every constant of the addon, unchanged', async () => {
    const { defaultBinding, fastConstants } = await import('../../dist/native.js');
    const { constants } = defaultBinding();
    assert.deepEqual(fastConstants(constants), { ...constants });
    assert.deepEqual(Object.keys(fastConstants(constants)).sort(), Object.keys(constants).sort());
  });
});
