// ws 8 behaviours that working ws code relies on (issue #14, §1), each through real sockets: the
// `ws` client from node_modules or raw TCP. The messages and codes are ws's own (its lib/ is the
// reference, node_modules/ws).
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { createHarness, nextEvent, collect, delay, withTimeout, WsClient } from '../helpers/api-harness.mjs';
import { RawClient, buildRequest, encodeFrame, OP, requestStatus } from '../helpers/raw-ws.mjs';
import { WebSocket, WebSocketError, WebSocketServer } from '../../dist/index.mjs';

const h = createHarness();
const portOf = (server) => server.addresses()[0].port;

// The full answer to a raw request (read until the server closes): status, headers, body.
async function rawAnswer(port, text) {
  const socket = await h.rawConnect(port);
  const chunks = [];
  socket.on('data', (chunk) => chunks.push(chunk));
  const ended = once(socket, 'close');
  socket.write(text);
  await withTimeout(ended, 5000, 'the answer');
  const raw = Buffer.concat(chunks).toString('latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, headEnd).split('\r\n');
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(lines[0].split(' ')[1]), headers, body: raw.slice(headEnd + 4), raw };
}

const httpServers = new Set();
async function closeHttpServers() {
  const list = [...httpServers];
  httpServers.clear();
  await Promise.all(list.map((server) => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  })));
}

// A node:http server sharing its port with a WebSocketServer ({ server }).
async function attached(options = {}) {
  const httpServer = http.createServer((req, res) => res.writeHead(404).end());
  httpServers.add(httpServer);
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const wss = new WebSocketServer({ server: httpServer, ...options });
  h.servers.add(wss);
  return { httpServer, wss, port: httpServer.address().port };
}

describe('api: ws compatibility', { timeout: 120_000 }, () => {
  afterEach(async () => {
    await h.cleanup();
    await closeHttpServers();
  });

  it('protocol version 8 is spoken (a ws client with protocolVersion: 8 connects)', async () => {
    const server = h.echo(await h.startServer());
    const ws = await h.connect(h.url(server), { protocolVersion: 8 });
    ws.send('eight');
    const [data] = await nextEvent(ws, 'message');
    assert.equal(data.toString(), 'eight');
  });

  it('any other version gets 400 naming "13, 8", on the own listener and on the node:http path', async () => {
    const server = await h.startServer();
    const { port } = await attached();
    for (const target of [portOf(server), port]) {
      for (const version of ['7', '14', null]) {
        const { text } = buildRequest({ port: target, headers: { 'Sec-WebSocket-Version': version } });
        const answer = await rawAnswer(target, text);
        assert.equal(answer.status, 400, answer.raw);
        assert.equal(answer.headers['sec-websocket-version'], '13, 8');
        assert.equal(answer.body, 'Missing or invalid Sec-WebSocket-Version header');
      }
    }
  });

  it('a plain HTTP request on the own port gets ws\'s 426 Upgrade Required, whatever its method', async () => {
    const server = await h.startServer();
    for (const text of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n']) {
      const answer = await rawAnswer(portOf(server), text);
      assert.equal(answer.status, 426, answer.raw);
      assert.equal(answer.headers['content-type'], 'text/plain');
      assert.equal(answer.body, 'Upgrade Required');
    }
  });

  it('refusal bodies are ws\'s texts on the own listener, as on the node:http path', async () => {
    const server = await h.startServer();
    const { port } = await attached();
    const cases = [
      [{ headers: { 'Sec-WebSocket-Key': 'short' } }, 400, 'Missing or invalid Sec-WebSocket-Key header'],
      [{ headers: { Upgrade: 'h2c' } }, 400, 'Invalid Upgrade header'],
      [{ method: 'POST' }, 405, 'Invalid HTTP method'],
      [{ headers: { 'Sec-WebSocket-Protocol': 'a,,b' } }, 400, 'Invalid Sec-WebSocket-Protocol header'],
    ];
    for (const [request, status, body] of cases) {
      for (const target of [portOf(server), port]) {
        const answer = await rawAnswer(target, buildRequest({ port: target, ...request }).text);
        assert.equal(answer.status, status, `${JSON.stringify(request)}: ${answer.raw}`);
        assert.equal(answer.body, body);
      }
    }
  });

  it('bufferedAmount is 0 in the connection handler and grows by the size of sends refused after close()', async () => {
    const server = await h.startServer();
    const seen = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server));
    const [socket] = await seen;
    assert.equal(socket.bufferedAmount, 0, 'the 101 answer is not user data');
    socket.close();
    const before = socket.bufferedAmount;
    let error;
    socket.send('abcd', (e) => { error = e; });
    assert.equal(socket.bufferedAmount, before + 4);
    socket.send(Buffer.alloc(10));
    assert.equal(socket.bufferedAmount, before + 14);
    await nextEvent(ws, 'close');
    assert.match(error.message, /^WebSocket is not open: readyState 2 \(CLOSING\)$/);
  });

  it('close() called several times emits one close event', async () => {
    const { ws, socket } = await h.pair();
    let closes = 0;
    socket.on('close', () => closes++);
    socket.close(1000, 'a');
    socket.close(1000, 'b');
    socket.close();
    socket.terminate();
    await nextEvent(ws, 'close');
    await delay(50);
    socket.close();
    assert.equal(closes, 1);
  });

  it('terminate() inside connection lets the 101 out: the client sees open, then 1006', async () => {
    const server = await h.startServer();
    server.on('connection', (socket) => socket.terminate());
    const ws = new WsClient(h.url(server));
    h.clients.add(ws);
    const events = [];
    ws.on('open', () => events.push('open'));
    ws.on('error', (e) => events.push(`error ${e.message}`));
    const [code] = await nextEvent(ws, 'close');
    assert.deepEqual(events, ['open']);
    assert.equal(code, 1006);
  });

  it('handleUpgrade twice with one socket throws ws\'s error', async () => {
    const wss = new WebSocketServer({ noServer: true });
    h.servers.add(wss);
    const httpServer = http.createServer();
    httpServers.add(httpServer);
    await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const thrown = new Promise((resolve) => {
      httpServer.on('upgrade', (request, socket, head) => {
        wss.handleUpgrade(request, socket, head, (ws) => ws.close());
        try {
          wss.handleUpgrade(request, socket, head, () => {});
          resolve(undefined);
        } catch (error) {
          resolve(error);
        }
      });
    });
    const ws = new WsClient(`ws://127.0.0.1:${httpServer.address().port}`);
    ws.on('error', () => {});
    const error = await withTimeout(thrown, 5000, 'the second handleUpgrade');
    assert.ok(error instanceof Error);
    assert.equal(error.message, 'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration');
    await once(ws, 'close');
  });

  it('close(cb) on a server that is not running calls back with ws\'s error; during the close it does not', async () => {
    const server = await h.startServer();
    const during = new Promise((resolve) => server.close((error) => resolve(error)));
    const again = new Promise((resolve) => server.close((error) => resolve(error)));
    assert.equal(await during, undefined);
    assert.equal(await again, undefined);
    const after = await new Promise((resolve) => server.close((error) => resolve(error)));
    assert.ok(after instanceof Error);
    assert.equal(after.message, 'The server is not running');
  });

  it('maxPayload takes any non-negative number (Infinity, 5e9, 1e6/3); options.port is kept as given', async () => {
    for (const maxPayload of [Infinity, 5e9, 1e6 / 3, 0]) {
      const server = h.echo(await h.startServer({ maxPayload }));
      assert.equal(server.options.maxPayload, maxPayload);
      assert.equal(server.options.port, 0);
      const ws = await h.connect(h.url(server));
      ws.send(Buffer.alloc(300_000, 1));
      const [data] = await nextEvent(ws, 'message');
      assert.equal(data.length, 300_000);
    }
    // A fraction is a limit: 1e6/3 bytes take 333,333 and refuse one more.
    const server = await h.startServer({ maxPayload: 1e6 / 3 });
    server.on('connection', (socket) => socket.on('error', () => {}));
    const ws = await h.connect(h.url(server));
    ws.send(Buffer.alloc(333_333));
    ws.send(Buffer.alloc(333_334));
    assert.equal((await nextEvent(ws, 'close'))[0], 1009);
  });

  it('protocol errors are RangeErrors with ws\'s code, message and closeCode (the opcode named)', async () => {
    const server = await h.startServer();
    const cases = [
      [encodeFrame({ opcode: 3, payload: Buffer.alloc(0) }), 'WS_ERR_INVALID_OPCODE', 'Invalid WebSocket frame: invalid opcode 3', 1002],
      [encodeFrame({ opcode: OP.CONT, payload: Buffer.from('x') }), 'WS_ERR_INVALID_OPCODE', 'Invalid WebSocket frame: invalid opcode 0', 1002],
      [encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([3, 0xe7]) }), 'WS_ERR_INVALID_CLOSE_CODE', 'Invalid WebSocket frame: invalid status code 999', 1002],
      [encodeFrame({ opcode: OP.CLOSE, payload: Buffer.from([3]) }), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 'Invalid WebSocket frame: invalid payload length 1', 1002],
      [encodeFrame({ opcode: OP.TEXT, payload: Buffer.from([0xff]) }), 'WS_ERR_INVALID_UTF8', 'Invalid WebSocket frame: invalid UTF-8 sequence', 1007],
      [encodeFrame({ opcode: OP.TEXT, payload: Buffer.from('x'), rsv2: true }), 'WS_ERR_UNEXPECTED_RSV_2_3', 'Invalid WebSocket frame: RSV2 and RSV3 must be clear', 1002],
    ];
    for (const [frame, code, message, closeCode] of cases) {
      const seen = nextEvent(server, 'connection');
      const c = await RawClient.open({ port: portOf(server) });
      const [socket] = await seen;
      const errored = nextEvent(socket, 'error');
      c.write(frame);
      const [error] = await errored;
      assert.ok(error instanceof RangeError && error instanceof WebSocketError, `${code}: ${error.constructor.name}`);
      assert.equal(error.code, code);
      assert.equal(error.message, message);
      assert.equal(error.closeCode, closeCode);
      c.destroy();
    }
  });

  it('autoPong: false leaves pings unanswered (the ping event still comes)', async () => {
    const server = await h.startServer({ autoPong: false });
    const seen = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server));
    const [socket] = await seen;
    let pongs = 0;
    ws.on('pong', () => pongs++);
    const pinged = nextEvent(socket, 'ping');
    ws.ping('are you there');
    assert.equal((await pinged)[0].toString(), 'are you there');
    // The server's own answer, after the moment an automatic pong would have been queued.
    socket.pong('by hand');
    const [data] = await nextEvent(ws, 'pong');
    assert.equal(data.toString(), 'by hand');
    assert.equal(pongs, 1);
  });

  it('the WebSocket option: connection hands out the user\'s subclass', async () => {
    class Tagged extends WebSocket {
      tag() {
        return `tagged ${this.protocol || 'none'}`;
      }
    }
    const server = await h.startServer({ WebSocket: Tagged });
    const seen = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server));
    const [socket] = await seen;
    assert.ok(socket instanceof Tagged);
    assert.equal(socket.tag(), 'tagged none');
    socket.send('hi');
    assert.equal((await nextEvent(ws, 'message'))[0].toString(), 'hi');
  });

  it('pause() stops reading: messages wait (those already read included) until resume(), in order', async () => {
    const { ws, socket } = await h.pair();
    const got = [];
    socket.on('message', (data) => {
      got.push(data.toString());
      if (got.length === 1) {
        socket.pause();
        assert.equal(socket.isPaused, true);
      }
    });
    // Sent in one write: the core reads all of them in one turn, so the pause holds what it read.
    for (let i = 0; i < 5; i++) ws.send(`m${i}`);
    await delay(100);
    // More arrive while paused: not read at all (the kernel holds them).
    for (let i = 5; i < 8; i++) ws.send(`m${i}`);
    await delay(100);
    assert.deepEqual(got, ['m0']);
    const rest = collect(socket, 'message', 7);
    socket.resume();
    assert.equal(socket.isPaused, false);
    await rest;
    assert.deepEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  });

  it('binaryType fragments and blob; send(blob) keeps its place among the sends', async () => {
    const { ws, socket } = await h.pair();
    socket.binaryType = 'fragments';
    ws.send(Buffer.from([1, 2, 3]));
    const [fragments, isBinary] = await nextEvent(socket, 'message');
    assert.ok(Array.isArray(fragments) && isBinary);
    assert.deepEqual(Buffer.concat(fragments), Buffer.from([1, 2, 3]));
    socket.binaryType = 'blob';
    ws.send(Buffer.from([4, 5]));
    const [blob] = await nextEvent(socket, 'message');
    assert.ok(blob instanceof Blob);
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), Buffer.from([4, 5]));
    ws.send('text stays a Buffer');
    assert.ok(Buffer.isBuffer((await nextEvent(socket, 'message'))[0]));

    const received = collect(ws, 'message', 3);
    let blobSent = false;
    socket.send('before');
    socket.send(new Blob([Buffer.from('the blob')]), () => { blobSent = true; });
    socket.send('after');
    const messages = await received;
    assert.deepEqual(messages.map(([d, binary]) => [d.toString(), binary]), [['before', false], ['the blob', true], ['after', false]]);
    await delay(20);
    assert.equal(blobSent, true);
  });

  it('wsClientError on the own listener gets a socket the listener answers on, and the request', async () => {
    const server = await h.startServer();
    server.on('wsClientError', (error, socket, request) => {
      assert.equal(error.code, 'WS_ERR_INVALID_HANDSHAKE');
      assert.equal(typeof socket.remoteAddress, 'string');
      assert.equal(request.url, '/');
      assert.equal(request.headers['sec-websocket-key'], 'bad');
      socket.end(`HTTP/1.1 418 I'm a teapot\r\nContent-Length: ${error.message.length}\r\n\r\n${error.message}`);
    });
    const answer = await rawAnswer(portOf(server), buildRequest({ port: portOf(server), headers: { 'Sec-WebSocket-Key': 'bad' } }).text);
    assert.equal(answer.status, 418);
    assert.equal(answer.body, 'Missing or invalid Sec-WebSocket-Key header');
  });

  it('_socket.remoteAddress answers (engine.io reads it)', async () => {
    const { socket } = await h.pair();
    assert.equal(socket._socket.remoteAddress, '127.0.0.1');
    assert.equal(socket._socket.remoteFamily, 'IPv4');
    assert.equal(typeof socket._socket.remotePort, 'number');
  });

  it('plain status check: a request after the head keeps its 426 answer', async () => {
    const server = await h.startServer();
    const { status } = await requestStatus({ port: portOf(server), data: 'GET /x HTTP/1.1\r\nHost: y\r\n\r\n' });
    assert.equal(status, 426);
  });
});

describe('api: send callbacks wait for the kernel (ws\'s rule, engine.io\'s flow control)', { timeout: 120_000 }, () => {
  afterEach(() => h.cleanup());

  // A client that does not read: the kernel's buffers fill and the rest stays queued.
  async function slowPair(options) {
    const server = await h.startServer(options);
    const seen = nextEvent(server, 'connection');
    const c = await RawClient.open({ port: portOf(server) });
    c.socket.pause();
    const [socket] = await seen;
    socket.on('error', () => {});
    return { server, c, socket };
  }

  // bufferedAmount stops moving once the kernel takes no more (the client reads nothing).
  async function settled(socket) {
    let last = -1;
    while (socket.bufferedAmount !== last) {
      last = socket.bufferedAmount;
      await delay(50);
    }
    return last;
  }

  it('callbacks stay pending while the client does not read, then fire in order as it reads', async () => {
    const { c, socket } = await slowPair();
    const size = 1024 * 1024;
    const fired = [];
    for (let i = 0; i < 16; i++) socket.send(Buffer.alloc(size, i), (error) => fired.push(error ?? i));
    const queued = await settled(socket);
    assert.ok(queued > size, `the kernel holds less than 16 MiB (${queued} bytes still queued)`);
    // The messages still (partly) queued have not called back; those the kernel took have.
    const taken = Math.floor((16 * (size + 10) - queued) / (size + 10));
    assert.ok(fired.length <= taken, `${fired.length} callbacks for ${taken} messages the kernel took`);
    assert.ok(fired.length < 16);
    assert.ok(fired.every((value, index) => value === index));
    c.socket.resume();
    await withTimeout((async () => { while (fired.length < 16) await delay(10); })(), 10_000, 'every callback');
    assert.deepEqual(fired, [...Array(16).keys()]);
  });

  it('a connection dropped with messages queued fails their callbacks; those already out succeed', async () => {
    const { socket } = await slowPair();
    const results = [];
    socket.send('small, out at once', (error) => results.push(['small', error]));
    for (let i = 0; i < 8; i++) socket.send(Buffer.alloc(1024 * 1024), (error) => results.push([i, error]));
    await settled(socket);
    const closed = nextEvent(socket, 'close');
    socket.terminate();
    await closed;
    assert.equal(results.length, 9, 'every callback ran by the close event');
    assert.deepEqual(results[0], ['small', undefined]);
    const failed = results.filter(([, error]) => error !== undefined);
    assert.ok(failed.length > 0);
    for (const [, error] of failed) assert.equal(error.message, 'WebSocket is not open: readyState 3 (CLOSED)');
  });

  it('a send refused by the drop policy gets a BackpressureError in its callback', async () => {
    const { socket } = await slowPair({ maxBackpressure: 1024 * 1024, backpressurePolicy: 'drop' });
    socket.send(Buffer.alloc(32 * 1024 * 1024)); // more than the kernel holds: the queue stays over the limit
    assert.ok((await settled(socket)) > 1024 * 1024);
    const error = await new Promise((resolve) => socket.send('refused', resolve));
    assert.equal(error?.code, 'EPOLLWS_BACKPRESSURE');
  });

  it('a callback for a message the kernel takes at once fires without further traffic', async () => {
    const { ws, socket } = await h.pair();
    const received = nextEvent(ws, 'message');
    await new Promise((resolve, reject) => socket.send('x', (error) => (error ? reject(error) : resolve())));
    await received;
  });
});
