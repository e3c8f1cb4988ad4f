// Smoke test of the load generator's permessage-deflate path (bench scenario (g)): against the
// example echo server with --deflate, loadgen --deflate negotiates the extension, sends compressed
// JSON-like messages and inflates and verifies every echo; against the server without --deflate it
// refuses to measure (the extension was declined). So CI catches a broken loadgen deflate path.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { buildLoadgen, runLoadgen, startServer, stopServer } from '../helpers/loadgen.mjs';

const missingTool = ['make', 'g++'].find((tool) => spawnSync(tool, ['--version']).error?.code === 'ENOENT');
const servers = {};
let setupError = null;

before(async () => {
  if (missingTool) return;
  setupError = buildLoadgen();
  if (setupError) return;
  for (const [name, extra] of [['deflate', ['--deflate']], ['plain', []]]) {
    const s = await startServer(['node', 'examples/echo-server.js', '--port', '0', '--host', '127.0.0.1', ...extra]);
    if (s.error) {
      setupError = `echo server ${name}: ${s.error}`;
      return;
    }
    servers[name] = s;
  }
});

after(async () => {
  for (const s of Object.values(servers)) await stopServer(s);
});

function ready(t) {
  if (missingTool) {
    t.skip(`${missingTool} is not installed: cannot build native/bench/loadgen`);
    return false;
  }
  assert.equal(setupError, null, setupError ?? '');
  return true;
}

test('loadgen --deflate echoes compressed 1 KiB JSON-like messages and verifies each inflated echo', async (t) => {
  if (!ready(t)) return;
  const r = await runLoadgen(
    ['--ports', String(servers.deflate.port), '--deflate', '--text', '--size', '1024', '--connections', '4', '--inflight', '4', '--duration', '1', '--warmup', '0.2'],
    { timeoutMs: 60000 },
  );
  assert.ok(r.ok, `loadgen failed: ${r.error}`);
  assert.equal(r.result.deflate, true);
  assert.ok(r.result.messages > 0, 'no message echoed');
  // threshold 0: every echo comes back compressed, and the repetitive JSON shrinks both ways.
  assert.equal(r.result.compressedEchoes, r.result.messages);
  assert.ok(r.result.wireBytesPerMsgIn < 1024 && r.result.wireBytesPerMsgOut < 1024, JSON.stringify(r.result));
});

test('loadgen --deflate --connect: every connection exchanges one verified compressed message', async (t) => {
  if (!ready(t)) return;
  const r = await runLoadgen(
    ['--ports', String(servers.deflate.port), '--deflate', '--text', '--size', '1024', '--connect', '--connections', '50', '--hold', '0'],
    { timeoutMs: 60000 },
  );
  assert.ok(r.ok, `loadgen failed: ${r.error}`);
  assert.equal(r.result.connections, 50);
});

test('loadgen --deflate fails when the server declines permessage-deflate', async (t) => {
  if (!ready(t)) return;
  const r = await runLoadgen(
    ['--ports', String(servers.plain.port), '--deflate', '--text', '--size', '1024', '--connections', '1', '--duration', '0.5', '--warmup', '0'],
    { timeoutMs: 60000 },
  );
  assert.equal(r.ok, false);
  assert.match(r.error, /did not accept permessage-deflate/);
});
