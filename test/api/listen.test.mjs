// Listening: port 0, several ports on one server, IPv6, bind errors, and server.close().
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocketServer } from '../../dist/index.mjs';
import { createHarness, nextEvent, nextMessage, withTimeout, delay, WsClient } from '../helpers/api-harness.mjs';

const h = createHarness();

/** Binds every port of [base, base + count) on `host` with net; true when all were free. */
async function allFree(base, count, host) {
  const held = [];
  try {
    for (let p = base; p < base + count; p++) {
      const s = net.createServer();
      const ok = await new Promise((resolve) => {
        s.once('error', () => resolve(false));
        s.listen({ port: p, host, exclusive: true }, () => resolve(true));
      });
      if (!ok) return false;
      held.push(s);
    }
    return true;
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

async function ipv6Loopback() {
  const s = net.createServer();
  const ok = await new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ port: 0, host: '::1' }, () => resolve(true));
  });
  if (ok) await new Promise((r) => s.close(r));
  return ok;
}

async function refusedConnect(port, host = '127.0.0.1') {
  const s = net.connect({ port, host });
  try {
    // events.once rejects on 'error', so listen by hand.
    return await withTimeout(
      new Promise((resolve) => {
        s.once('connect', () => resolve('connected'));
        s.once('error', (e) => resolve(e.code));
      }),
      5000,
      'connect result',
    );
  } finally {
    s.destroy();
  }
}

describe('api: listening', { timeout: 120_000 }, () => {
  afterEach(() => h.cleanup());

  it("port 0 emits 'listening' and address() reports the bound port", { timeout: 10_000 }, async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    h.servers.add(server);
    assert.equal(typeof server.address, 'function');
    await nextEvent(server, 'listening');
    const a = server.address();
    assert.deepEqual(Object.keys(a).sort(), ['address', 'family', 'port']);
    assert.equal(a.address, '127.0.0.1');
    assert.equal(a.family, 'IPv4');
    assert.ok(Number.isInteger(a.port) && a.port > 0, `port ${a.port}`);
    assert.deepEqual(server.addresses(), [a]);
    h.echo(server);
    const ws = await h.connect(`ws://127.0.0.1:${a.port}/`);
    ws.send('port0');
    assert.equal((await nextMessage(ws)).data.toString(), 'port0');
  });

  it('no host: listens on all addresses and accepts IPv4 clients', { timeout: 10_000 }, async () => {
    const server = h.echo(await h.startServer({ host: undefined }));
    const a = server.address();
    assert.ok(a.port > 0);
    assert.ok(['::', '0.0.0.0'].includes(a.address), `address ${a.address}`);
    const ws = await h.connect(`ws://127.0.0.1:${a.port}/`);
    ws.send('v4 on any');
    assert.equal((await nextMessage(ws)).data.toString(), 'v4 on any');
  });

  it('the constructor callback is a listening listener', { timeout: 10_000 }, async () => {
    let called = 0;
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => { called++; });
    h.servers.add(server);
    await nextEvent(server, 'listening');
    assert.equal(called, 1);
  });

  it('port: [0, 0, 0] listens on three distinct ports, each serving', { timeout: 15_000 }, async () => {
    const server = h.echo(await h.startServer({ port: [0, 0, 0] }));
    const all = server.addresses();
    assert.equal(all.length, 3);
    const ports = new Set(all.map((a) => a.port));
    assert.equal(ports.size, 3, `ports ${[...ports]}`);
    assert.deepEqual(server.address(), all[0]);
    for (const [i, a] of all.entries()) {
      const ws = await h.connect(`ws://127.0.0.1:${a.port}/`);
      ws.send(`via ${i}`);
      assert.equal((await nextMessage(ws)).data.toString(), `via ${i}`);
    }
  });

  it('100 consecutive ports on one server each accept a client and echo', { timeout: 90_000 }, async () => {
    const COUNT = 100;
    const host = '127.0.0.1';
    // Below the ephemeral range (32768+), so that client ports never collide with ours.
    let server;
    let base;
    for (let attempt = 0; attempt < 40 && !server; attempt++) {
      base = 10_000 + Math.floor(Math.random() * 200) * 100;
      if (!(await allFree(base, COUNT, host))) continue;
      const ports = Array.from({ length: COUNT }, (_, i) => base + i);
      const candidate = new WebSocketServer({ port: ports, host });
      h.servers.add(candidate);
      const outcome = await withTimeout(
        Promise.race([once(candidate, 'listening').then(() => 'ok'), once(candidate, 'error').then(([e]) => e)]),
        5000,
        'listening on 100 ports',
      );
      if (outcome === 'ok') server = candidate;
      else {
        assert.equal(outcome.code, 'EADDRINUSE', `unexpected listen error ${outcome.message}`);
        h.servers.delete(candidate);
        candidate.close();
      }
    }
    assert.ok(server, 'found no block of 100 free ports in 40 tries');
    const addresses = server.addresses();
    assert.deepEqual(addresses.map((a) => a.port), Array.from({ length: COUNT }, (_, i) => base + i));
    const seenPorts = new Set();
    server.on('connection', (socket, req) => {
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
      seenPorts.add(req.headers.host);
    });
    const clients = await Promise.all(addresses.map((a) => h.connect(`ws://${host}:${a.port}/`)));
    const replies = await Promise.all(clients.map((ws, i) => {
      const p = nextMessage(ws, 10_000);
      ws.send(`port ${base + i}`);
      return p;
    }));
    replies.forEach((r, i) => assert.equal(r.data.toString(), `port ${base + i}`));
    assert.equal(seenPorts.size, COUNT);
    assert.equal(server.clients.size, COUNT);
  });

  it("IPv6 host '::1' listens and serves", { timeout: 10_000 }, async (t) => {
    if (!(await ipv6Loopback())) {
      t.skip('::1 is not available on this machine');
      return;
    }
    const server = await h.startServer({ host: '::1' });
    const a = server.address();
    assert.equal(a.address, '::1');
    assert.equal(a.family, 'IPv6');
    let request;
    server.on('connection', (socket, req) => {
      request = req;
      socket.on('message', (d, b) => socket.send(d, { binary: b }));
    });
    const ws = await h.connect(`ws://[::1]:${a.port}/v6`);
    ws.send('six');
    assert.equal((await nextMessage(ws)).data.toString(), 'six');
    assert.equal(request.socket.remoteAddress, '::1');
    assert.equal(request.socket.remoteFamily, 'IPv6');
  });

  it("a port in use is reported as an 'error' with code EADDRINUSE and a syscall", { timeout: 10_000 }, async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen({ port: 0, host: '127.0.0.1' }, r));
    const port = blocker.address().port;
    try {
      const server = new WebSocketServer({ port, host: '127.0.0.1' });
      h.servers.add(server);
      let listened = false;
      server.on('listening', () => { listened = true; });
      const [error] = await nextEvent(server, 'error');
      assert.ok(error instanceof Error);
      assert.equal(error.code, 'EADDRINUSE');
      assert.equal(typeof error.syscall, 'string');
      assert.ok(['bind', 'listen'].includes(error.syscall), `syscall ${error.syscall}`);
      assert.equal(error.port, port);
      assert.match(error.message, /EADDRINUSE/);
      await delay(50);
      assert.equal(listened, false, "'listening' after a failed bind");
      assert.equal(server.address(), null);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('one port in use among several releases the others', { timeout: 10_000 }, async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen({ port: 0, host: '127.0.0.1' }, r));
    const used = blocker.address().port;
    try {
      const server = new WebSocketServer({ port: [0, used], host: '127.0.0.1' });
      h.servers.add(server);
      const [error] = await nextEvent(server, 'error');
      assert.equal(error.code, 'EADDRINUSE');
      assert.deepEqual(server.addresses(), []);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});

describe('api: server.close()', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  // epollws's documented close(): unlike ws 8 it closes open sockets with 1001 (after what was
  // already queued for them) and emits 'close' once the last one is gone.
  it('stops accepting, delivers queued output, closes clients with 1001, then emits close', { timeout: 15_000 }, async () => {
    const server = h.echo(await h.startServer());
    const port = server.address().port;
    const ws = await h.connect(`ws://127.0.0.1:${port}/`);
    ws.send('before close');
    assert.equal((await nextMessage(ws)).data.toString(), 'before close');
    const serverSide = [...server.clients][0];
    const order = [];
    ws.on('message', (d) => order.push(`message ${d}`));
    serverSide.on('close', (code) => order.push(`server socket close ${code}`));
    const clientClose = nextEvent(ws, 'close');
    let serverClosed = 0;
    let callbackCalls = 0;
    server.on('close', () => { serverClosed++; order.push('server close'); });
    serverSide.send('queued before close');
    const result = server.close((err) => { assert.equal(err, undefined); callbackCalls++; });
    assert.ok(result instanceof Promise, 'close() returns a Promise');
    assert.equal(server.address(), null);

    // New connections are refused: the listening socket is gone.
    assert.equal(await refusedConnect(port), 'ECONNREFUSED');

    const [code, reason] = await clientClose;
    assert.equal(code, 1001);
    assert.equal(reason.toString(), 'Server shutting down');
    await withTimeout(result, 5000, 'the close() promise');
    assert.equal(callbackCalls, 1);
    assert.equal(serverClosed, 1);
    // The client's own 'close' may come before or after the server's: only the server's order is fixed.
    assert.deepEqual(order, ['message queued before close', 'server socket close 1001', 'server close']);
    assert.equal(serverSide.readyState, 3);
  });

  it("'close' waits for a client that has not finished its closing handshake", { timeout: 15_000 }, async () => {
    const server = await h.startServer({ closeTimeout: 2000 });
    const ws = await h.connect(h.url(server));
    // The client does not answer the close frame: it stops reading altogether.
    ws._socket.pause();
    let serverClosed = false;
    const started = Date.now();
    const done = server.close(() => { serverClosed = true; });
    await delay(200);
    assert.equal(serverClosed, false, "'close' while a connection was still closing");
    await withTimeout(done, 8000, 'close after closeTimeout');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1500, `closed after ${elapsed} ms; closeTimeout is 2000`);
  });

  it('server.terminate() drops every connection with 1006 at once', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const connection = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server));
    const [socket] = await connection;
    const closes = [];
    socket.on('close', (code) => closes.push(code));
    const clientClose = nextEvent(ws, 'close');
    await withTimeout(server.terminate(), 5000, 'terminate');
    assert.equal((await clientClose)[0], 1006);
    await delay(200);
    assert.deepEqual(closes, [1006], "the server-side socket's 'close' event after server.terminate()");
    assert.equal(socket.readyState, 3, 'server-side readyState after server.terminate()');
    assert.equal(server.clients.size, 0, 'server.clients after server.terminate()');
  });

  it("server.terminate() from inside a 'message' handler: every socket's 1006 comes from the core, once, before the server's 'close'", { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const sockets = [];
    server.on('connection', (socket) => sockets.push(socket));
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await h.connect(h.url(server)));
    assert.equal(sockets.length, 3);
    const order = [];
    for (const [i, socket] of sockets.entries()) socket.on('close', (code) => order.push(`socket ${i} ${code}`));
    let terminated;
    sockets[0].once('message', () => { terminated = server.terminate(); }); // inside the batch
    const serverClosed = nextEvent(server, 'close').then(() => order.push('server close'));
    clients[0].send('stop');
    await withTimeout(serverClosed, 5000, "the server's close");
    await terminated;
    assert.deepEqual(order.slice(0, 3).sort(), ['socket 0 1006', 'socket 1 1006', 'socket 2 1006']);
    assert.deepEqual(order.slice(3), ['server close']);
    assert.equal(server.clients.size, 0);
  });

  it('close() with no clients emits close and calls the callback; a second close() is fine', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    let first = 0;
    let second = 0;
    server.close(() => { first++; });
    server.close(() => { second++; }); // while closing
    await withTimeout((async () => { while (first === 0 || second === 0) await delay(5); })(), 5000, 'close callbacks');
    assert.equal(first, 1);
    assert.equal(second, 1);
    // Once closed, close(cb) still calls back (as ws does) and never throws.
    const third = await withTimeout(new Promise((r) => server.close((e) => r(e ?? 'called'))), 5000, 'third close');
    assert.ok(third === 'called' || third instanceof Error);
    assert.equal(first, 1, 'the first callback ran twice');
  });

  it('close() right after construction does not emit listening or error', { timeout: 10_000 }, async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    h.servers.add(server);
    const events = [];
    server.on('listening', () => events.push('listening'));
    server.on('error', (e) => events.push(`error ${e.message}`));
    await withTimeout(new Promise((r) => server.close(r)), 5000, 'close');
    await delay(20);
    assert.deepEqual(events, []);
  });

  it('a client connecting to a closed multi-port server is refused on every port', { timeout: 10_000 }, async () => {
    const server = await h.startServer({ port: [0, 0] });
    const ports = server.addresses().map((a) => a.port);
    await withTimeout(new Promise((r) => server.close(r)), 5000, 'close');
    for (const p of ports) assert.equal(await refusedConnect(p), 'ECONNREFUSED', `port ${p}`);
    const ws = new WsClient(`ws://127.0.0.1:${ports[0]}/`);
    h.clients.add(ws);
    const [err] = await nextEvent(ws, 'error');
    assert.equal(err.code, 'ECONNREFUSED');
  });
});
