// socket.io's browser client (node_modules/socket.io/client-dist, served by socket.io itself) in
// headless Chromium, against socket.io with epollws as its engine: polling, then the upgrade to
// websocket; acks, 1 MiB of binary, a broadcast. Chromium is launched as in test/e2e.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Server } from 'socket.io';
import { WebSocket, WebSocketServer } from '../../dist/index.mjs';
import { launchChromium } from '../helpers/chromium.mjs';

const PAGE = `<!doctype html><meta charset="utf-8"><title>socket.io over epollws</title>
<script src="/socket.io/socket.io.min.js"></script>
<script>
  const results = {};
  const socket = io({ reconnection: false });
  socket.on('news', (text) => { results.broadcast = text === 'to everyone'; finish(); });
  socket.on('connect', async () => {
    try {
      const engine = socket.io.engine;
      if (engine.transport.name !== 'websocket') await new Promise((resolve) => engine.once('upgrade', resolve));
      results.transport = engine.transport.name;
      results.ack = (await socket.timeout(10000).emitWithAck('echo', 'hi')) === 'hi';
      const bytes = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 255);
      const back = new Uint8Array(await socket.timeout(20000).emitWithAck('echo', bytes));
      results.binary_1mib = back.length === bytes.length && back.every((v, i) => v === bytes[i]);
      socket.emit('broadcast me');
    } catch (error) {
      results.error = String(error);
      finish();
    }
  });
  function finish() { window.__results = results; }
</script>`;

describe('socket.io browser client in headless chromium, epollws engine', { timeout: 90_000 }, () => {
  let browser;
  let io;

  after(async () => {
    if (browser) await browser.close();
    if (io) await new Promise((resolve) => io.close(() => resolve()));
  });

  it('polling, upgrade to websocket, acks, 1 MiB binary and a broadcast', { timeout: 80_000 }, async (t) => {
    browser = await launchChromium(t);
    if (!browser) return;
    const httpServer = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    });
    io = new Server(httpServer, { wsEngine: WebSocketServer, maxHttpBufferSize: 4e6 });
    io.on('connection', (socket) => {
      socket.on('echo', (value, ack) => ack(value));
      socket.on('broadcast me', () => io.emit('news', 'to everyone'));
    });
    await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const page = await browser.page();
    await page.goto(`http://127.0.0.1:${httpServer.address().port}/`, { timeout: 15_000 });
    await page.waitForFunction(() => window.__results !== undefined, null, { timeout: 40_000 });
    const results = await page.evaluate(() => window.__results);
    assert.deepEqual(results, { transport: 'websocket', ack: true, binary_1mib: true, broadcast: true }, JSON.stringify(results));
    const [serverSocket] = io.of('/').sockets.values();
    assert.equal(serverSocket.conn.transport.name, 'websocket');
    assert.ok(serverSocket.conn.transport.socket instanceof WebSocket, 'the engine\'s socket is an epollws WebSocket');
  });
});
