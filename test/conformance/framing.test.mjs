// Autobahn section 1 style: echo of text and binary messages at every length boundary,
// 7/16/64-bit length encodings, frames split one byte per write, many frames in one write.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, echoOnce } from '../helpers/conformance.mjs';
import { OP, encodeFrame, encodeLarge, patternBytes } from '../helpers/raw-ws.mjs';

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024];

function textOf(n) {
  // ASCII printable pattern, so any byte error shows.
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 0x21 + ((i * 7) % 94);
  return b;
}

describe('framing', { timeout: 120_000 }, () => {
  const srv = useServer();

  for (const n of SIZES) {
    it(`echoes a ${n}-byte text message`, { timeout: 20_000 }, async () => {
      const c = await srv.open();
      const payload = textOf(n);
      c.write(n > 65536 ? encodeLarge({ opcode: OP.TEXT, payload }) : encodeFrame({ opcode: OP.TEXT, payload }));
      const m = await c.nextMessage(15_000);
      assert.equal(m.opcode, OP.TEXT);
      assert.equal(m.data.length, n);
      assert.ok(m.data.equals(payload), 'payload differs');
    });
    it(`echoes a ${n}-byte binary message`, { timeout: 20_000 }, async () => {
      const c = await srv.open();
      const payload = patternBytes(n, n + 1);
      c.write(n > 65536 ? encodeLarge({ payload }) : encodeFrame({ opcode: OP.BINARY, payload }));
      const m = await c.nextMessage(15_000);
      assert.equal(m.opcode, OP.BINARY);
      assert.equal(m.data.length, n);
      assert.ok(m.data.equals(payload), 'payload differs');
    });
  }

  it('uses the minimal length encoding in replies (7, 16 and 64-bit)', { timeout: 20_000 }, async () => {
    const c = await srv.open();
    for (const n of [125, 126, 65535, 65536]) {
      const payload = patternBytes(n, 3);
      c.sendFrame({ opcode: OP.BINARY, payload });
      const f = await c.nextFrame(10_000);
      assert.equal(f.opcode, OP.BINARY);
      assert.ok(f.fin);
      assert.equal(f.masked, false, 'server frames must not be masked');
      assert.equal(f.rsv, 0);
      assert.ok(f.payload.equals(payload));
    }
  });

  it('echoes a message whose frame arrives one byte per write', { timeout: 30_000 }, async () => {
    const c = await srv.open();
    const small = encodeFrame({ opcode: OP.TEXT, payload: 'Hello, one byte at a time' });
    const mid = encodeFrame({ opcode: OP.BINARY, payload: patternBytes(300, 9) });
    await c.writeChopped(Buffer.concat([small, mid]), 1);
    const a = await c.nextMessage(10_000);
    assert.equal(a.data.toString(), 'Hello, one byte at a time');
    const b = await c.nextMessage(10_000);
    assert.ok(b.data.equals(patternBytes(300, 9)));
  });

  it('echoes a 64-bit-length frame split into 7-byte writes', { timeout: 30_000 }, async () => {
    const c = await srv.open();
    const payload = patternBytes(70_000, 11);
    await c.writeChopped(encodeFrame({ opcode: OP.BINARY, payload }), 7, 64);
    const m = await c.nextMessage(15_000);
    assert.ok(m.data.equals(payload));
  });

  it('echoes 200 frames written in one write, in order', { timeout: 20_000 }, async () => {
    const c = await srv.open();
    const msgs = [];
    for (let i = 0; i < 200; i++) msgs.push(patternBytes((i * 37) % 300, i));
    c.write(Buffer.concat(msgs.map((p, i) => encodeFrame({ opcode: i % 2 ? OP.BINARY : OP.TEXT, payload: i % 2 ? p : Buffer.from(`msg-${i}-${'x'.repeat(i % 50)}`) }))));
    for (let i = 0; i < 200; i++) {
      const m = await c.nextMessage(10_000);
      if (i % 2) {
        assert.equal(m.opcode, OP.BINARY, `message ${i}`);
        assert.ok(m.data.equals(msgs[i]), `message ${i} differs`);
      } else {
        assert.equal(m.opcode, OP.TEXT, `message ${i}`);
        assert.equal(m.data.toString(), `msg-${i}-${'x'.repeat(i % 50)}`);
      }
    }
  });

  it('echoes on several connections at once, each its own data', { timeout: 20_000 }, async () => {
    const cs = await Promise.all(Array.from({ length: 10 }, () => srv.open()));
    await Promise.all(cs.map((c, i) => echoOnce(c, `conn ${i}`)));
    await Promise.all(cs.map((c, i) => echoOnce(c, patternBytes(5000, i), { binary: true })));
  });
});
