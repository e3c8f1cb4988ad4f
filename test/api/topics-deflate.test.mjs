// Topics under permessage-deflate, through real `ws` clients that negotiate it and a raw socket
// that reads the frames on the wire: a publish is deflated once per window size for subscribers
// without server context takeover (perMessageDeflate.serverNoContextTakeover on the server or the
// client's offer), by each subscriber's own stream with context takeover, never for subscribers
// without the extension, under the threshold or with compress: false; order with sends is kept.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { inflateRawSync, constants as zlib } from 'node:zlib';
import { createHarness, collect, nextEvent } from '../helpers/api-harness.mjs';
import { RawClient, OP } from '../helpers/raw-ws.mjs';

const h = createHarness();
const texts = (events) => events.map(([d]) => d.toString());

// A JSON chat line of about `size` bytes (compressible, like a real feed).
function chat(seq, size = 2048) {
  let text = '';
  for (let i = 0; text.length < size; i++) text += JSON.stringify({ user: `user${i % 7}`, room: 'lobby', seq, text: 'hello there' }) + '\n';
  return text.slice(0, size);
}

async function group(server, n, clientOptions) {
  const members = [];
  for (let i = 0; i < n; i++) {
    const connected = nextEvent(server, 'connection');
    const ws = await h.connect(h.url(server), clientOptions);
    const [socket] = await connected;
    members.push({ ws, socket });
  }
  return members;
}

const bytesRead = (ws) => ws._socket.bytesRead;

describe('api: topics under permessage-deflate', { timeout: 120_000 }, () => {
  afterEach(() => h.cleanup());

  it('subscribers that asked for server_no_context_takeover share one deflate per publish', async () => {
    const server = await h.startServer({ perMessageDeflate: true });
    const n = 20;
    const members = await group(server, n, { perMessageDeflate: { serverNoContextTakeover: true } });
    for (const { ws, socket } of members) {
      assert.equal(ws.extensions, 'permessage-deflate'); // ws reports the names only
      assert.equal(ws._extensions['permessage-deflate'].params.server_no_context_takeover, true);
      socket.subscribe('room');
    }
    const messages = Array.from({ length: 30 }, (_, i) => chat(i));
    const arrivals = members.map(({ ws }) => collect(ws, 'message', messages.length, 20_000));
    const before = server.publishStats.deflates;
    for (const m of messages) assert.equal(server.publish('room', m), n);
    assert.equal(server.publishStats.deflates - before, messages.length, 'one deflate per publish, not per subscriber');
    const sent = messages.reduce((sum, m) => sum + m.length, 0);
    for (const [i, got] of (await Promise.all(arrivals)).entries()) {
      assert.deepEqual(texts(got), messages);
      assert.ok(bytesRead(members[i].ws) < sent / 3, `subscriber ${i} read ${bytesRead(members[i].ws)} B for ${sent} B of messages`);
    }
  });

  it('perMessageDeflate.serverNoContextTakeover makes every publish compress once for clients that offered plain permessage-deflate', async () => {
    const server = await h.startServer({ perMessageDeflate: { serverNoContextTakeover: true, threshold: 0 } });
    const members = await group(server, 10, { perMessageDeflate: true });
    for (const { socket } of members) socket.subscribe('t');
    for (const { ws } of members) assert.equal(ws._extensions['permessage-deflate'].params.server_no_context_takeover, true);
    const arrivals = members.map(({ ws }) => collect(ws, 'message', 5, 20_000));
    const before = server.publishStats.deflates;
    for (let i = 0; i < 5; i++) server.publish('t', chat(i, 600));
    assert.equal(server.publishStats.deflates - before, 5);
    for (const got of await Promise.all(arrivals)) assert.deepEqual(texts(got), [0, 1, 2, 3, 4].map((i) => chat(i, 600)));
  });

  it('with context takeover each subscriber compresses with its own stream, in order with its compressed sends', async () => {
    const server = await h.startServer({ perMessageDeflate: { threshold: 0 } });
    const members = await group(server, 4, { perMessageDeflate: true });
    for (const { ws, socket } of members) {
      assert.equal(ws._extensions['permessage-deflate'].params.server_no_context_takeover, undefined);
      socket.subscribe('t');
    }
    const [first] = members;
    const arrivals = members.map(({ ws }, i) => collect(ws, 'message', i === 0 ? 10 : 5, 20_000));
    const expectFirst = [];
    const before = server.publishStats.deflates;
    for (let i = 0; i < 5; i++) {
      first.socket.send(`send ${i} ${chat(i, 1500)}`);
      expectFirst.push(`send ${i} ${chat(i, 1500)}`);
      server.publish('t', chat(i));
      expectFirst.push(chat(i));
    }
    assert.equal(server.publishStats.deflates - before, 5 * members.length);
    const got = await Promise.all(arrivals);
    assert.deepEqual(texts(got[0]), expectFirst);
    for (const other of got.slice(1)) assert.deepEqual(texts(other), [0, 1, 2, 3, 4].map((i) => chat(i)));
    assert.ok(bytesRead(members[1].ws) < 5 * 2048 / 3);
  });

  it('subscribers without the extension, messages under the threshold and compress: false get the plain frame', async () => {
    const server = await h.startServer({ perMessageDeflate: { serverNoContextTakeover: true } }); // threshold 1024
    const [plain] = await group(server, 1, { perMessageDeflate: false });
    const [compressed] = await group(server, 1, { perMessageDeflate: true });
    assert.equal(plain.socket.extensions, '');
    plain.socket.subscribe('t');
    compressed.socket.subscribe('t');
    const gotPlain = collect(plain.ws, 'message', 3);
    const gotCompressed = collect(compressed.ws, 'message', 3);
    const before = server.publishStats.deflates;
    const [plainBefore, compressedBefore] = [bytesRead(plain.ws), bytesRead(compressed.ws)]; // the 101s
    server.publish('t', 'x'.repeat(1023));
    server.publish('t', 'y'.repeat(5000), { compress: false });
    server.publish('t', Buffer.from('z'.repeat(5000)), { compress: true });
    assert.equal(server.publishStats.deflates - before, 1);
    const expected = ['x'.repeat(1023), 'y'.repeat(5000), 'z'.repeat(5000)];
    assert.deepEqual(texts(await gotPlain), expected);
    assert.deepEqual(texts(await gotCompressed), expected);
    assert.ok(bytesRead(plain.ws) - plainBefore >= 11_023);
    const compressedBytes = bytesRead(compressed.ws) - compressedBefore;
    assert.ok(compressedBytes > 6023 && compressedBytes < 6023 + 100, `${compressedBytes} B: only the last one compressed`);
  });

  it('a subscriber with a fragmented send in progress is refused and counted; the others get the compressed frame', async () => {
    const server = await h.startServer({ perMessageDeflate: { threshold: 0 } });
    const [a, b] = await group(server, 2, { perMessageDeflate: true });
    a.socket.subscribe('t');
    b.socket.subscribe('t');
    const gotA = collect(a.ws, 'message', 2);
    const gotB = collect(b.ws, 'message', 2);
    const refused = server.publishStats.refused;
    a.socket.send('part one ', { fin: false });
    assert.equal(server.publish('t', chat(1)), 1);
    assert.equal(server.publishStats.refused - refused, 1);
    a.socket.send('part two', { fin: true });
    assert.equal(server.publish('t', chat(2)), 2);
    assert.deepEqual(texts(await gotA), ['part one part two', chat(2)]);
    assert.deepEqual(texts(await gotB), [chat(1), chat(2)]);
  });

  it('on the wire: the published frame has RSV1, fewer bytes, and inflates to the message', async () => {
    const server = await h.startServer({ perMessageDeflate: true });
    const port = server.addresses()[0].port;
    const connected = nextEvent(server, 'connection');
    const raw = await RawClient.open({ port, headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_no_context_takeover' } });
    try {
      assert.equal(raw.head.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover');
      const [socket] = await connected;
      socket.subscribe('wire');
      const message = chat(7, 4000);
      for (let i = 0; i < 2; i++) {
        assert.equal(server.publish('wire', message), 1);
        const frame = await raw.nextFrame();
        assert.equal(frame.fin, true);
        assert.equal(frame.rsv, 4, 'RSV1');
        assert.equal(frame.opcode, OP.TEXT);
        assert.ok(frame.payload.length < message.length / 4, `${frame.payload.length} B for ${message.length} B`);
        const inflated = inflateRawSync(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.Z_SYNC_FLUSH });
        assert.equal(inflated.toString(), message);
      }
    } finally {
      raw.destroy();
    }
  });
});
