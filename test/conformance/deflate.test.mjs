// permessage-deflate (RFC 7692) against the echo server started with --deflate (threshold 0: every
// echo goes back compressed): what Autobahn's sections 12 and 13 check, with a raw client that
// compresses and inflates with node:zlib. The negotiation matrix through a real handshake, compressed
// echo from 0 B to 16 MiB, context takeover on and off, fragmented compressed messages, a message
// split at every byte, RSV1 misuse, corrupt data, UTF-8 after inflate, and the inflated-size limit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { useServer, expectClose, IS_REFERENCE } from '../helpers/conformance.mjs';
import { MAX_PAYLOAD } from '../helpers/spawn-server.mjs';
import { OP, encodeFrame } from '../helpers/raw-ws.mjs';

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const OFFER = 'permessage-deflate; client_max_window_bits';

/** A zlib stream kept across messages (context takeover), flushed with Z_SYNC_FLUSH per message. */
function stream(make) {
  const z = make();
  const chunks = [];
  z.on('data', (d) => chunks.push(d));
  return (data) => new Promise((resolve, reject) => {
    z.once('error', reject);
    z.write(data);
    z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      z.removeListener('error', reject);
      resolve(Buffer.concat(chunks.splice(0)));
    });
  });
}

/** The client's compressor: a message's payload, the 00 00 ff ff tail removed. */
function clientDeflater(windowBits = 15) {
  const run = stream(() => zlib.createDeflateRaw({ windowBits }));
  return async (data) => {
    const out = await run(Buffer.from(data));
    return out.length >= 4 && out.subarray(-4).equals(TAIL) ? out.subarray(0, -4) : out;
  };
}

/** The client's decompressor for what the server sent (the tail appended back). */
function clientInflater(windowBits = 15) {
  const run = stream(() => zlib.createInflateRaw({ windowBits }));
  return (payload) => run(Buffer.concat([payload, TAIL]));
}

// A compressible text of `n` bytes, JSON chat messages with varied words (deterministic).
const WORDS = ['hello', 'there', 'how', 'are', 'you', 'today', 'fine', 'thanks', 'see', 'later', 'lunch', 'at', 'noon', 'ok'];
function text(n) {
  let seed = 12345;
  let out = '';
  while (out.length < n) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const words = [];
    for (let i = 0; i < 6; i++) words.push(WORDS[(seed >> (i * 4)) % WORDS.length]);
    out += `{"user":"u${seed % 1000}","text":"${words.join(' ')}","ts":${seed}},`;
  }
  return out.slice(0, n);
}

describe('permessage-deflate', { timeout: 240_000, skip: IS_REFERENCE && 'the ws reference server has no --deflate' }, () => {
  const srv = useServer({ args: ['--deflate'] });

  async function open(offer = OFFER) {
    const c = await srv.open({ headers: offer === null ? {} : { 'Sec-WebSocket-Extensions': offer } });
    c.extensions = c.head.headers['sec-websocket-extensions'];
    return c;
  }

  // Sends `data` compressed, reads the echo, checks it is compressed and inflates to `data`.
  async function echoCompressed(c, deflate, inflate, data, { binary = false } = {}) {
    const payload = await deflate(data);
    c.sendFrame({ opcode: binary ? OP.BINARY : OP.TEXT, payload, rsv1: true });
    const first = await c.nextFrame(30_000);
    const frames = [first];
    while (!frames.at(-1).fin) frames.push(await c.nextFrame(30_000));
    assert.equal(first.opcode, binary ? OP.BINARY : OP.TEXT);
    assert.equal(first.rsv, 4, 'the echo has RSV1 set');
    const wire = Buffer.concat(frames.map((f) => f.payload));
    const echoed = await inflate(wire);
    assert.ok(echoed.equals(Buffer.from(data)), `echo of ${Buffer.byteLength(data)} bytes differs`);
    return wire.length;
  }

  describe('negotiation through the handshake', () => {
    it('answers a browser offer, and reports nothing when none is made', async () => {
      assert.equal((await open()).extensions, 'permessage-deflate');
      assert.equal((await open(null)).extensions, undefined);
      assert.equal((await open('x-webkit-deflate-frame')).extensions, undefined);
    });

    for (let bits = 9; bits <= 15; bits++) {
      it(`server_max_window_bits=${bits} and client_max_window_bits=${bits}: echoed, and used`, async () => {
        const c = await open(`permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`);
        assert.equal(c.extensions, `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits=${bits}`);
        // 100 KiB of low-redundancy text: back-references reach as far as the window allows.
        await echoCompressed(c, clientDeflater(bits), clientInflater(bits), text(100_000));
      });
    }

    it('declines server_max_window_bits=8 (zlib cannot honour it): 101 without the extension', async () => {
      assert.equal((await open('permessage-deflate; server_max_window_bits=8')).extensions, undefined);
      // ...and takes the next acceptable offer.
      const c = await open('permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9');
      assert.equal(c.extensions, 'permessage-deflate; server_max_window_bits=9');
    });

    it('both no-context-takeover flags are echoed', async () => {
      const c = await open('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      assert.equal(c.extensions, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    });

    for (const offer of [
      'permessage-deflate; server_max_window_bits', 'permessage-deflate; client_max_window_bits=16',
      'permessage-deflate; foo', 'permessage-deflate; server_no_context_takeover=yes',
      'permessage-deflate; client_max_window_bits; client_max_window_bits', 'permessage-deflate;',
    ]) {
      it(`declines a malformed offer (101 without the extension): ${offer}`, async () => {
        const c = await open(offer);
        assert.equal(c.extensions, undefined);
        c.send('still fine');
        assert.equal((await c.nextMessage()).data.toString(), 'still fine');
      });
    }

    it('several offers: the first acceptable one is taken', async () => {
      const c = await open('permessage-deflate; bogus, permessage-deflate; client_no_context_takeover, permessage-deflate');
      assert.equal(c.extensions, 'permessage-deflate; client_no_context_takeover');
    });
  });

  describe('compressed echo', () => {
    const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
    for (const binary of [false, true]) {
      it(`${binary ? 'binary' : 'text'} from 0 B to 16 MiB, on one connection (context takeover)`, async () => {
        const c = await open();
        const deflate = clientDeflater();
        const inflate = clientInflater();
        for (const n of sizes) await echoCompressed(c, deflate, inflate, binary ? Buffer.from(text(n)) : text(n), { binary });
      });
    }

    it('frames really are compressed on the wire: RSV1 set and far fewer bytes', async () => {
      const c = await open();
      const message = text(64 * 1024);
      const wireBytes = await echoCompressed(c, clientDeflater(), clientInflater(), message);
      assert.ok(wireBytes * 3 < message.length, `${wireBytes} bytes on the wire for ${message.length}`);
      // Without the extension the same echo is the full size, RSV1 clear.
      const plain = await open(null);
      plain.send(message);
      const f = await plain.nextFrame();
      assert.equal(f.rsv, 0);
      assert.equal(f.payload.length, message.length);
    });

    it('an uncompressed message on a negotiated connection is echoed compressed', async () => {
      const c = await open();
      c.send('plain text in, compressed out');
      const f = await c.nextFrame();
      assert.equal(f.rsv, 4);
      assert.equal((await clientInflater()(f.payload)).toString(), 'plain text in, compressed out');
    });
  });

  describe('context takeover', () => {
    it('on (the default): a repeated message costs a few bytes', async () => {
      const c = await open();
      const deflate = clientDeflater();
      const inflate = clientInflater();
      const message = text(4000);
      const first = await echoCompressed(c, deflate, inflate, message);
      const second = await echoCompressed(c, deflate, inflate, message);
      assert.ok(second < first / 4, `second echo ${second} B, first ${first} B`);
    });

    it('off (server_no_context_takeover, client_no_context_takeover): every message stands alone', async () => {
      const c = await open('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
      const message = text(4000);
      const sizes = [];
      for (let i = 0; i < 3; i++) {
        // A fresh compressor and decompressor each time: nothing may refer to an earlier message.
        sizes.push(await echoCompressed(c, clientDeflater(), clientInflater(), message));
      }
      assert.equal(new Set(sizes).size, 1, `sizes ${sizes}`);
    });
  });

  describe('framing', () => {
    it('a compressed message in several fragments (RSV1 on the first only)', async () => {
      const c = await open();
      const message = text(30_000);
      const payload = await clientDeflater()(message);
      const cuts = [0, 1, Math.floor(payload.length / 2), payload.length];
      const frames = [];
      for (let i = 0; i + 1 < cuts.length; i++) {
        frames.push(encodeFrame({ opcode: i === 0 ? OP.TEXT : OP.CONT, rsv1: i === 0, fin: i + 2 === cuts.length, payload: payload.subarray(cuts[i], cuts[i + 1]) }));
      }
      // An empty final fragment too, and a ping in between.
      c.write(Buffer.concat([frames[0], frames[1], encodeFrame({ opcode: OP.PING, payload: 'p' }), frames[2]]));
      const controls = [];
      const m = await c.nextMessage(10_000, controls);
      assert.equal(controls[0]?.opcode, OP.PONG);
      assert.equal((await clientInflater()(m.data)).toString(), message);
    });

    it('a small compressed message split at every byte', async () => {
      const c = await open();
      const deflate = clientDeflater();
      const inflate = clientInflater();
      const message = 'split me anywhere, split me anywhere';
      for (let cut = 1; ; cut++) {
        const bytes = encodeFrame({ opcode: OP.TEXT, rsv1: true, payload: await deflate(message) });
        if (cut >= bytes.length) break;
        c.write(bytes.subarray(0, cut));
        await new Promise((resolve) => setTimeout(resolve, 1)); // a separate TCP segment
        c.write(bytes.subarray(cut));
        const f = await c.nextFrame();
        assert.equal((await inflate(f.payload)).toString(), message, `cut at ${cut}`);
      }
    });
  });

  describe('hostile input', () => {
    it('RSV1 on a continuation frame: 1002', async () => {
      const c = await open();
      c.write(Buffer.concat([
        encodeFrame({ opcode: OP.TEXT, fin: false, rsv1: true, payload: await clientDeflater()('abc') }),
        encodeFrame({ opcode: OP.CONT, rsv1: true, payload: 'x' }),
      ]));
      await expectClose(c, 1002);
    });

    it('RSV1 on a control frame: 1002', async () => {
      const c = await open();
      c.sendFrame({ opcode: OP.PING, rsv1: true, payload: 'p' });
      await expectClose(c, 1002);
    });

    it('RSV1 when the extension was not negotiated: 1002', async () => {
      const c = await open(null);
      c.sendFrame({ opcode: OP.TEXT, rsv1: true, payload: zlib.deflateRawSync('abc') });
      await expectClose(c, 1002);
    });

    it('corrupt compressed data: 1007', async () => {
      const c = await open();
      c.sendFrame({ opcode: OP.BINARY, rsv1: true, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]) });
      await expectClose(c, 1007);
    });

    it('invalid UTF-8 once inflated: 1007; valid UTF-8 cut across fragments is fine', async () => {
      const good = await open();
      const deflate = clientDeflater();
      const payload = await deflate('€uro ünïcödé 👍');
      good.write(Buffer.concat([
        encodeFrame({ opcode: OP.TEXT, fin: false, rsv1: true, payload: payload.subarray(0, 3) }),
        encodeFrame({ opcode: OP.CONT, payload: payload.subarray(3) }),
      ]));
      assert.equal((await clientInflater()((await good.nextMessage()).data)).toString(), '€uro ünïcödé 👍');

      const bad = await open();
      bad.sendFrame({ opcode: OP.TEXT, rsv1: true, payload: zlib.deflateRawSync(Buffer.from([0x61, 0xc3, 0x28])) });
      await expectClose(bad, 1007);
    });

    it('an inflated size over maxPayload: 1009, from a small compressed frame', async () => {
      const c = await open();
      const bomb = zlib.deflateRawSync(Buffer.alloc(MAX_PAYLOAD + 1));
      assert.ok(bomb.length < 64 * 1024);
      c.sendFrame({ opcode: OP.BINARY, rsv1: true, payload: bomb });
      await expectClose(c, 1009, { ms: 10_000 });
      // Exactly maxPayload is accepted.
      const ok = await open();
      ok.sendFrame({ opcode: OP.BINARY, rsv1: true, payload: zlib.deflateRawSync(Buffer.alloc(MAX_PAYLOAD)) });
      const f = await ok.nextMessage(30_000);
      assert.equal((await clientInflater()(f.data)).length, MAX_PAYLOAD);
    });
  });
});
