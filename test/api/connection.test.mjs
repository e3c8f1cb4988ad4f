// The 'connection' event: the request info, the socket's fields, and server.clients.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from '../../dist/index.mjs';
import { createHarness, nextEvent, nextMessage, withTimeout, delay } from '../helpers/api-harness.mjs';

const h = createHarness();

describe('api: connection request', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it('request has method, url with query, lower-case headers and the peer address', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const port = server.address().port;
    const connection = nextEvent(server, 'connection');
    const ws = await h.connect(`ws://127.0.0.1:${port}/chat/room?id=42&name=a%20b`, {
      headers: { 'X-Custom-Header': 'Custom Value', Cookie: 'a=1' },
      origin: 'http://example.test',
    });
    const [socket, req] = await connection;
    assert.ok(socket instanceof WebSocket);
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/chat/room?id=42&name=a%20b');
    assert.equal(req.httpVersion, '1.1');
    for (const name of Object.keys(req.headers)) assert.equal(name, name.toLowerCase(), `header name ${name}`);
    assert.equal(req.headers['x-custom-header'], 'Custom Value');
    assert.equal(req.headers.cookie, 'a=1');
    assert.equal(req.headers.origin, 'http://example.test');
    assert.equal(req.headers.host, `127.0.0.1:${port}`);
    assert.equal(req.headers.upgrade.toLowerCase(), 'websocket');
    assert.equal(req.headers['sec-websocket-version'], '13');
    assert.ok(Array.isArray(req.rawHeaders));
    const i = req.rawHeaders.indexOf('X-Custom-Header');
    assert.ok(i >= 0 && i % 2 === 0, 'rawHeaders keeps the original case');
    assert.equal(req.rawHeaders[i + 1], 'Custom Value');
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
    assert.equal(req.socket.remotePort, ws._socket.localPort);
    assert.equal(req.socket.remoteFamily, 'IPv4');
  });

  it('the connected socket is OPEN with ws fields and constants', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const connection = nextEvent(server, 'connection');
    await h.connect(h.url(server));
    const [socket] = await connection;
    assert.equal(socket.readyState, WebSocket.OPEN);
    assert.equal(socket.OPEN, 1);
    assert.equal(socket.CLOSED, 3);
    assert.equal(socket.CONNECTING, 0);
    assert.equal(socket.CLOSING, 2);
    assert.equal(socket.protocol, '');
    assert.equal(socket.extensions, '');
    assert.equal(socket.binaryType, 'nodebuffer');
    assert.equal(socket.bufferedAmount, 0);
  });

  it('server.clients tracks each connection from connection to close', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    assert.ok(server.clients instanceof Set);
    assert.equal(server.clients.size, 0);
    const sockets = [];
    server.on('connection', (s) => sockets.push(s));
    const a = await h.connect(h.url(server));
    const b = await h.connect(h.url(server));
    await withTimeout((async () => { while (sockets.length < 2) await delay(5); })(), 5000, 'two connections');
    assert.equal(server.clients.size, 2);
    assert.ok(server.clients.has(sockets[0]) && server.clients.has(sockets[1]));
    const closed = nextEvent(sockets[0], 'close');
    a.close();
    await closed;
    assert.equal(server.clients.size, 1);
    assert.ok(!server.clients.has(sockets[0]));
    assert.ok(server.clients.has(sockets[1]));
    const closedB = nextEvent(sockets[1], 'close');
    b.terminate();
    await closedB;
    assert.equal(server.clients.size, 0);
  });

  it('clientTracking: false leaves server.clients undefined and still serves', { timeout: 10_000 }, async () => {
    const server = h.echo(await h.startServer({ clientTracking: false }));
    assert.equal(server.clients, undefined);
    const ws = await h.connect(h.url(server));
    ws.send('untracked');
    assert.equal((await nextMessage(ws)).data.toString(), 'untracked');
  });
});

describe('api: close', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  const pair = (options) => h.pair(options);

  it("server close(4000, 'bye'): client sees 4000 'bye'; server socket closes with 4000", { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    const clientClose = nextEvent(ws, 'close');
    const serverClose = nextEvent(socket, 'close');
    socket.close(4000, 'bye');
    assert.equal(socket.readyState, WebSocket.CLOSING);
    const [code, reason] = await clientClose;
    assert.equal(code, 4000);
    assert.equal(reason.toString(), 'bye');
    const [serverCode, serverReason] = await serverClose;
    assert.equal(serverCode, 4000);
    assert.ok(Buffer.isBuffer(serverReason));
    assert.equal(serverReason.toString(), 'bye');
    assert.equal(socket.readyState, WebSocket.CLOSED);
  });

  it('server close() without a code: client sees 1005', { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    const clientClose = nextEvent(ws, 'close');
    const serverClose = nextEvent(socket, 'close');
    socket.close();
    const [code] = await clientClose;
    assert.equal(code, 1005);
    const [serverCode] = await serverClose;
    assert.equal(serverCode, 1005);
  });

  it("client close(1001, 'x'): server 'close' gets 1001 and reason 'x'", { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    const serverClose = nextEvent(socket, 'close');
    const clientClose = nextEvent(ws, 'close');
    ws.close(1001, 'x');
    const [code, reason] = await serverClose;
    assert.equal(code, 1001);
    assert.ok(Buffer.isBuffer(reason));
    assert.equal(reason.toString(), 'x');
    assert.equal(socket.readyState, WebSocket.CLOSED);
    const [clientCode] = await clientClose;
    assert.equal(clientCode, 1001, 'the server echoes the close code');
  });

  it("terminate(): server 'close' 1006, client sees 1006 without a close frame", { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    const serverClose = nextEvent(socket, 'close');
    const clientClose = nextEvent(ws, 'close');
    socket.terminate();
    const [code, reason] = await serverClose;
    assert.equal(code, 1006);
    assert.equal(reason.length, 0);
    assert.equal(socket.readyState, WebSocket.CLOSED);
    const [clientCode] = await clientClose;
    assert.equal(clientCode, 1006);
  });

  it("client socket destroyed: server 'close' 1006", { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    const serverClose = nextEvent(socket, 'close');
    ws.terminate();
    const [code] = await serverClose;
    assert.equal(code, 1006);
    assert.equal(socket.readyState, WebSocket.CLOSED);
  });

  it('invalid close codes throw TypeError and a long reason throws RangeError, leaving the socket open', { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000, 1000.5, -1, 0]) {
      assert.throws(() => socket.close(code), TypeError, `code ${code}`);
    }
    assert.throws(() => socket.close(1000, 'a'.repeat(124)), RangeError);
    assert.throws(() => socket.close(1000, 'é'.repeat(62)), RangeError, '124 bytes of UTF-8 in 62 characters');
    assert.equal(socket.readyState, WebSocket.OPEN);
    // 123 bytes is the limit and is fine.
    const clientClose = nextEvent(ws, 'close');
    socket.close(1000, 'b'.repeat(123));
    const [code, reason] = await clientClose;
    assert.equal(code, 1000);
    assert.equal(reason.toString(), 'b'.repeat(123));
  });

  it('close() and terminate() twice, and after close, are no-ops', { timeout: 10_000 }, async () => {
    const { socket, ws } = await pair();
    const closes = [];
    socket.on('close', (code) => closes.push(code));
    const clientClose = nextEvent(ws, 'close');
    socket.close(1000);
    socket.close(4001); // ignored: already closing
    await clientClose;
    await withTimeout((async () => { while (closes.length === 0) await delay(5); })(), 5000, "server 'close'");
    socket.close(1000);
    socket.terminate();
    await delay(50);
    assert.deepEqual(closes, [1000], "exactly one 'close' event");
  });
});
