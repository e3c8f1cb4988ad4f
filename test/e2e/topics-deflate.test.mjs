// Topics under permessage-deflate with an independent client: Python `websockets` offers the
// extension without server_no_context_takeover; a server given perMessageDeflate.serverNoContextTakeover
// asks for it, and then every publish is deflated once for all of them and decoded by each.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from '../../dist/index.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY = process.env.EPOLLWS_TEST_PYTHON || '/usr/bin/python3';

function message(i) {
  let out = '';
  for (let j = 0; j < 40; j++) out += `{"seq":${i},"user":"u${j % 7}","text":"hello there"}\n`;
  return out;
}

let server;
afterEach(async () => {
  if (server) await new Promise((resolve) => server.close(resolve));
  server = undefined;
});

describe('e2e: topics under permessage-deflate', { timeout: 120_000 }, () => {
  it('python websockets clients: the server asks for server_no_context_takeover, each publish deflates once', async (t) => {
    const probe = spawnSync(PY, ['-c', 'import websockets'], { timeout: 10_000 });
    if (probe.status !== 0) {
      if (process.env.CI === 'true') assert.fail(`python3-websockets not installed (${PY}) but CI=true`);
      return t.skip('python3-websockets not installed');
    }
    const N = 5;
    const COUNT = 20;
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { serverNoContextTakeover: true } });
    await new Promise((resolve) => server.once('listening', resolve));
    let ready = 0;
    let deflates = -1;
    server.on('connection', (ws) => {
      ws.subscribe('feed');
      ws.once('message', () => {
        if (++ready !== N) return;
        const before = server.publishStats.deflates;
        for (let i = 0; i < COUNT; i++) assert.equal(server.publish('feed', message(i)), N);
        deflates = server.publishStats.deflates - before;
      });
    });
    const url = `ws://127.0.0.1:${server.addresses()[0].port}`;
    const child = spawn(PY, [path.join(HERE, 'python_topics_client.py'), url, String(N), String(COUNT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    let res = null;
    try { res = JSON.parse(out.trim().split('\n').pop()); } catch { /* reported below */ }
    assert.ok(res, `python client printed no JSON (exit ${code}):\n${out}\n${err}`);
    assert.equal(res.ok, true, `${JSON.stringify(res)}\n${err}`);
    assert.equal(res.extensions.length, 1);
    assert.match(res.extensions[0], /^permessage-deflate;.*server_no_context_takeover/);
    assert.equal(deflates, COUNT, 'one deflate per publish for all five clients');
    assert.equal(code, 0);
  });
});
