// Outgoing messages: sends from every kind of JS context get flushed, in order; return values,
// callbacks, fragments; ping/pong.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, nextEvent, nextMessage, collect, delay, pattern, withTimeout } from '../helpers/api-harness.mjs';

const h = createHarness();

const pair = (options) => h.pair(options);

const texts = (events) => events.map(([d]) => d.toString());

describe('api: send', { timeout: 120_000 }, () => {
  afterEach(() => h.cleanup());

  it('sends from a message listener, nextTick, a promise job, setTimeout and setImmediate arrive in order', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    socket.on('message', async () => {
      socket.send('sync');
      await new Promise((r) => process.nextTick(r));
      socket.send('nextTick');
      await Promise.resolve();
      socket.send('promise');
      await new Promise((r) => setTimeout(r, 10));
      socket.send('setTimeout');
      await new Promise((r) => setImmediate(r));
      socket.send('setImmediate');
      await Promise.resolve();
      socket.send('promise after immediate');
      process.nextTick(() => socket.send('nextTick after immediate'));
    });
    const got = collect(ws, 'message', 7);
    ws.send('go');
    // No further client traffic: every one of these must be flushed on its own.
    assert.deepEqual(texts(await got), [
      'sync', 'nextTick', 'promise', 'setTimeout', 'setImmediate', 'promise after immediate', 'nextTick after immediate',
    ]);
  });

  it('sends made outside any event (from timers, ticks and immediates) are flushed without client traffic', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const got = collect(ws, 'message', 4, 3000);
    setTimeout(() => {
      socket.send('timer');
      process.nextTick(() => socket.send('tick from timer'));
      Promise.resolve().then(() => socket.send('promise from timer'));
      setImmediate(() => socket.send('immediate from timer'));
    }, 20);
    assert.deepEqual(texts(await got), ['timer', 'tick from timer', 'promise from timer', 'immediate from timer']);
  });

  it('a lone send from setImmediate and one from a resolved promise each arrive', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    let m = nextMessage(ws, 2000);
    setImmediate(() => socket.send('only immediate'));
    assert.equal((await m).data.toString(), 'only immediate');
    m = nextMessage(ws, 2000);
    await Promise.resolve();
    socket.send('only promise');
    assert.equal((await m).data.toString(), 'only promise');
    m = nextMessage(ws, 2000);
    process.nextTick(() => socket.send('only tick'));
    assert.equal((await m).data.toString(), 'only tick');
  });

  it('1000 sends in one loop arrive complete and in order', { timeout: 15_000 }, async () => {
    const { ws, socket } = await pair();
    const got = collect(ws, 'message', 1000, 10_000);
    for (let i = 0; i < 1000; i++) assert.equal(socket.send(`m${i}`), true);
    const list = texts(await got);
    assert.deepEqual(list, Array.from({ length: 1000 }, (_, i) => `m${i}`));
  });

  it('1000 sends of 64 KiB from a timer arrive complete and in order (backpressure path)', { timeout: 30_000 }, async () => {
    const { ws, socket } = await pair();
    const got = collect(ws, 'message', 1000, 25_000);
    setTimeout(() => {
      for (let i = 0; i < 1000; i++) {
        const b = Buffer.alloc(64 * 1024, i & 0xff);
        b.writeUInt32BE(i, 0);
        socket.send(b);
      }
    }, 0);
    const list = await got;
    list.forEach(([d, isBinary], i) => {
      assert.equal(isBinary, true);
      assert.equal(d.length, 64 * 1024);
      assert.equal(d.readUInt32BE(0), i, `message ${i} out of order`);
      assert.equal(d[d.length - 1], i & 0xff);
    });
  });

  it('send returns true when open and calls the callback without an error', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const m = nextMessage(ws);
    const cbArgs = await withTimeout(new Promise((resolve) => {
      const ret = socket.send('with cb', (...args) => resolve(args));
      assert.equal(ret, true);
    }), 5000, 'send callback');
    assert.ok(cbArgs.length === 0 || cbArgs[0] == null, `callback got ${cbArgs[0]}`);
    assert.equal((await m).data.toString(), 'with cb');
    const cb2 = await withTimeout(new Promise((resolve) => {
      assert.equal(socket.send(Buffer.from('opts'), { binary: true }, (e) => resolve(e)), true);
    }), 5000, 'send callback with options');
    assert.equal(cb2, undefined);
  });

  it('send after close returns false, never throws, and passes an Error to the callback', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const serverClose = nextEvent(socket, 'close');
    socket.close(1000);
    // CLOSING
    let err = await withTimeout(new Promise((resolve) => {
      assert.equal(socket.send('late', (e) => resolve(e)), false);
    }), 5000, 'callback while closing');
    assert.ok(err instanceof Error);
    await serverClose;
    // CLOSED
    err = await withTimeout(new Promise((resolve) => {
      assert.equal(socket.send('later', (e) => resolve(e)), false);
    }), 5000, 'callback when closed');
    assert.ok(err instanceof Error);
    assert.doesNotThrow(() => socket.send('no cb'));
    assert.equal(socket.send(Buffer.alloc(10)), false);
    assert.equal(socket.ping(), false);
    assert.equal(socket.pong(), false);
    void ws;
  });

  it('send after the client went away returns false', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const serverClose = nextEvent(socket, 'close');
    ws.terminate();
    await serverClose;
    assert.equal(socket.send('gone'), false);
  });

  it('send accepts strings, Buffers, typed arrays, DataViews and ArrayBuffers', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const got = collect(ws, 'message', 6);
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    socket.send('str');
    socket.send(Buffer.from([9, 8]));
    socket.send(bytes.subarray(2, 6));
    socket.send(new DataView(bytes.buffer, 1, 3));
    socket.send(bytes.buffer.slice(0, 2));
    socket.send('as binary', { binary: true });
    const list = await got;
    assert.deepEqual(list.map(([, b]) => b), [false, true, true, true, true, true]);
    assert.deepEqual(list.map(([d]) => [...d]), [
      [...Buffer.from('str')], [9, 8], [3, 4, 5, 6], [2, 3, 4], [1, 2], [...Buffer.from('as binary')],
    ]);
    assert.throws(() => socket.send({}), TypeError);
  });

  it('a fragmented send ({ fin: false } then { fin: true }) arrives as one message', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const got = collect(ws, 'message', 3);
    socket.send('hel', { fin: false });
    socket.send('lo ', { fin: false });
    socket.send('world', { fin: true });
    socket.send(Buffer.from([1, 2]), { fin: false });
    socket.send(Buffer.from([3]), { fin: true });
    socket.send('after');
    const list = await got;
    assert.equal(list[0][0].toString(), 'hello world');
    assert.equal(list[0][1], false);
    assert.deepEqual([...list[1][0]], [1, 2, 3]);
    assert.equal(list[1][1], true);
    assert.equal(list[2][0].toString(), 'after');
  });

  it("a slow reader: bufferedAmount grows, then 'drain' fires and it returns to 0", { timeout: 20_000 }, async () => {
    const { ws, socket } = await pair();
    ws._socket.pause(); // the client stops reading; the kernel buffers fill up
    const chunk = pattern(256 * 1024, 9);
    let sent = 0;
    // Bounded: 64 MiB at most; stop as soon as the server reports queued bytes.
    for (let round = 0; round < 64 && socket.bufferedAmount === 0; round++) {
      for (let i = 0; i < 4; i++) { socket.send(chunk); sent++; }
      await delay(10);
    }
    const queued = socket.bufferedAmount;
    assert.ok(queued > 0, `bufferedAmount stayed 0 after ${sent} sends of 256 KiB to a paused reader`);
    const drain = nextEvent(socket, 'drain', 15_000);
    let received = 0;
    ws.on('message', () => { received++; });
    ws._socket.resume();
    await drain;
    assert.equal(socket.bufferedAmount, 0);
    await withTimeout((async () => { while (received < sent) await delay(10); })(), 15_000, `${sent} messages`);
    assert.equal(received, sent);
  });

  it('bufferedAmount is a number and drops to 0 once flushed', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const got = nextMessage(ws);
    socket.send(pattern(1000, 4));
    assert.equal(typeof socket.bufferedAmount, 'number');
    await got;
    await delay(20);
    assert.equal(socket.bufferedAmount, 0);
  });
});

describe('api: ping and pong', { timeout: 60_000 }, () => {
  afterEach(() => h.cleanup());

  it("server ping: client gets it with the payload, auto-pongs, server gets 'pong' with the payload", { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const clientPing = nextEvent(ws, 'ping');
    const serverPong = nextEvent(socket, 'pong');
    assert.equal(socket.ping('are you there'), true);
    const [pingData] = await clientPing;
    assert.equal(pingData.toString(), 'are you there');
    const [pongData] = await serverPong;
    assert.ok(Buffer.isBuffer(pongData));
    assert.equal(pongData.toString(), 'are you there');
  });

  it("client ping: server gets 'ping', client gets the pong", { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const serverPing = nextEvent(socket, 'ping');
    const clientPong = nextEvent(ws, 'pong');
    ws.ping(Buffer.from([1, 2, 3]));
    const [pingData] = await serverPing;
    assert.ok(Buffer.isBuffer(pingData));
    assert.deepEqual([...pingData], [1, 2, 3]);
    const [pongData] = await clientPong;
    assert.deepEqual([...pongData], [1, 2, 3]);
  });

  it("an unsolicited server pong reaches the client; an empty ping works", { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const clientPong = nextEvent(ws, 'pong');
    socket.pong('unsolicited');
    assert.equal((await clientPong)[0].toString(), 'unsolicited');
    const clientPing = nextEvent(ws, 'ping');
    socket.ping();
    assert.equal((await clientPing)[0].length, 0);
  });

  it('control payloads over 125 bytes throw RangeError; 125 is fine', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    assert.throws(() => socket.ping(Buffer.alloc(126)), RangeError);
    assert.throws(() => socket.pong('x'.repeat(126)), RangeError);
    const clientPing = nextEvent(ws, 'ping');
    assert.equal(socket.ping(Buffer.alloc(125, 7)), true);
    const [data] = await clientPing;
    assert.equal(data.length, 125);
  });

  it('ping callback is called', { timeout: 10_000 }, async () => {
    const { socket } = await pair();
    const err = await withTimeout(new Promise((resolve) => socket.ping('cb', undefined, resolve)), 5000, 'ping callback');
    assert.equal(err, undefined);
  });
});
