// Record decoding, dispatch and the flush rule, through the public API over the fake binding.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from '../../dist/index.mjs';
import { FakeServer, fakeBinding } from './fake-binding.mjs';

const HEAD = 'GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: p1, p2\r\n\r\n';

function serverWithClient(options = {}) {
  const wss = new WebSocketServer({ noServer: true, nativeBinding: fakeBinding, ...options });
  const fake = FakeServer.last;
  const connections = [];
  wss.on('connection', (socket, request) => connections.push({ socket, request }));
  const id = fake.clientConnects(HEAD);
  fake.turn();
  return { wss, fake, id, connections };
}

describe('unit: Core over a fake binding', () => {
  it('decodes an UPGRADE into a request, accepts it and answers 101 with the first protocol', () => {
    const { fake, id, connections } = serverWithClient();
    assert.equal(connections.length, 1);
    const { socket, request } = connections[0];
    assert.equal(request.url, '/chat?x=1');
    assert.equal(request.method, 'GET');
    assert.equal(request.socket.remoteAddress, '192.0.2.1');
    assert.equal(request.socket.remotePort, 5000);
    assert.equal(request.headers.host, 'a');
    assert.equal(socket.protocol, 'p1');
    assert.deepEqual(fake.connections.get(id.slot).written[0], { status: 101, protocol: 'p1', lines: '' });
  });

  it('hands out messages from several chunks and externals, in order, each with its own bytes', () => {
    const { fake, id, connections } = serverWithClient();
    const got = [];
    connections[0].socket.on('message', (data, isBinary) => got.push([Buffer.from(data), isBinary]));
    const sent = [];
    for (let i = 0; i < 12; i++) sent.push(Buffer.alloc(16_000 + i, i));
    sent.push(Buffer.alloc(70_000, 0xee)); // an external
    sent.push(Buffer.from('tail'));
    for (const payload of sent) fake.clientSends(id, payload);
    fake.turn();
    assert.ok(fake.chunks.length >= 3, `expected several chunks, got ${fake.chunks.length}`);
    assert.ok(fake.chunks.every((c) => c.length <= 64 * 1024));
    assert.equal(got.length, sent.length);
    got.forEach(([data, isBinary], i) => {
      assert.ok(data.equals(sent[i]), `message ${i}`);
      assert.equal(isBinary, true);
    });
  });

  it('a throwing listener does not cost the rest of the turn its delivery, nor later sends their flush', async () => {
    const { fake, id, connections } = serverWithClient();
    const got = [];
    connections[0].socket.on('message', (data) => {
      got.push(String(data));
      if (got.length === 1) throw new Error('listener failed');
    });
    fake.clientSends(id, 'a');
    fake.clientSends(id, 'b');
    assert.throws(() => fake.turn(), /listener failed/);
    assert.deepEqual(got, ['a', 'b']);
    // The batch is over even though a listener threw: a send from outside it is flushed at the
    // end of the tick, not left waiting for a batch that may never come.
    const before = fake.flushes;
    connections[0].socket.send('after');
    await new Promise((resolve) => process.nextTick(resolve));
    assert.equal(fake.flushes, before + 1);
  });

  it('sends inside a turn are left to the binding; sends outside are flushed once at the end of the tick', async () => {
    const { fake, id, connections } = serverWithClient();
    const { socket } = connections[0];
    socket.on('message', (data) => socket.send(data));
    fake.clientSends(id, 'echo');
    const before = fake.flushes;
    fake.turn();
    assert.equal(fake.flushes, before + 1, 'only the flush the binding does after the turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(fake.flushes, before + 1, 'no extra flush from lib after a turn');
    socket.send('one');
    socket.send('two');
    socket.close(1000);
    assert.equal(fake.flushes, before + 1, 'not flushed synchronously');
    await new Promise((resolve) => process.nextTick(resolve));
    assert.equal(fake.flushes, before + 2, 'one flush for everything queued in the tick');
    const written = fake.connections.get(id.slot).written.slice(1).map((w) => (w.bytes ? String(w.bytes) : w.code));
    assert.deepEqual(written, ['echo', 'one', 'two', 1000]);
  });

  it('maps the drop policy to false and a BackpressureError, and a closed socket to false', async () => {
    const { fake, id, connections } = serverWithClient({ maxBackpressure: 10, backpressurePolicy: 'drop' });
    const { socket } = connections[0];
    assert.equal(socket.send('0123456789ab'), false, 'over the limit after queueing');
    const error = await new Promise((resolve) => socket.send('x', resolve));
    assert.equal(error.code, 'EPOLLWS_BACKPRESSURE');
    fake.clientLeaves(id);
    fake.turn();
    assert.equal(socket.readyState, socket.CLOSED);
    const closedError = await new Promise((resolve) => socket.send('x', resolve));
    assert.match(closedError.message, /not open/);
  });

  it('passes the normalized options to the binding once, defaults from the binding', () => {
    const { fake, wss } = serverWithClient({ maxTotalBackpressure: 5000, backpressurePolicy: 'drop' });
    assert.deepEqual(fake.options, {
      maxPayload: 1000, maxHeaderSize: 2000, maxConnections: 3, handshakeTimeout: 4, closeTimeout: 5, idleTimeout: 6,
      sendPings: false, maxBackpressure: 100, maxTotalBackpressure: 5000, dropOnBackpressure: true, maxFragments: 7,
      proxyProtocol: false, path: '', deflate: null, autoPong: true,
    });
    assert.equal(wss.options.maxBackpressure, 100);
  });

  it('a client that leaves during an async decision gets no connection', async () => {
    let release;
    const wss = new WebSocketServer({ noServer: true, nativeBinding: fakeBinding, upgrade: () => new Promise((r) => { release = r; }) });
    const fake = FakeServer.last;
    let opened = 0;
    wss.on('connection', () => opened++);
    const id = fake.clientConnects(HEAD);
    fake.turn();
    fake.clientLeaves(id);
    fake.turn();
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(opened, 0);
  });
  it('wsClientError: a listener makes the core hold refusals and answers on the socket it gets; without one nothing is emitted', async () => {
    const wss = new WebSocketServer({ noServer: true, nativeBinding: fakeBinding });
    const fake = FakeServer.last;
    const seen = [];
    const listener = (error, socket, request) => {
      seen.push({ error, request, address: socket.remoteAddress, port: socket.remotePort });
      socket.end('HTTP/1.1 400 Mine\r\n\r\n');
    };
    wss.on('wsClientError', listener);
    assert.equal(fake.hold, true);
    const held = fake.clientRefused(1);
    fake.turn();
    assert.equal(seen.length, 1);
    assert.equal(seen[0].error.reason, 'INVALID_KEY');
    assert.equal(seen[0].error.status, 400);
    assert.equal(seen[0].error.closeCode, undefined);
    assert.equal(seen[0].error.message, 'Missing or invalid Sec-WebSocket-Key header');
    assert.equal(seen[0].request, undefined);
    assert.deepEqual([seen[0].address, seen[0].port], ['192.0.2.9', 6000]);
    await new Promise((resolve) => process.nextTick(resolve)); // the end-of-tick flush
    const c = fake.connections.get(held.slot);
    assert.deepEqual(c.written, [{ raw: 'HTTP/1.1 400 Mine\r\n\r\n' }]);
    assert.equal(c.state, 'ending');

    wss.off('wsClientError', listener);
    assert.equal(fake.hold, false);
    fake.clientRefused(1);
    fake.turn();
    assert.equal(seen.length, 1, 'answered by the core: nothing to emit');
  });
});
