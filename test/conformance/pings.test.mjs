// Autobahn section 2 style: pings and pongs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectClose, echoOnce, sleep } from '../helpers/conformance.mjs';
import { OP, encodeFrame, patternBytes } from '../helpers/raw-ws.mjs';

describe('pings and pongs', { timeout: 60_000 }, () => {
  const srv = useServer();

  for (const n of [0, 1, 125]) {
    it(`answers a ${n}-byte ping with a pong carrying the same payload`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      const payload = patternBytes(n, 5);
      c.sendFrame({ opcode: OP.PING, payload });
      const f = await c.nextFrame();
      assert.equal(f.opcode, OP.PONG);
      assert.ok(f.fin);
      assert.ok(f.payload.equals(payload), 'pong payload differs');
    });
  }

  it('answers a binary-payload ping (all byte values)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const payload = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
    c.sendFrame({ opcode: OP.PING, payload });
    const f = await c.nextFrame();
    assert.equal(f.opcode, OP.PONG);
    assert.ok(f.payload.equals(payload));
  });

  it('fails a 126-byte ping with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.PING, payload: Buffer.alloc(126, 0xfe) });
    await expectClose(c, 1002);
  });

  it('fails a ping that declares 65535 bytes (header only) with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(encodeFrame({ opcode: OP.PING, declaredLength: 65535, headerOnly: true }));
    await expectClose(c, 1002);
  });

  it('ignores an unsolicited pong (with and without payload)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.PONG, payload: 'unsolicited pong payload' });
    c.sendFrame({ opcode: OP.PONG });
    await echoOnce(c, 'after the pongs');
    await sleep(100);
    assert.equal(c.frames.length, 0, 'server sent something in reply to a pong');
  });

  it('answers a ping after an unsolicited pong', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.PONG, payload: 'unsolicited' }),
      encodeFrame({ opcode: OP.PING, payload: 'ping after pong' }),
    ]));
    const f = await c.nextFrame();
    assert.equal(f.opcode, OP.PONG);
    assert.equal(f.payload.toString(), 'ping after pong');
  });

  it('fails a fragmented ping with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.PING, fin: false, payload: 'frag1' }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: 'frag2' }),
    ]));
    await expectClose(c, 1002);
  });

  it('answers 10 pings sent in one write with 10 pongs in order', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat(Array.from({ length: 10 }, (_, i) => encodeFrame({ opcode: OP.PING, payload: `ping ${i}` }))));
    for (let i = 0; i < 10; i++) {
      const f = await c.nextFrame();
      assert.equal(f.opcode, OP.PONG);
      assert.equal(f.payload.toString(), `ping ${i}`);
    }
  });

  it('answers 10 pings sent one byte per write', { timeout: 20_000 }, async () => {
    const c = await srv.open();
    const bytes = Buffer.concat(Array.from({ length: 10 }, (_, i) => encodeFrame({ opcode: OP.PING, payload: `chopped ${i}` })));
    await c.writeChopped(bytes, 1, 8);
    for (let i = 0; i < 10; i++) {
      const f = await c.nextFrame();
      assert.equal(f.opcode, OP.PONG);
      assert.equal(f.payload.toString(), `chopped ${i}`);
    }
  });

  it('answers a 125-byte ping interleaved with text echoes in order', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const p = patternBytes(125, 77);
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'one' }),
      encodeFrame({ opcode: OP.PING, payload: p }),
      encodeFrame({ opcode: OP.TEXT, payload: 'two' }),
    ]));
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await c.nextFrame());
    const pong = got.find((f) => f.opcode === OP.PONG);
    assert.ok(pong && pong.payload.equals(p), 'pong missing or wrong');
    const texts = got.filter((f) => f.opcode === OP.TEXT).map((f) => f.payload.toString());
    assert.deepEqual(texts, ['one', 'two']);
  });
});
