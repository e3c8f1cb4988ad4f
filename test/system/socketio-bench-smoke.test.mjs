// Smoke test of bench (l), socket.io broadcast: the bench's socket.io server with epollws and with
// ws as its wsEngine, driven by its load process with 20 clients for a short window. The load
// process exits non-zero on any lost, reordered or corrupted broadcast, so CI catches a broken
// bench (or a broadcast path that loses events) without measuring anything.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ROOT, runJsonProcess, startServer, stopServer } from '../helpers/loadgen.mjs';

const started = [];
after(async () => {
  for (const s of started) await stopServer(s);
});

// The bench's load process, 20 clients for a short window: { code, result, stderr } (runJsonProcess).
const clients = (port, pid) => runJsonProcess(process.execPath, ['scripts/bench/socketio-clients.mjs', '--port', String(port), '--server-pid', String(pid),
  '--clients', '20', '--size', '100', '--warmup', '0.2', '--duration', '0.5'], { cwd: ROOT, timeoutMs: 60_000 });

for (const engine of ['epollws', 'ws']) {
  test(`bench (l) socket.io broadcast with ${engine}: every client receives every broadcast in order`, { timeout: 90_000 }, async () => {
    const s = await startServer(['node', 'scripts/bench/servers/socketio-broadcast.mjs', '--engine', engine, '--port', '0', '--window', '8']);
    assert.equal(s.error, undefined, s.error);
    started.push(s);
    const r = await clients(s.port, s.pid);
    assert.equal(r.code, 0, r.stderr);
    const { result } = r;
    assert.equal(result.clients, 20);
    assert.ok(result.broadcasts > 0, 'the emitter sent broadcasts');
    assert.ok(result.deliveries > 0, 'the clients received them');
    await stopServer(s);
  });
}
