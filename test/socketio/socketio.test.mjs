// socket.io and engine.io (current versions, from node_modules) with epollws as their engine:
// `new Server(httpServer, { wsEngine: WebSocketServer })`, against socket.io-client and
// engine.io-client over loopback. What a socket.io application does: websocket-only and
// polling-then-upgrade, acks, binary, 1 MiB payloads, rooms and broadcasts to many clients,
// reconnects, a server streaming to a slow client, maxHttpBufferSize, io.close().
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { Server } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { Server as EngineServer } from 'engine.io';
import { Socket as EngineClient } from 'engine.io-client';
import { WebSocket, WebSocketServer } from '../../dist/index.mjs';
import { Core } from '../../dist/core.js';
import { sleep as delay, withTimeout } from '../helpers/timeout.mjs';

const servers = new Set();
const clients = new Set();

// A socket.io server on a fresh node:http server, with epollws as its WebSocket engine.
async function startIo(options = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { wsEngine: WebSocketServer, ...options });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  servers.add(io);
  return { io, httpServer, url: `http://127.0.0.1:${httpServer.address().port}` };
}

function connect(url, options = {}) {
  const socket = ioClient(url, { forceNew: true, reconnection: false, ...options });
  clients.add(socket);
  return socket;
}

async function connected(socket) {
  if (!socket.connected) await withTimeout(once(socket, 'connect'), 5000, 'socket.io connect');
  return socket;
}

const event = (emitter, name, ms = 10_000) => withTimeout(once(emitter, name), ms, `'${name}'`);

// The server-side engine socket uses epollws (not a polling transport) once this resolves.
function serverTransportName(io) {
  const [socket] = io.of('/').sockets.values();
  return socket?.conn.transport.name;
}

describe('socket.io over epollws (wsEngine: WebSocketServer)', { timeout: 120_000 }, () => {
  afterEach(async () => {
    for (const c of clients) c.close?.() ?? c.disconnect?.();
    clients.clear();
    for (const io of servers) await new Promise((resolve) => io.close(() => resolve()));
    servers.clear();
  });

  it('the engine is an epollws WebSocketServer and maxHttpBufferSize (any number) reaches it', async () => {
    const { io } = await startIo({ maxHttpBufferSize: 1e6 / 3 });
    const ws = io.engine.ws;
    assert.ok(ws instanceof WebSocketServer);
    assert.equal(ws.options.maxPayload, 1e6 / 3);
  });

  it('websocket only: emit, acks both ways, binary, 1 MiB', async () => {
    const { io, url } = await startIo({ maxHttpBufferSize: 4e6 });
    io.on('connection', (socket) => {
      socket.on('echo', (value, ack) => ack(value));
      socket.on('ask', async (ack) => ack(await socket.emitWithAck('question', 'from the server')));
    });
    const client = await connected(connect(url, { transports: ['websocket'] }));
    assert.equal(serverTransportName(io), 'websocket');
    client.on('question', (text, ack) => ack(`answer to ${text}`));
    assert.deepEqual(await client.emitWithAck('echo', { a: [1, 'two'] }), { a: [1, 'two'] });
    assert.equal(await client.emitWithAck('ask'), 'answer to from the server');
    const binary = Buffer.from([0, 1, 2, 253, 254, 255]);
    assert.deepEqual(Buffer.from(await client.emitWithAck('echo', binary)), binary);
    const large = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < large.length; i++) large[i] = (i * 7) & 0xff;
    const back = Buffer.from(await client.timeout(10_000).emitWithAck('echo', large));
    assert.ok(back.equals(large));
    const text = 'x'.repeat(1024 * 1024);
    assert.equal(await client.timeout(10_000).emitWithAck('echo', text), text);
  });

  it('polling first, then the upgrade to websocket (served by epollws)', async () => {
    const { io, url } = await startIo();
    io.on('connection', (socket) => socket.on('echo', (value, ack) => ack(value)));
    const client = await connected(connect(url));
    const engine = client.io.engine;
    if (engine.transport.name !== 'websocket') await event(engine, 'upgrade');
    assert.equal(engine.transport.name, 'websocket');
    assert.equal(await client.emitWithAck('echo', 'after the upgrade'), 'after the upgrade');
    assert.equal(serverTransportName(io), 'websocket');
  });

  it('rooms and broadcasts reach every client in them, once', async () => {
    const { io, url } = await startIo();
    io.on('connection', (socket) => {
      socket.on('join', (room, ack) => {
        socket.join(room);
        ack();
      });
    });
    const count = 40;
    const all = await Promise.all(Array.from({ length: count }, () => connected(connect(url, { transports: ['websocket'] }))));
    await Promise.all(all.map((c, i) => c.emitWithAck('join', i % 2 === 0 ? 'even' : 'odd')));
    const got = all.map(() => []);
    all.forEach((c, i) => c.on('news', (m) => got[i].push(m)));
    const arrived = Promise.all(all.map((c, i) => new Promise((resolve) => {
      const want = i % 2 === 0 ? 2 : 1;
      const check = () => { if (got[i].length === want) resolve(); };
      c.on('news', check);
    })));
    // socket.io pre-encodes a text broadcast's frame once (ws's Sender.frame) and hands it to each
    // engine socket's _sender.sendFrame(): count that path.
    const sendFrame = WebSocket.prototype._sendFrame;
    let preEncoded = 0;
    WebSocket.prototype._sendFrame = function (...args) {
      preEncoded++;
      return sendFrame.apply(this, args);
    };
    try {
      io.emit('news', 'everyone');
      io.to('even').emit('news', 'evens'); // waits in engine.io's buffer until 'everyone' is written
      await withTimeout(arrived, 10_000, 'the broadcasts');
    } finally {
      WebSocket.prototype._sendFrame = sendFrame;
    }
    assert.equal(preEncoded, count + count / 2);
    await delay(50); // nothing more arrives
    all.forEach((c, i) => assert.deepEqual(got[i], i % 2 === 0 ? ['everyone', 'evens'] : ['everyone'], `client ${i}`));
    // A large broadcast: socket.io hands every recipient the same pre-encoded frame, which the
    // core copies once (keyed by those parts) into a block every queue references.
    const { sendFrame: coreSendFrame } = Core.prototype;
    const framesSeen = new Set();
    let references = 0;
    Core.prototype.sendFrame = function (slot, generation, parts, track) {
      framesSeen.add(parts);
      references++;
      return coreSendFrame.call(this, slot, generation, parts, track);
    };
    const big = 'b'.repeat(64 * 1024);
    try {
      const bigArrived = Promise.all(all.map((c) => event(c, 'big')));
      io.emit('big', big);
      for (const [text] of await bigArrived) assert.equal(text, big);
    } finally {
      Core.prototype.sendFrame = coreSendFrame;
    }
    assert.equal(references, count, 'every recipient took the shared-frame path');
    assert.equal(framesSeen.size, 1, 'one frame (one copy in the core) for the whole broadcast');
    // Binary broadcasts too (not pre-encoded by socket.io: they take the per-socket path).
    const bin = Promise.all(all.map((c) => event(c, 'bin')));
    io.emit('bin', Buffer.from([9, 8, 7]));
    for (const [data] of await bin) assert.deepEqual(Buffer.from(data), Buffer.from([9, 8, 7]));
  });

  it('a client reconnects after the server drops its connection', async () => {
    const { io, url } = await startIo();
    let connections = 0;
    io.on('connection', (socket) => {
      connections++;
      socket.on('echo', (value, ack) => ack(value));
    });
    const client = await connected(connect(url, { transports: ['websocket'], reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 }));
    const [serverSocket] = io.of('/').sockets.values();
    serverSocket.conn.close(); // the engine closes its epollws socket
    await event(client, 'disconnect');
    await event(client, 'connect');
    assert.equal(connections, 2);
    assert.equal(await client.emitWithAck('echo', 'again'), 'again');
  });

  it('streaming 80 x 1 MiB to a client that stops reading: held back, nothing dropped', async () => {
    // A small per-socket bound: flooding the core instead of following the send callbacks
    // would meet it (and drop the connection) long before 80 MiB.
    class SmallQueue extends WebSocketServer {
      constructor(options) {
        super({ ...options, maxBackpressure: 8 * 1024 * 1024 });
      }
    }
    const { io, url } = await startIo({ wsEngine: SmallQueue, maxHttpBufferSize: 2e6 });
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let disconnected = false;
    let streamed = 0;
    io.on('connection', (socket) => {
      socket.on('disconnect', () => { disconnected = true; });
      socket.on('stream', async (count) => {
        // engine.io's pacing: what does not fit waits in its writeBuffer until the transport
        // says the previous frames were written (its send callbacks).
        for (let i = 0; i < count; i++) {
          socket.emit('chunk', i, chunk);
          streamed = i + 1;
          if (socket.conn.writeBuffer.length > 0) await once(socket.conn, 'drain');
        }
      });
    });
    const client = await connected(connect(url, { transports: ['websocket'] }));
    const received = [];
    client.on('chunk', (i, data) => received.push([i, data.byteLength]));
    const rawSocket = client.io.engine.transport.ws._socket; // the ws client's net.Socket
    rawSocket.pause();
    client.emit('stream', 80);
    // While the client reads nothing the server goes no further than its buffers hold.
    let last = -1;
    while (streamed !== last) {
      last = streamed;
      await delay(100);
    }
    assert.ok(streamed < 80, `the server streamed ${streamed} chunks to a client reading nothing`);
    assert.equal(disconnected, false);
    rawSocket.resume();
    await withTimeout((async () => { while (received.length < 80) await delay(20); })(), 60_000, '80 chunks');
    assert.deepEqual(received.map(([i]) => i), [...Array(80).keys()]);
    assert.ok(received.every(([, length]) => length === chunk.length));
    assert.equal(disconnected, false);
  });

  it('maxHttpBufferSize: a larger message closes the connection', async () => {
    const { io, url } = await startIo({ maxHttpBufferSize: 1000 });
    io.on('connection', (socket) => socket.on('echo', (value, ack) => ack(value)));
    const client = await connected(connect(url, { transports: ['websocket'] }));
    assert.equal(await client.emitWithAck('echo', 'x'.repeat(900)), 'x'.repeat(900));
    const gone = event(client, 'disconnect');
    client.emit('echo', 'x'.repeat(2000));
    const [reason] = await gone;
    assert.equal(reason, 'transport close');
  });

  it('io.close() disconnects every client and closes the engine', async () => {
    const { io, url } = await startIo();
    const all = await Promise.all(Array.from({ length: 5 }, () => connected(connect(url, { transports: ['websocket'] }))));
    const gone = Promise.all(all.map((c) => event(c, 'disconnect')));
    await new Promise((resolve) => io.close(() => resolve()));
    servers.delete(io);
    await gone;
    assert.ok(all.every((c) => !c.connected));
  });

  it('engine.io alone: engine.io-client over websocket, text and binary, and the remote address', async () => {
    const httpServer = http.createServer();
    const engine = new EngineServer({ wsEngine: WebSocketServer, transports: ['websocket'] });
    engine.attach(httpServer);
    await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    servers.add({ close: (cb) => { engine.close(); httpServer.close(() => cb()); } });
    const accepted = event(engine, 'connection');
    const client = new EngineClient(`ws://127.0.0.1:${httpServer.address().port}`, { transports: ['websocket'] });
    clients.add(client);
    const [socket] = await accepted;
    assert.equal(socket.remoteAddress, '127.0.0.1');
    socket.on('message', (data) => socket.send(data));
    await event(client, 'open');
    client.send('text');
    assert.equal((await event(client, 'message'))[0], 'text');
    client.send(new Uint8Array([1, 2, 3]));
    assert.deepEqual([...new Uint8Array((await event(client, 'message'))[0])], [1, 2, 3]);
  });
});
