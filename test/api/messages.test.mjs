// Incoming messages: types, buffer ownership, binaryType, large messages, maxPayload.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketError } from '../../dist/index.mjs';
import { createHarness, nextEvent, nextMessage, collect, delay, pattern } from '../helpers/api-harness.mjs';

const h = createHarness();

// No 'error' listener here: the maxPayload test listens for the error itself.
const pair = (options) => h.pair(options, { silenceErrors: false });

describe('api: messages', { timeout: 120_000 }, () => {
  afterEach(() => h.cleanup());

  it('text arrives as a Buffer with isBinary false; binary with isBinary true', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    const got = collect(socket, 'message', 3);
    ws.send('héllo 𝄞');
    ws.send(Buffer.from([0, 1, 2, 255]));
    ws.send(Buffer.alloc(0), { binary: false });
    const [[text, textBinary], [bin, binBinary], [empty, emptyBinary]] = await got;
    assert.ok(Buffer.isBuffer(text));
    assert.equal(textBinary, false);
    assert.equal(text.toString('utf8'), 'héllo 𝄞');
    assert.ok(Buffer.isBuffer(bin));
    assert.equal(binBinary, true);
    assert.deepEqual([...bin], [0, 1, 2, 255]);
    assert.ok(Buffer.isBuffer(empty));
    assert.equal(empty.length, 0);
    assert.equal(emptyBinary, false);
  });

  it('a message Buffer keeps its content across await and across later messages', { timeout: 15_000 }, async () => {
    const { ws, socket } = await pair();
    const kept = [];
    socket.on('message', (data) => kept.push(data));
    const N = 50;
    const sent = Array.from({ length: N }, (_, i) => pattern(10 + i * 37, i + 1));
    for (const p of sent) ws.send(p);
    // Wait for all of them, then a pause, then many more messages through the same connection.
    while (kept.length < N) await delay(5);
    const snapshot = kept.slice();
    await new Promise((r) => setTimeout(r, 50));
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < N; i++) ws.send(pattern(10 + i * 37, 1000 + round * N + i));
    }
    while (kept.length < N * 6) await delay(5);
    await new Promise((r) => setTimeout(r, 50));
    snapshot.forEach((buf, i) => assert.ok(buf.equals(sent[i]), `message ${i} changed after later messages`));
    // And a message handed out inside an async listener survives the await too.
    const later = new Promise((resolve) => {
      socket.once('message', async (data) => {
        const copy = Buffer.from(data);
        await new Promise((r) => setTimeout(r, 50));
        resolve([copy, data]);
      });
    });
    ws.send(pattern(4096, 7));
    for (let i = 0; i < 20; i++) ws.send(pattern(4096, 100 + i));
    const [copy, data] = await later;
    assert.ok(data.equals(copy), 'the Buffer changed while the listener awaited');
    assert.ok(data.equals(pattern(4096, 7)));
  });

  it("binaryType 'arraybuffer' hands out ArrayBuffers with the right bytes", { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair();
    socket.binaryType = 'arraybuffer';
    const got = collect(socket, 'message', 2);
    const p = pattern(1000, 3);
    ws.send(p);
    ws.send('text too');
    const [[bin, isBinary], [text, textBinary]] = await got;
    assert.ok(bin instanceof ArrayBuffer, `got ${Object.prototype.toString.call(bin)}`);
    assert.equal(isBinary, true);
    assert.equal(bin.byteLength, 1000);
    assert.ok(Buffer.from(bin).equals(p));
    // ws 8: binaryType applies to binary messages; text arrives as a Buffer.
    assert.ok(Buffer.isBuffer(text));
    assert.equal(textBinary, false);
    assert.equal(text.toString(), 'text too');
  });

  for (const size of [1024 * 1024, 16 * 1024 * 1024]) {
    it(`${size / 1024 / 1024} MiB binary and text round trips`, { timeout: 60_000 }, async () => {
      const { ws, socket } = await pair({ maxPayload: 32 * 1024 * 1024 });
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
      const p = pattern(size, size & 0xffff);
      ws.send(p);
      const bin = await nextMessage(ws, 45_000);
      assert.equal(bin.isBinary, true);
      assert.equal(bin.data.length, size);
      assert.ok(bin.data.equals(p), 'binary echo differs');
      const text = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(size / 36)).slice(0, size);
      ws.send(text);
      const t = await nextMessage(ws, 45_000);
      assert.equal(t.isBinary, false);
      assert.equal(t.data.length, size);
      assert.ok(t.data.toString() === text, 'text echo differs');
    });
  }

  it('a message over maxPayload: client sees 1009; server error WS_ERR_UNSUPPORTED_MESSAGE_LENGTH then close 1006', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair({ maxPayload: 1024 });
    const events = [];
    let error;
    socket.on('message', (d) => events.push(`message ${d.length}`));
    socket.on('error', (e) => { error = e; events.push('error'); });
    const serverClose = new Promise((resolve) => socket.on('close', (code, reason) => { events.push('close'); resolve([code, reason]); }));
    const clientClose = nextEvent(ws, 'close');
    ws.send(pattern(1024, 1)); // exactly the limit: delivered
    ws.send(pattern(2048, 2));
    const [code] = await clientClose;
    assert.equal(code, 1009);
    const [serverCode] = await serverClose;
    assert.deepEqual(events, ['message 1024', 'error', 'close']);
    assert.ok(error instanceof WebSocketError, `error is ${error?.constructor?.name}`);
    assert.ok(error instanceof Error);
    assert.equal(error.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    assert.equal(error.closeCode, 1009);
    assert.equal(serverCode, 1006);
  });

  it('maxPayload applies to the whole fragmented message', { timeout: 10_000 }, async () => {
    const { ws, socket } = await pair({ maxPayload: 1000 });
    let error;
    socket.on('error', (e) => { error = e; });
    const messages = [];
    socket.on('message', (d) => messages.push(d));
    const clientClose = nextEvent(ws, 'close');
    ws.send(pattern(600, 1), { fin: false });
    ws.send(pattern(600, 2), { fin: true });
    const [code] = await clientClose;
    assert.equal(code, 1009);
    await delay(20);
    assert.equal(messages.length, 0);
    assert.equal(error?.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  });
});
