// Smoke test of the fan-out benchmark (scenario (h)): native/bench/fanout against the epollws fan-out
// server in both modes (wss.publish and the send() loop), briefly; and against a server that loses
// one message for one subscriber, which the load generator must catch.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it, before } from 'node:test';
import { WebSocketServer } from '../../dist/index.mjs';
import { ROOT, buildLoadgen, runJsonProcess, startServer, stopServer } from '../helpers/loadgen.mjs';

const FANOUT = path.join(ROOT, 'native/bench/build/fanout');
const missingTool = ['make', 'g++'].find((tool) => spawnSync(tool, ['--version']).error?.code === 'ENOENT');

// The fan-out load generator's run: { code, result, stderr } (runJsonProcess).
const fanout = (args) => runJsonProcess(FANOUT, [...args, '--json'], { timeoutMs: 60_000 });

describe('bench: fan-out load generator', { timeout: 120_000 }, () => {
  let buildError = null;
  before(() => {
    if (!missingTool) buildError = buildLoadgen();
  });

  for (const mode of ['publish', 'loop']) {
    it(`every subscriber gets every message in order (epollws, ${mode})`, async (t) => {
      if (missingTool) return t.skip(`${missingTool} is not installed`);
      assert.equal(buildError, null, buildError ?? '');
      const s = await startServer(['node', 'scripts/bench/servers/fanout-epollws.mjs', '--port', '0', '--host', '127.0.0.1', '--mode', mode]);
      assert.equal(s.error, undefined, s.error);
      try {
        const r = await fanout(['--port', String(s.port), '--subscribers', '50', '--size', '1024', '--warmup', '0.2', '--duration', '0.5', '--server-pid', String(s.pid)]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.result.mode, 'fanout');
        assert.ok(r.result.deliveries > 0);
        assert.equal(r.result.deliveries % 1, 0);
        assert.ok(r.result.serverCpuUsPerDelivery > 0);
      } finally {
        await stopServer(s);
      }
    });
  }

  it('a lost delivery fails the run', async (t) => {
    if (missingTool) return t.skip(`${missingTool} is not installed`);
    assert.equal(buildError, null, buildError ?? '');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const subscribers = [];
    let count = 0;
    wss.on('connection', (ws, request) => {
      ws.on('error', () => {});
      if (request.url === '/sub') subscribers.push(ws);
      else ws.on('message', (data) => {
        count++;
        subscribers.forEach((sub, i) => {
          if (!(i === 3 && count === 20)) sub.send(data); // subscriber 3 misses message 20
        });
      });
    });
    try {
      const r = await fanout(['--port', String(wss.address().port), '--subscribers', '10', '--size', '64', '--warmup', '0.1', '--duration', '0.5']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /lost, duplicated or reordered|received \d+ of the/);
    } finally {
      await wss.terminate();
    }
  });
});
