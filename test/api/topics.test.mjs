// Topics through real `ws` clients on loopback: subscribe/unsubscribe/isSubscribed/subscriptions,
// wss.publish and ws.publish (exclusion), order with sends, the 'subscription' event, a closed
// socket's subscriptions ending, calls from a batch, a timer, a promise and a 'close' handler,
// topic name checks, per-subscriber backpressure and a large publish shared by many sockets.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHarness, collect, nextEvent, withTimeout } from '../helpers/api-harness.mjs';

const h = createHarness();
const texts = (events) => events.map(([d]) => d.toString());

// n clients of one server, with the server's socket of each (in the same order).
async function group(server, n) {
  const members = [];
  for (let i = 0; i < n; i++) {
    const connected = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server));
    const [socket] = await connected;
    members.push({ ws, socket });
  }
  return members;
}

describe('api: topics', { timeout: 120_000 }, () => {
  afterEach(() => h.cleanup());

  it('subscribe, unsubscribe, isSubscribed and subscriptions say what changed; subscriberCount and the subscription event follow', async () => {
    const server = await h.startServer();
    const [a, b] = await group(server, 2);
    const changes = [];
    server.on('subscription', (topic, count) => changes.push(`${topic}:${count}`));
    assert.equal(a.socket.subscribe('news'), true);
    assert.equal(a.socket.subscribe('news'), false);
    assert.equal(b.socket.subscribe('news'), true);
    assert.equal(a.socket.subscribe('sport'), true);
    assert.equal(server.subscriberCount('news'), 2);
    assert.equal(server.subscriberCount('nothing'), 0);
    assert.equal(a.socket.isSubscribed('news'), true);
    assert.equal(b.socket.isSubscribed('sport'), false);
    assert.deepEqual(a.socket.subscriptions.sort(), ['news', 'sport']);
    assert.deepEqual(changes, ['news:1', 'sport:1']);
    assert.equal(a.socket.unsubscribe('news'), true);
    assert.equal(a.socket.unsubscribe('news'), false);
    assert.equal(b.socket.unsubscribe('sport'), false);
    assert.equal(b.socket.unsubscribe('news'), true);
    assert.deepEqual(changes, ['news:1', 'sport:1', 'news:0']);
    assert.equal(server.subscriberCount('news'), 0);
    assert.deepEqual(b.socket.subscriptions, []);
  });

  it('wss.publish reaches every subscriber and nobody else; ws.publish every subscriber but the sender; text and binary as in send', async () => {
    const server = await h.startServer();
    const [a, b, c] = await group(server, 3);
    a.socket.subscribe('room');
    b.socket.subscribe('room');
    let outsider = 0;
    c.ws.on('message', () => outsider++);
    const toA = collect(a.ws, 'message', 3);
    const toB = collect(b.ws, 'message', 4);
    assert.equal(server.publish('room', 'hello'), 2);
    assert.equal(server.publish('room', Buffer.from([1, 2, 3])), 2);
    assert.equal(server.publish('room', 'as binary', { binary: true }), 2);
    assert.equal(a.socket.publish('room', 'from a'), 1);
    assert.equal(server.publish('nobody-here', 'lost'), 0);
    const gotA = await toA;
    const gotB = await toB;
    assert.deepEqual(gotA.map(([d, isBinary]) => [d.toString('latin1'), isBinary]), [['hello', false], ['\x01\x02\x03', true], ['as binary', true]]);
    assert.deepEqual(texts(gotB).slice(3), ['from a']);
    assert.equal(gotB[3][1], false);
    // c would have received anything by now: b's last message was published after everything else.
    assert.equal(outsider, 0);
    const stats = server.publishStats;
    assert.equal(stats.publishes, 5);
    assert.equal(stats.queued, 7);
    assert.equal(stats.refused, 0);
    assert.equal(stats.deflates, 0); // no permessage-deflate here
  });

  it('publishes and sends reach a socket in the order they were made, small and large alike', async () => {
    const server = await h.startServer();
    const [a] = await group(server, 1);
    a.socket.subscribe('t');
    const large = Buffer.alloc(200_000, 0x4c);
    const got = collect(a.ws, 'message', 6);
    a.socket.send('s1');
    server.publish('t', 'p1');
    a.socket.send('s2');
    server.publish('t', large);
    a.socket.send('s3');
    a.socket.publish('t', 'excluded'); // a is the sender: not to itself
    server.publish('t', 'p3');
    const messages = await got;
    assert.deepEqual(messages.map(([d]) => (d.length > 1000 ? `large:${d.length}` : d.toString())), ['s1', 'p1', 's2', 'large:200000', 's3', 'p3']);
    assert.ok(messages[3][0].equals(large));
  });

  it('a closed socket leaves its topics: subscription (count 0) after its close, ws.publish from the close handler reaches the others', async () => {
    const server = await h.startServer();
    const [a, b] = await group(server, 2);
    a.socket.subscribe('solo');
    a.socket.subscribe('pair');
    b.socket.subscribe('pair');
    const order = [];
    server.on('subscription', (topic, count) => order.push(`subscription ${topic}:${count}`));
    const inClose = {};
    a.socket.on('close', () => {
      order.push('close');
      inClose.subscriptions = a.socket.subscriptions;
      inClose.isSubscribed = a.socket.isSubscribed('pair');
      inClose.subscribe = a.socket.subscribe('again');
      inClose.unsubscribe = a.socket.unsubscribe('pair');
      inClose.published = a.socket.publish('pair', 'a left');
    });
    const told = nextEvent(b.ws, 'message');
    a.ws.close();
    const [data] = await told;
    assert.equal(data.toString(), 'a left');
    assert.deepEqual(inClose, { subscriptions: [], isSubscribed: false, subscribe: false, unsubscribe: false, published: 1 });
    assert.deepEqual(order, ['close', 'subscription solo:0']);
    assert.equal(server.subscriberCount('solo'), 0);
    assert.equal(server.subscriberCount('pair'), 1);
    assert.equal(server.subscriberCount('again'), 0);
    // A terminated socket too, and the server's count follows at once.
    const ended = nextEvent(server, 'subscription');
    b.socket.terminate();
    assert.deepEqual(await ended, ['pair', 0]);
  });

  it('a topic re-subscribed from the close listener of its last subscriber never reports 0', async () => {
    const server = await h.startServer();
    const [a, b] = await group(server, 2);
    const changes = [];
    server.on('subscription', (topic, count) => changes.push(`${topic}:${count}`));
    a.socket.subscribe('t');
    a.socket.on('close', () => assert.equal(b.socket.subscribe('t'), true));
    const closed = nextEvent(a.socket, 'close');
    a.socket.terminate();
    await closed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(changes, ['t:1'], 'the topic never stopped being active for the listener');
    assert.equal(server.subscriberCount('t'), 1);
    b.socket.unsubscribe('t');
    assert.deepEqual(changes, ['t:1', 't:0']);
  });

  it('subscribe, publish and unsubscribe from a message batch, a timer, a promise and setImmediate all take effect', async () => {
    const server = await h.startServer();
    const [a, b] = await group(server, 2);
    b.socket.subscribe('t');
    const got = collect(b.ws, 'message', 4);
    a.socket.on('message', (data) => {
      a.socket.subscribe('t'); // inside the batch
      a.socket.publish('t', `batch:${data}`);
      setTimeout(() => {
        server.publish('t', 'timer');
        Promise.resolve().then(() => {
          server.publish('t', 'promise');
          a.socket.unsubscribe('t');
          setImmediate(() => server.publish('t', `immediate:${server.subscriberCount('t')}`));
        });
      }, 5);
    });
    const toA = collect(a.ws, 'message', 2);
    a.ws.send('go');
    assert.deepEqual(texts(await got), ['batch:go', 'timer', 'promise', 'immediate:1']);
    assert.deepEqual(texts(await toA), ['timer', 'promise']);
  });

  it('topic names: a TypeError for a non-string, a RangeError past 1024 bytes of UTF-8', async () => {
    const server = await h.startServer();
    const [a] = await group(server, 1);
    for (const bad of [undefined, null, 42, {}, Symbol('t')]) {
      assert.throws(() => a.socket.subscribe(bad), TypeError);
      assert.throws(() => server.publish(bad, 'x'), TypeError);
      assert.throws(() => server.subscriberCount(bad), TypeError);
    }
    assert.equal(a.socket.subscribe('t'.repeat(1024)), true);
    assert.throws(() => a.socket.subscribe('t'.repeat(1025)), RangeError);
    assert.throws(() => a.socket.isSubscribed('€'.repeat(342)), RangeError); // 1026 bytes in 342 units
    assert.throws(() => a.socket.publish('€'.repeat(342), 'x'), RangeError);
    assert.equal(a.socket.subscribe('€'.repeat(341)), true); // 1023 bytes
    assert.equal(a.socket.subscribe(''), true);
    assert.deepEqual(a.socket.subscriptions.map((t) => t.length).sort((x, y) => x - y), [0, 341, 1024]);
  });

  it('backpressure is per subscriber: a socket that does not read meets the drop policy, the others get every message', async () => {
    const server = await h.startServer({ maxBackpressure: 256 * 1024, backpressurePolicy: 'drop' });
    const members = await group(server, 3);
    for (const { socket } of members) socket.subscribe('feed');
    const [slow, ...fast] = members;
    slow.ws._socket.pause(); // its kernel buffers fill, then its queue
    const message = Buffer.alloc(64 * 1024, 0x61);
    const rounds = 200;
    const received = fast.map(({ ws }) => collect(ws, 'message', rounds, 20_000));
    let refused = 0;
    for (let i = 0; i < rounds; i++) {
      message.writeUInt32BE(i, 0);
      const queued = server.publish('feed', message);
      refused += 3 - queued;
      await new Promise((resolve) => setImmediate(resolve)); // the flush runs between rounds
    }
    for (const got of await Promise.all(received)) {
      assert.deepEqual(got.map(([d]) => d.readUInt32BE(0)), Array.from({ length: rounds }, (_, i) => i));
    }
    assert.ok(refused > 0, 'the slow subscriber refused some');
    assert.equal(server.publishStats.refused, refused);
    assert.equal(slow.socket.readyState, 1, 'drop keeps the socket');
    // Once it reads, what it took arrives in order.
    const took = 3 * rounds - refused - 2 * rounds;
    const late = collect(slow.ws, 'message', took, 20_000);
    slow.ws._socket.resume();
    const order = (await late).map(([d]) => d.readUInt32BE(0));
    assert.deepEqual(order, [...order].sort((x, y) => x - y));
  });

  it('the close policy drops only the subscriber that does not read', async () => {
    const server = await h.startServer({ maxBackpressure: 256 * 1024 });
    const members = await group(server, 2);
    for (const { socket } of members) socket.subscribe('feed');
    const [slow, fast] = members;
    slow.ws._socket.pause();
    const closed = nextEvent(slow.socket, 'close', 20_000);
    const left = nextEvent(server, 'subscription', 20_000).catch(() => null);
    const message = Buffer.alloc(64 * 1024, 0x62);
    const got = collect(fast.ws, 'message', 100, 20_000);
    for (let i = 0; i < 100; i++) {
      server.publish('feed', message);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await closed;
    assert.equal((await got).length, 100);
    assert.equal(server.subscriberCount('feed'), 1);
    assert.ok(server.publishStats.refused >= 1);
    assert.equal(await Promise.race([left, Promise.resolve('none')]), 'none', 'feed still has a subscriber: no subscription event');
    slow.ws._socket.resume();
  });

  it('under permessage-deflate a publish between compressed sends arrives compressed, in order', async () => {
    const server = await h.startServer({ perMessageDeflate: { threshold: 0 } });
    const connected = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server), { perMessageDeflate: true });
    const [socket] = await connected;
    assert.equal(socket.extensions, 'permessage-deflate');
    socket.subscribe('t');
    const got = collect(ws, 'message', 5);
    const deflates = server.publishStats.deflates;
    socket.send('a'.repeat(3000));
    server.publish('t', 'b'.repeat(3000));
    socket.send('c'.repeat(3000));
    server.publish('t', 'd');
    socket.send('e'.repeat(3000));
    assert.equal(server.publishStats.deflates - deflates, 2); // both publishes (threshold 0)
    assert.deepEqual(texts(await got), ['a', 'b', 'c', 'd', 'e'].map((x) => x.repeat(x === 'd' ? 1 : 3000)));
    // 12,001 B of messages: uncompressed publishes alone would be 3,000 B on the wire.
    assert.ok(ws._socket.bytesRead < 1000, `${ws._socket.bytesRead} B on the wire`);
  });

  it('a 4 MiB publish to 50 subscribers arrives intact everywhere', async () => {
    const server = await h.startServer({ maxPayload: 8 * 1024 * 1024 });
    const members = await group(server, 50);
    for (const { socket } of members) socket.subscribe('big');
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
    const arrivals = members.map(({ ws }) => withTimeout(once(ws, 'message'), 30_000, 'the large message'));
    assert.equal(server.publish('big', payload), 50);
    for (const [data] of await Promise.all(arrivals)) assert.ok(data.equals(payload));
  });
});
