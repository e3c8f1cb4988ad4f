// Handshake decisions: subprotocols, verifyClient, the async upgrade hook, 'headers', path,
// maxConnections and wsClientError.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocketError } from '../../dist/index.mjs';
import { createHarness, nextEvent, nextMessage, delay, withTimeout, WsClient } from '../helpers/api-harness.mjs';

const h = createHarness();

function handshakeText(port, path = '/', extra = '') {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

async function readAll(socket, ms = 3000) {
  const chunks = [];
  socket.on('data', (c) => chunks.push(c));
  await withTimeout(new Promise((r) => socket.once('close', r)), ms, 'raw socket close').catch(() => {});
  return Buffer.concat(chunks).toString('latin1');
}

describe('api: subprotocols', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it('handleProtocols picks one of the offered protocols', { timeout: 10_000 }, async () => {
    let seen;
    const server = await h.startServer({
      handleProtocols: (protocols, request) => {
        seen = { protocols: [...protocols], url: request.url, isSet: protocols instanceof Set };
        return 'beta';
      },
    });
    const connection = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server, '/p'), {}, ['alpha', 'beta', 'gamma']);
    assert.equal(ws.protocol, 'beta');
    const [socket] = await connection;
    assert.equal(socket.protocol, 'beta');
    assert.deepEqual(seen, { protocols: ['alpha', 'beta', 'gamma'], url: '/p', isSet: true });
  });

  it('without handleProtocols the first offered protocol is chosen', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const connection = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server), {}, ['first', 'second']);
    assert.equal(ws.protocol, 'first');
    assert.equal((await connection)[0].protocol, 'first');
  });

  it('no protocol offered: protocol is the empty string and handleProtocols is not called', { timeout: 10_000 }, async () => {
    let calls = 0;
    const server = await h.startServer({ handleProtocols: () => { calls++; return 'x'; } });
    const connection = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server));
    assert.equal(ws.protocol, '');
    assert.equal((await connection)[0].protocol, '');
    assert.equal(calls, 0);
  });
});

describe('api: verifyClient', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it('sync false: the client gets 401 and no connection happens', { timeout: 10_000 }, async () => {
    let info;
    const server = await h.startServer({ verifyClient: (i) => { info = i; return false; } });
    let connections = 0;
    server.on('connection', () => connections++);
    const res = await h.refusal(h.url(server, '/v?x=1'), { origin: 'http://o.test' });
    assert.equal(res.statusCode, 401);
    assert.equal(connections, 0);
    assert.equal(info.origin, 'http://o.test');
    assert.equal(info.secure, false);
    assert.equal(info.req.url, '/v?x=1');
  });

  it('sync true accepts', { timeout: 10_000 }, async () => {
    const server = h.echo(await h.startServer({ verifyClient: () => true }));
    const ws = await h.connect(h.url(server));
    ws.send('verified');
    assert.equal((await nextMessage(ws)).data.toString(), 'verified');
  });

  it("async callback (false, 403, 'nope', headers): 403 with the header and the body", { timeout: 10_000 }, async () => {
    const server = await h.startServer({
      verifyClient: (info, cb) => setTimeout(() => cb(false, 403, 'nope', { 'X-Why': 'test' }), 20),
    });
    const res = await h.refusal(h.url(server));
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['x-why'], 'test');
    assert.equal(res.body, 'nope');
  });

  it('async callback true accepts', { timeout: 10_000 }, async () => {
    const server = h.echo(await h.startServer({ verifyClient: (info, cb) => setTimeout(() => cb(true), 20) }));
    const ws = await h.connect(h.url(server));
    ws.send('later');
    assert.equal((await nextMessage(ws)).data.toString(), 'later');
  });
});

describe('api: upgrade hook', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it('an async hook that waits 50 ms then accepts with headers and a protocol', { timeout: 10_000 }, async () => {
    let hookRequest;
    const server = h.echo(await h.startServer({
      upgrade: async (req) => {
        hookRequest = req;
        await delay(50);
        return { action: 'accept', headers: { 'X-Auth': 'ok' }, protocol: 'chosen' };
      },
    }));
    const started = Date.now();
    const ws = new WsClient(h.url(server, '/auth?t=1'), ['other', 'chosen'], { perMessageDeflate: false });
    h.clients.add(ws);
    const upgrade = nextEvent(ws, 'upgrade');
    await nextEvent(ws, 'open');
    const elapsed = Date.now() - started;
    const [res] = await upgrade;
    assert.equal(res.statusCode, 101);
    assert.equal(res.headers['x-auth'], 'ok');
    assert.equal(ws.protocol, 'chosen');
    assert.ok(elapsed >= 45, `opened after ${elapsed} ms; the hook waits 50`);
    assert.equal(hookRequest.url, '/auth?t=1');
    assert.equal(typeof hookRequest.headers['sec-websocket-key'], 'string');
    ws.send('through');
    assert.equal((await nextMessage(ws)).data.toString(), 'through');
  });

  it('a hook returning nothing accepts with the defaults', { timeout: 10_000 }, async () => {
    const server = h.echo(await h.startServer({ upgrade: () => undefined }));
    const ws = await h.connect(h.url(server));
    ws.send('default');
    assert.equal((await nextMessage(ws)).data.toString(), 'default');
  });

  it('a hook rejecting with { action: reject, status: 401, headers, body }', { timeout: 10_000 }, async () => {
    const server = await h.startServer({
      upgrade: async () => {
        await delay(10);
        return { action: 'reject', status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="t"' }, body: 'login first' };
      },
    });
    let connections = 0;
    server.on('connection', () => connections++);
    const res = await h.refusal(h.url(server));
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="t"');
    assert.equal(res.body, 'login first');
    assert.equal(connections, 0);
  });

  it("a hook that throws: 500 and a server 'error'", { timeout: 10_000 }, async () => {
    const boom = new Error('hook failed');
    const server = await h.startServer({ upgrade: () => { throw boom; } });
    const error = nextEvent(server, 'error');
    const res = await h.refusal(h.url(server));
    assert.equal(res.statusCode, 500);
    assert.equal((await error)[0], boom);
  });

  it("a hook whose promise rejects: 500 and a server 'error'; the server keeps serving", { timeout: 10_000 }, async () => {
    let fail = true;
    const server = h.echo(await h.startServer({
      upgrade: async () => {
        await delay(5);
        if (fail) throw new Error('async hook failed');
      },
    }));
    const error = nextEvent(server, 'error');
    const res = await h.refusal(h.url(server));
    assert.equal(res.statusCode, 500);
    assert.equal((await error)[0].message, 'async hook failed');
    fail = false;
    const ws = await h.connect(h.url(server));
    ws.send('ok now');
    assert.equal((await nextMessage(ws)).data.toString(), 'ok now');
  });

  for (const how of ['FIN (socket.destroy)', 'RST (socket.resetAndDestroy)']) {
    it(`a client that disconnects with a ${how} while the async hook waits: no connection, no crash, server keeps working`, { timeout: 10_000 }, async () => {
      let calls = 0;
      let release;
      const gate = new Promise((r) => { release = r; });
      const server = h.echo(await h.startServer({
        upgrade: async () => {
          calls++;
          if (calls === 1) {
            await gate;
            return { action: 'accept', headers: { 'X-Late': '1' } };
          }
          return undefined;
        },
      }));
      const events = [];
      server.on('connection', (socket) => {
        events.push('connection');
        socket.on('close', (code) => events.push(`close ${code}`));
      });
      const port = server.address().port;
      const raw = await h.rawConnect(port);
      raw.write(handshakeText(port));
      await withTimeout((async () => { while (calls === 0) await delay(5); })(), 5000, 'the hook to be called');
      if (how.startsWith('RST')) raw.resetAndDestroy();
      else raw.destroy();
      await delay(100);
      release();
      await delay(100);
      assert.deepEqual(events, [], "'connection' for a client that had already left");
      assert.equal(server.clients.size, 0);
      const ws = await h.connect(h.url(server));
      ws.send('still serving');
      assert.equal((await nextMessage(ws)).data.toString(), 'still serving');
      assert.deepEqual(events, ['connection']);
    });
  }

  it("the 'headers' event can add a line that reaches the client", { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    let request;
    server.on('headers', (headers, req) => {
      assert.ok(Array.isArray(headers));
      request = req;
      headers.push('X-Extra: from-headers-event');
    });
    const ws = new WsClient(h.url(server, '/h'), { perMessageDeflate: false });
    h.clients.add(ws);
    const upgrade = nextEvent(ws, 'upgrade');
    const open = nextEvent(ws, 'open');
    const [res] = await upgrade;
    assert.equal(res.headers['x-extra'], 'from-headers-event');
    assert.equal(request.url, '/h');
    await open;
  });
});

describe('api: path, maxConnections, wsClientError', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it('path: another path gets 404; the right path with a query connects', { timeout: 10_000 }, async () => {
    const server = await h.startServer({ path: '/ws' });
    let req;
    server.on('connection', (socket, r) => { req = r; });
    const res = await h.refusal(h.url(server, '/other'));
    assert.equal(res.statusCode, 404);
    const res2 = await h.refusal(h.url(server, '/ws/deeper'));
    assert.equal(res2.statusCode, 404);
    await h.connect(h.url(server, '/ws?token=abc'));
    await withTimeout((async () => { while (!req) await delay(5); })(), 5000, 'connection');
    assert.equal(req.url, '/ws?token=abc');
  });

  it('maxConnections: 2 answers the third with 503, and frees the slot on close', { timeout: 10_000 }, async () => {
    const server = await h.startServer({ maxConnections: 2 });
    const a = await h.connect(h.url(server));
    await h.connect(h.url(server));
    const res = await h.refusal(h.url(server));
    assert.equal(res.statusCode, 503);
    const sockets = [...server.clients];
    assert.equal(sockets.length, 2);
    const gone = new Promise((r) => sockets.forEach((s) => s.once('close', r)));
    a.close();
    await withTimeout(gone, 5000, 'a server-side close');
    await delay(20);
    await h.connect(h.url(server));
  });

  it('garbage on a raw socket emits wsClientError (reason, status 400) and the listener answers on the socket it gets', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const port = server.address().port;
    const clientError = nextEvent(server, 'wsClientError');
    const raw = await h.rawConnect(port);
    const reply = readAll(raw);
    raw.write('THIS IS NOT HTTP AT ALL\r\n\r\n');
    const [error, socket] = await clientError;
    assert.ok(error instanceof WebSocketError);
    assert.equal(error.code, 'WS_ERR_INVALID_HANDSHAKE');
    assert.equal(error.reason, 'MALFORMED_REQUEST_LINE');
    assert.equal(error.status, 400);
    assert.equal(error.closeCode, undefined, 'closeCode is for close frames only');
    assert.equal(socket.remoteAddress, '127.0.0.1');
    assert.equal(socket.remotePort, raw.localPort);
    assert.equal(socket.writable, true);
    socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\n\r\nmine');
    assert.equal(await reply, 'HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\n\r\nmine', 'only what the listener wrote');
  });

  it('a bad Sec-WebSocket-Version emits wsClientError (400, INVALID_VERSION) and the listener may drop it', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const port = server.address().port;
    const clientError = nextEvent(server, 'wsClientError');
    const raw = await h.rawConnect(port);
    const reply = readAll(raw);
    raw.write(handshakeText(port).replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 7'));
    const [error, socket] = await clientError;
    assert.equal(error.status, 400);
    assert.equal(error.reason, 'INVALID_VERSION');
    socket.destroy(); // the listener may also just drop it: nothing is sent
    assert.equal(await reply, '');
  });

  it('an invalid Sec-WebSocket-Protocol header is refused with 400 and wsClientError', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const port = server.address().port;
    const clientError = nextEvent(server, 'wsClientError');
    const raw = await h.rawConnect(port);
    const reply = readAll(raw);
    raw.write(handshakeText(port, '/', 'Sec-WebSocket-Protocol: a, a\r\n'));
    const [error, socket] = await clientError;
    assert.equal(error.status, 400);
    assert.equal(error.reason, 'INVALID_SUBPROTOCOL');
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    assert.match(await reply, /^HTTP\/1\.1 400 /);
  });

  it('without a wsClientError listener garbage is still answered and nothing is thrown', { timeout: 10_000 }, async () => {
    const server = h.echo(await h.startServer());
    const port = server.address().port;
    const raw = await h.rawConnect(port);
    const reply = readAll(raw);
    raw.write('GARBAGE\r\n\r\n');
    assert.match(await reply, /^HTTP\/1\.1 4\d\d /);
    const ws = await h.connect(h.url(server));
    ws.send('fine');
    assert.equal((await nextMessage(ws)).data.toString(), 'fine');
  });

  it('a handshake split into single bytes is accepted', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const port = server.address().port;
    const connection = once(server, 'connection');
    const raw = await h.rawConnect(port);
    raw.setNoDelay(true);
    const text = handshakeText(port, '/split');
    const chunks = [];
    raw.on('data', (c) => chunks.push(c));
    for (const ch of text) {
      raw.write(ch);
      await delay(1);
    }
    const [, req] = await withTimeout(connection, 5000, 'connection');
    assert.equal(req.url, '/split');
    await withTimeout((async () => { while (!Buffer.concat(chunks).includes('\r\n\r\n')) await delay(5); })(), 5000, '101');
    const head = Buffer.concat(chunks).toString('latin1');
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  });
});
