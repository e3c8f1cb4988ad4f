// Autobahn section 9 style (bounded): large messages, many messages, chopped writes, maxPayload.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectClose } from '../helpers/conformance.mjs';
import { MAX_PAYLOAD } from '../helpers/spawn-server.mjs';
import { OP, encodeFrame, encodeLarge, patternBytes } from '../helpers/raw-ws.mjs';

const MiB = 1024 * 1024;

describe('limits', { timeout: 180_000 }, () => {
  const srv = useServer();

  it('echoes one 16 MiB binary message', { timeout: 60_000 }, async () => {
    const c = await srv.open();
    const p = patternBytes(16 * MiB, 16);
    c.write(encodeLarge({ payload: p }));
    const m = await c.nextMessage(50_000);
    assert.equal(m.opcode, OP.BINARY);
    assert.equal(m.data.length, p.length);
    assert.ok(m.data.equals(p), '16 MiB echo differs');
  });

  it('echoes one 4 MiB text message written in 64 KiB chunks', { timeout: 30_000 }, async () => {
    const c = await srv.open();
    const p = Buffer.alloc(4 * MiB, 'abcdefghijklmnopqrstuvwxyz0123456789');
    await c.writeChopped(encodeLarge({ opcode: OP.TEXT, payload: p }), 64 * 1024, 1);
    const m = await c.nextMessage(25_000);
    assert.equal(m.opcode, OP.TEXT);
    assert.ok(m.data.equals(p));
  });

  it('echoes 20 x 1 MiB binary messages sent back to back, every byte checked', { timeout: 60_000 }, async () => {
    const c = await srv.open();
    const msgs = Array.from({ length: 20 }, (_, i) => patternBytes(MiB, 100 + i));
    for (const p of msgs) c.write(encodeLarge({ payload: p }));
    for (let i = 0; i < msgs.length; i++) {
      const m = await c.nextMessage(30_000);
      assert.ok(m.data.equals(msgs[i]), `message ${i} differs`);
    }
  });

  it('echoes a 4 MiB message sent as 64 KiB fragments', { timeout: 30_000 }, async () => {
    const c = await srv.open();
    const p = patternBytes(4 * MiB, 64);
    const frag = 64 * 1024;
    const frames = [];
    for (let off = 0; off < p.length; off += frag) {
      const last = off + frag >= p.length;
      frames.push(encodeLarge({ opcode: off ? OP.CONT : OP.BINARY, fin: last, payload: p.subarray(off, off + frag) }));
    }
    c.write(Buffer.concat(frames));
    const m = await c.nextMessage(25_000);
    assert.ok(m.data.equals(p));
  });

  it('echoes 1000 x 4 KiB text messages pipelined in one write, in order', { timeout: 30_000 }, async () => {
    const c = await srv.open();
    const msgs = [];
    for (let i = 0; i < 1000; i++) {
      const s = `#${String(i).padStart(4, '0')}:`;
      msgs.push(Buffer.from(s + 'x'.repeat(4096 - s.length)));
    }
    c.write(Buffer.concat(msgs.map((p) => encodeFrame({ opcode: OP.TEXT, payload: p }))));
    for (let i = 0; i < msgs.length; i++) {
      const m = await c.nextMessage(20_000);
      assert.ok(m.data.equals(msgs[i]), `message ${i} differs: ${m.data.subarray(0, 8)}`);
    }
  });

  it('echoes 100 binary messages of 16 one-byte fragments each, pipelined', { timeout: 30_000 }, async () => {
    const c = await srv.open();
    const frames = [];
    const msgs = [];
    for (let i = 0; i < 100; i++) {
      const p = patternBytes(16, i);
      msgs.push(p);
      for (let j = 0; j < 16; j++) frames.push(encodeFrame({ opcode: j ? OP.CONT : OP.BINARY, fin: j === 15, payload: p.subarray(j, j + 1) }));
    }
    c.write(Buffer.concat(frames));
    for (let i = 0; i < msgs.length; i++) assert.ok((await c.nextMessage(10_000)).data.equals(msgs[i]), `message ${i}`);
  });

  it(`fails a frame that declares ${MAX_PAYLOAD + 1} bytes (over maxPayload) with 1009 without the payload being sent`, { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(encodeFrame({ opcode: OP.BINARY, declaredLength: MAX_PAYLOAD + 1, headerOnly: true }));
    await expectClose(c, 1009);
  });

  it('fails a text frame over maxPayload with 1009 (header only)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(encodeFrame({ opcode: OP.TEXT, declaredLength: 64 * MiB, headerOnly: true }));
    await expectClose(c, 1009);
  });

  it('fails a fragmented message whose total goes over maxPayload with 1009 (header of 2nd fragment only)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.BINARY, fin: false, payload: patternBytes(1024, 1) }),
      encodeFrame({ opcode: OP.CONT, fin: true, declaredLength: MAX_PAYLOAD - 1023, headerOnly: true }),
    ]));
    await expectClose(c, 1009);
  });
});
