// Smoke test of the benchmark tooling: builds the native load generator, starts an echo server on
// port 0 and drives it briefly with small and 1 MiB messages; loadgen verifies every echoed byte.
//
// The server is a parameter: EPOLLWS_BENCH_SERVER is a command line to which
// `--port 0 --host 127.0.0.1` is appended; it must print "listening on ws://HOST:PORT".
// Default: epollws's example echo server; e.g. EPOLLWS_BENCH_SERVER="node scripts/bench/servers/ws-echo.mjs".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { buildLoadgen, runLoadgen, startServer, stopServer } from '../helpers/loadgen.mjs';

const serverCommand = (process.env.EPOLLWS_BENCH_SERVER || 'node examples/echo-server.js')
  .split(/\s+/)
  .filter(Boolean);

const missingTool = ['make', 'g++'].find((tool) => spawnSync(tool, ['--version']).error?.code === 'ENOENT');
let server = null;
let setupError = null;

before(async () => {
  if (missingTool) return;
  const buildError = buildLoadgen();
  if (buildError) {
    setupError = buildError;
    return;
  }
  const s = await startServer([...serverCommand, '--port', '0', '--host', '127.0.0.1']);
  if (s.error) setupError = `echo server (${serverCommand.join(' ')}): ${s.error}`;
  else server = s;
});

after(async () => {
  if (server) await stopServer(server);
});

async function echo(t, size, extra = []) {
  if (missingTool) return t.skip(`${missingTool} is not installed: cannot build native/bench/loadgen`);
  assert.equal(setupError, null, setupError ?? '');
  const r = await runLoadgen(
    ['--ports', String(server.port), '--connections', '4', '--size', String(size), '--duration', '1', '--warmup', '0.2', '--server-pid', String(server.pid), ...extra],
    { timeoutMs: 60000 },
  );
  assert.ok(r.ok, `loadgen failed: ${r.error}`);
  assert.equal(r.result.errors, 0);
  assert.ok(r.result.messages > 0 && r.result.msgsPerSec > 0, `no messages echoed: ${JSON.stringify(r.result)}`);
  assert.equal(r.result.size, size);
  return r.result;
}

test('loadgen echoes 32 B binary messages, 4 in flight, through the echo server', async (t) => {
  await echo(t, 32, ['--inflight', '4', '--binary']);
});

test('loadgen echoes 1 MiB text messages through the echo server', async (t) => {
  await echo(t, 1024 * 1024, ['--text']);
});
