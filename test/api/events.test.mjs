// The server socket is an EventEmitter in every way users rely on, although it starts without
// EventEmitter's per-instance fields (lib/lean-event-emitter.ts): listeners added, removed and
// re-added in every way node:events offers, on a real connection.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createHarness, nextEvent, nextMessage, delay } from '../helpers/api-harness.mjs';

const h = createHarness();

describe('api: socket events', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it('is an EventEmitter with no listener table until the first listener', { timeout: 10_000 }, async () => {
    const server = await h.startServer();
    const connection = nextEvent(server, 'connection');
    await h.connect(h.url(server));
    const [socket] = await connection;
    assert.ok(socket instanceof EventEmitter);
    // What keeps an idle connection small: no listener table of its own yet (node:events' field).
    assert.equal(socket._events, undefined);
    assert.deepEqual(Object.keys(socket).sort(), ['_events', '_eventsCount', 'protocol']);
    assert.deepEqual(socket.eventNames(), []);
    assert.equal(socket.listenerCount('message'), 0);
    assert.deepEqual(socket.listeners('message'), []);
    assert.deepEqual(socket.rawListeners('close'), []);
    assert.equal(socket.emit('nothing'), false);
    assert.equal(socket.getMaxListeners(), EventEmitter.defaultMaxListeners);
    assert.throws(() => socket.emit('error', new Error('unheard')), /unheard/, "'error' without a listener throws, as on any EventEmitter");
    socket.setMaxListeners(3);
    assert.equal(socket.getMaxListeners(), 3);
  });

  it('on, once, prepend, off and removeAllListeners behave as on EventEmitter', { timeout: 10_000 }, async () => {
    const { ws, socket } = await h.pair(undefined, { silenceErrors: false });
    const order = [];
    const first = () => order.push('first');
    const last = () => order.push('last');
    socket.on('message', last);
    socket.prependListener('message', first);
    socket.once('message', () => order.push('once'));
    socket.prependOnceListener('message', () => order.push('prepended once'));
    assert.deepEqual(socket.eventNames(), ['message']);
    assert.equal(socket.listenerCount('message'), 4);
    ws.send('a');
    await nextEvent(socket, 'message');
    ws.send('b');
    await nextEvent(socket, 'message');
    assert.deepEqual(order, ['prepended once', 'first', 'last', 'once', 'first', 'last']);
    assert.equal(socket.listenerCount('message'), 2);

    socket.off('message', first);
    socket.removeListener('message', last);
    assert.deepEqual(socket.eventNames(), []);
    assert.equal(socket._events, undefined, 'the table is gone with the last listener');
    ws.send('c');
    await delay(50);
    assert.equal(order.length, 6, 'removed listeners are not called');

    // Listeners come back after the table went away; the special names are no inherited properties.
    const got = [];
    socket.on('message', (data) => got.push(String(data)));
    socket.on('toString', () => got.push('toString event'));
    socket.emit('toString');
    ws.send('d');
    await nextEvent(socket, 'message');
    assert.deepEqual(got, ['toString event', 'd']);
    socket.removeAllListeners('toString');
    assert.deepEqual(socket.eventNames(), ['message']);
    socket.removeAllListeners();
    assert.deepEqual(socket.eventNames(), []);
    assert.equal(socket.emit('message', Buffer.from('x'), false), false);
  });

  it("'newListener' and 'removeListener' events fire; removeAllListeners() reports each removal", { timeout: 10_000 }, async () => {
    const { socket } = await h.pair(undefined, { silenceErrors: false });
    const seen = [];
    socket.on('newListener', (event) => seen.push(`new ${String(event)}`));
    socket.on('removeListener', (event) => seen.push(`removed ${String(event)}`));
    const listener = () => {};
    socket.on('ping', listener);
    socket.off('ping', listener);
    socket.on('pong', listener);
    socket.removeAllListeners();
    // node:events removes 'removeListener' listeners last, so they hear every other removal.
    assert.deepEqual(seen, ['new removeListener', 'new ping', 'removed ping', 'new pong', 'removed newListener', 'removed pong']);
    assert.deepEqual(socket.eventNames(), []);
  });

  it('one listener function shared by many sockets gets each socket as this', { timeout: 15_000 }, async () => {
    const server = await h.startServer();
    function echo(data, isBinary) {
      this.send(data, { binary: isBinary });
    }
    server.on('connection', (socket) => socket.on('message', echo));
    const clients = await Promise.all([1, 2, 3].map(() => h.connect(h.url(server))));
    const replies = clients.map((ws) => nextMessage(ws));
    clients.forEach((ws, i) => ws.send(`client ${i}`));
    assert.deepEqual((await Promise.all(replies)).map(({ data }) => String(data)), ['client 0', 'client 1', 'client 2']);
  });

  it('a rejected promise from a listener reaches the socket\'s error listener with captureRejections', { timeout: 10_000 }, async () => {
    const { ws, socket } = await h.pair(undefined, { silenceErrors: false });
    const saved = EventEmitter.captureRejections;
    EventEmitter.captureRejections = true;
    try {
      socket.on('message', async () => { throw new Error('async listener failed'); });
      const failure = nextEvent(socket, 'error');
      ws.send('x');
      const [error] = await failure;
      assert.match(error.message, /async listener failed/);
    } finally {
      EventEmitter.captureRejections = saved;
    }
  });
});
