// wss through sockets Node keeps: `{ server: httpsServer }`, handleUpgrade() with a TLSSocket, with
// a Duplex that has no fd, and with a Unix socket. The core runs the protocol over a stream
// (lib/stream-bridge.ts moves the bytes); the ws client checks echo, sizes, backpressure, close
// semantics and refusals, and every socket is gone afterwards.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { caCert, certFor } from '../helpers/tls-certs.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

const { key, cert } = certFor('localhost');
const servers = [];

after(() => {
  for (const s of servers) s.close?.();
});

function echo(socket) {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
}

async function httpsWith(wssOptions, onConnection = echo) {
  const server = https.createServer({ key, cert });
  servers.push(server);
  const wss = new WebSocketServer({ server, ...wssOptions });
  wss.on('connection', onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, wss, url: `wss://127.0.0.1:${server.address().port}` };
}

function connect(url, options = {}) {
  const ws = new WebSocket(url, { ca: caCert(), maxPayload: 64 * 1024 * 1024, ...options });
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  return ws;
}

async function opened(ws) {
  await withTimeout(once(ws, 'open'), 5000, 'open');
  return ws;
}

function nextMessage(ws, ms = 20_000) {
  return withTimeout(once(ws, 'message'), ms, 'a message');
}

async function shutdown({ server, wss }) {
  await withTimeout(wss.close(), 5000, 'wss.close');
  await withTimeout(new Promise((resolve) => server.close(resolve)), 5000, 'server.close');
}

/** Waits until the node server reports no open socket (each was destroyed, none leaked). */
async function noSocketsLeft(server) {
  const count = () => new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  const deadline = Date.now() + 5000;
  let n = await count();
  while (n !== 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    n = await count();
  }
  assert.equal(n, 0, 'sockets left open on the server');
}

describe('wss on an https.Server ({ server })', { timeout: 60_000 }, () => {
  it('echoes text and binary, up to 16 MiB, and closes cleanly both ways', async () => {
    const srv = await httpsWith({ maxPayload: 17 * 1024 * 1024 });
    const ws = await opened(connect(srv.url));
    ws.send('hello κόσμε');
    const [text, textBinary] = await nextMessage(ws);
    assert.equal(text.toString(), 'hello κόσμε');
    assert.equal(textBinary, false);
    for (const size of [0, 125, 126, 65535, 65536, 1 << 20, 16 * 1024 * 1024]) {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4093) payload[i] = i & 0xff;
      ws.send(payload);
      const [data, isBinary] = await nextMessage(ws);
      assert.equal(isBinary, true);
      assert.ok(Buffer.compare(data, payload) === 0, `echo of ${size} bytes`);
    }
    ws.close(4001, 'client bye');
    assert.deepEqual(await withTimeout(ws.closed, 5000, 'close'), { code: 4001, reason: 'client bye' });
    await noSocketsLeft(srv.server);

    // The server closes: the client sees the code and a clean TLS end.
    const [serverSide] = await Promise.all([once(srv.wss, 'connection'), opened(connect(srv.url))]).then(([[s]]) => [s]);
    const closedByServer = new Promise((resolve) => serverSide.once('close', (code) => resolve(code)));
    serverSide.close(1000, 'server bye');
    assert.equal(await withTimeout(closedByServer, 5000, 'server-side close'), 1000);
    await noSocketsLeft(srv.server);
    await shutdown(srv);
  });

  it('the request is node\'s: headers and the TLSSocket (encrypted, peer address) reach "connection"', async () => {
    let seen;
    const srv = await httpsWith({}, (socket, request) => {
      seen = { encrypted: request.socket.encrypted, address: request.socket.remoteAddress, origin: request.headers.origin };
      echo(socket);
    });
    const ws = await opened(connect(srv.url, { origin: 'https://app.example' }));
    assert.deepEqual(seen, { encrypted: true, address: '127.0.0.1', origin: 'https://app.example' });
    ws.terminate();
    await shutdown(srv);
  });

  it('a client that leaves is a 1006 close; wss.close() ends the rest with 1001 and no socket is left', async () => {
    const srv = await httpsWith({});
    const closes = [];
    srv.wss.on('connection', (socket) => socket.on('close', (code) => closes.push(code)));
    const a = await opened(connect(srv.url));
    const b = await opened(connect(srv.url));
    await new Promise((r) => setImmediate(r));
    a.terminate(); // a TCP reset under TLS
    while (closes.length < 1) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(closes, [1006]);
    const closing = withTimeout(b.closed, 5000, 'b closed');
    await shutdown(srv);
    assert.equal((await closing).code, 1001);
    assert.equal(srv.wss.clients.size, 0);
  });

  it('honours the socket\'s backpressure: a client that stops reading fills bufferedAmount, then drains', async () => {
    let serverSide;
    const srv = await httpsWith({ maxBackpressure: 256 * 1024 * 1024 }, (s) => { serverSide = s; });
    const ws = await opened(connect(srv.url));
    while (!serverSide) await new Promise((r) => setTimeout(r, 5));
    ws._socket.pause(); // the client's TLS socket: nothing more is read from the kernel
    const chunk = Buffer.alloc(1024 * 1024, 3);
    let sent = 0;
    while (sent < 64 && serverSide.bufferedAmount < 8 * 1024 * 1024) {
      serverSide.send(chunk);
      sent++;
      await new Promise((r) => setTimeout(r, 2));
    }
    // Far more than the stream's window stays queued in the core, not in node's socket buffer.
    assert.ok(serverSide.bufferedAmount >= 4 * 1024 * 1024, `bufferedAmount ${serverSide.bufferedAmount} after ${sent} MiB`);
    const drained = withTimeout(once(serverSide, 'drain'), 20_000, 'drain');
    let received = 0;
    ws.on('message', () => { received++; });
    ws._socket.resume();
    await drained;
    while (received < sent) await new Promise((r) => setTimeout(r, 10));
    assert.equal(serverSide.bufferedAmount, 0);
    ws.close();
    await withTimeout(ws.closed, 5000, 'close');
    await shutdown(srv);
  });

  it('a client that stops reading and then breaks the connection closes on the server though its output waits', async () => {
    // 'reset': the client's socket goes with unread bytes (a TCP reset). 'fin, then reset': a
    // clean end first (the core keeps a half-closed peer, which may still read), then the reset.
    for (const leave of ['reset', 'fin, then reset']) {
      let serverSide;
      let serverTls;
      const srv = await httpsWith({ maxBackpressure: 16 * 1024 * 1024, idleTimeout: 0 }, (s, request) => {
        serverSide = s;
        serverTls = request.socket;
      });
      const ws = await opened(connect(srv.url));
      try {
        while (!serverSide) await new Promise((r) => setTimeout(r, 5));
        const closed = new Promise((resolve) => serverSide.once('close', resolve));
        ws._socket.pause();
        // Past the stream's window and node's socket buffer, and past half of maxBackpressure: the
        // core holds output it cannot hand over until the socket drains, and once it has read the
        // client's next message it reads this connection no more (paused for its output).
        const chunk = Buffer.alloc(1024 * 1024, 5);
        while (serverSide.bufferedAmount < 10 * 1024 * 1024) {
          serverSide.send(chunk);
          await new Promise((r) => setTimeout(r, 2));
        }
        await new Promise((resolve) => ws.send('more', resolve));
        await new Promise((r) => setTimeout(r, 50));
        if (leave !== 'reset') {
          const ended = once(serverTls, 'end');
          ws._socket.end();
          await withTimeout(ended, 5000, 'the server socket\'s end');
        }
        ws._socket.destroy();
        assert.equal(await withTimeout(closed, 10_000, `the server's close after ${leave}`), 1006);
        assert.equal(srv.wss.clients.size, 0);
      } finally {
        ws.terminate();
        // terminate(): a connection still stuck (the failure above) must not also hang close().
        await withTimeout(srv.wss.terminate(), 5000, 'wss.terminate');
        await withTimeout(new Promise((resolve) => srv.server.close(resolve)), 5000, 'server.close');
      }
      await noSocketsLeft(srv.server);
    }
  });

  it('refusals keep their statuses, and a wsClientError listener answers on the TLSSocket itself', async () => {
    const srv = await httpsWith({ path: '/ws' });
    const status = await new Promise((resolve) => {
      const ws = connect(`${srv.url}/elsewhere`);
      ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
      ws.once('open', () => resolve('open'));
    });
    assert.equal(status, 404);
    srv.wss.on('wsClientError', (error, socket) => {
      assert.equal(socket.encrypted, true);
      socket.end(`HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    const answered = await new Promise((resolve) => {
      const ws = connect(`${srv.url}/nope`);
      ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    });
    assert.equal(answered, 418);
    await noSocketsLeft(srv.server);
    await shutdown(srv);
  });
});

describe('handleUpgrade() with sockets Node keeps', { timeout: 60_000 }, () => {
  it('a TLSSocket from an https.Server in noServer mode', async () => {
    const server = https.createServer({ key, cert });
    servers.push(server);
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => echo(ws)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const ws = await opened(connect(`wss://127.0.0.1:${server.address().port}`));
    ws.send(Buffer.from('over handleUpgrade'));
    assert.equal((await nextMessage(ws))[0].toString(), 'over handleUpgrade');
    ws.close();
    await withTimeout(ws.closed, 5000, 'close');
    await noSocketsLeft(server);
    await shutdown({ server, wss });
  });

  it('a Duplex with no fd (a stream wrapped around a TCP socket) and a Unix socket', async () => {
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', echo);
    // The upgrade request is read here by hand, as a custom protocol server would, and the rest of
    // the stream is handed over with the request.
    const serve = (socket, wrap) => {
      let buffered = Buffer.alloc(0);
      const onData = (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
        const [method, url] = lines[0].split(' ');
        const rawHeaders = lines.slice(1).flatMap((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
        const headers = {};
        for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i].toLowerCase()] = rawHeaders[i + 1];
        const stream = wrap(socket);
        const request = { method, url, httpVersion: '1.1', headers, rawHeaders, socket: stream };
        wss.handleUpgrade(request, stream, buffered.subarray(end + 4), (ws) => wss.emit('connection', ws, request));
      };
      socket.on('data', onData);
    };
    const wrapped = (socket) => {
      // A Duplex of its own: no _handle, so the core cannot reach an fd and runs it as a stream.
      const duplex = new Duplex({
        read() { socket.resume(); },
        write(chunk, _encoding, callback) { socket.write(chunk, callback); },
        final(callback) { socket.end(); callback(); },
        destroy(error, callback) { socket.destroy(); callback(error); },
      });
      socket.on('data', (d) => { if (!duplex.push(d)) socket.pause(); });
      socket.on('end', () => duplex.push(null));
      socket.on('close', () => duplex.destroy());
      return duplex;
    };
    const tcp = net.createServer((s) => serve(s, wrapped));
    const sockPath = path.join(os.tmpdir(), `epollws-unix-${process.pid}.sock`);
    fs.rmSync(sockPath, { force: true });
    const unix = net.createServer((s) => serve(s, (x) => x));
    servers.push(tcp, unix);
    tcp.listen(0, '127.0.0.1');
    unix.listen(sockPath);
    await Promise.all([once(tcp, 'listening'), once(unix, 'listening')]);

    for (const url of [`ws://127.0.0.1:${tcp.address().port}`, `ws+unix:${sockPath}:/`]) {
      const ws = new WebSocket(url);
      ws.on('error', () => {});
      const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
      await withTimeout(once(ws, 'open'), 5000, `open ${url}`);
      const big = Buffer.alloc(3 * 1024 * 1024, 9);
      ws.send('text');
      ws.send(big);
      assert.equal((await nextMessage(ws))[0].toString(), 'text');
      assert.ok(Buffer.compare((await nextMessage(ws))[0], big) === 0);
      ws.close(1000);
      assert.equal(await withTimeout(closed, 5000, 'close'), 1000);
    }
    await withTimeout(wss.close(), 5000, 'wss.close');
    assert.equal(wss.clients.size, 0);
    for (const s of [tcp, unix]) await noSocketsLeft(s);
    fs.rmSync(sockPath, { force: true });
  });
});
