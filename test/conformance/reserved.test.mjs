// Autobahn sections 3 and 4 style: reserved bits, reserved opcodes, plus other header violations
// (unmasked client frame, 64-bit length with the top bit set).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectClose, echoOnce, summary, IS_REFERENCE } from '../helpers/conformance.mjs';
import { OP, encodeFrame } from '../helpers/raw-ws.mjs';

const RSV = [
  { rsv1: true }, { rsv2: true }, { rsv3: true },
  { rsv1: true, rsv2: true }, { rsv1: true, rsv3: true }, { rsv2: true, rsv3: true },
  { rsv1: true, rsv2: true, rsv3: true },
];
const rsvName = (r) => Object.keys(r).join('+');

describe('reserved bits', { timeout: 60_000 }, () => {
  const srv = useServer();

  for (const r of RSV) {
    it(`fails a text frame with ${rsvName(r)} with 1002`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      c.sendFrame({ opcode: OP.TEXT, payload: 'reserved', ...r });
      await expectClose(c, 1002);
    });
  }

  for (const [name, opcode] of [['binary', OP.BINARY], ['ping', OP.PING], ['pong', OP.PONG], ['close', OP.CLOSE], ['continuation', OP.CONT]]) {
    it(`fails a ${name} frame with rsv2 with 1002`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      const payload = opcode === OP.CLOSE ? Buffer.from([0x03, 0xe8]) : Buffer.from('abc');
      c.sendFrame({ opcode, payload, rsv2: true });
      await expectClose(c, 1002);
    });
  }

  it('echoes the valid message before failing (separate writes), then answers nothing', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    await echoOnce(c, 'Hello, world!');
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'Hello, world!', rsv2: true }),
      encodeFrame({ opcode: OP.PING, payload: 'no pong for me' }),
    ]));
    const r = await expectClose(c, 1002);
    assert.equal(r.frames.length, 1, `expected only the close frame, got ${summary(r.frames)}`);
  });

  it('strict (Autobahn 3.2-3.7): good frame + RSV frame + ping in one write -> echo, then 1002, no pong', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'Hello, world!' }),
      encodeFrame({ opcode: OP.TEXT, payload: 'Hello, world!', rsv1: true, rsv2: true }),
      encodeFrame({ opcode: OP.PING, payload: 'no pong for me' }),
    ]));
    const r = await expectClose(c, 1002, { dataFrames: 1 });
    assert.equal(r.frames[0].opcode, OP.TEXT, `first frame must be the echo: ${summary(r.frames)}`);
    assert.equal(r.frames[0].payload.toString(), 'Hello, world!');
    assert.ok(!r.frames.some((f) => f.opcode === OP.PONG), 'pong sent for a ping after the bad frame');
  });
});

describe('opcodes', { timeout: 60_000 }, () => {
  const srv = useServer();
  for (const op of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    it(`fails reserved opcode ${op} with 1002 (empty and with payload)`, { timeout: 10_000 }, async () => {
      for (const payload of [Buffer.alloc(0), Buffer.from('reserved opcode payload')]) {
        const c = await srv.open();
        c.sendFrame({ opcode: op, payload });
        await expectClose(c, 1002, { what: `opcode ${op}/${payload.length}B:` });
      }
    });
  }

  for (const op of [5, 13]) {
    it(`strict (Autobahn 4.1.3/4.2.3): echo, then opcode ${op} -> 1002, no pong after it`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      c.write(Buffer.concat([
        encodeFrame({ opcode: OP.TEXT, payload: 'Hello, world!' }),
        encodeFrame({ opcode: op, payload: 'bad' }),
        encodeFrame({ opcode: OP.PING, payload: 'no pong' }),
      ]));
      const r = await expectClose(c, 1002, { dataFrames: 1 });
      assert.equal(r.frames[0].payload.toString(), 'Hello, world!');
      assert.ok(!r.frames.some((f) => f.opcode === OP.PONG));
    });
  }
});

describe('header violations', { timeout: 60_000 }, () => {
  const srv = useServer();

  it('fails an unmasked text frame with 1002 and does not echo it', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.TEXT, payload: 'unmasked', mask: false });
    await expectClose(c, 1002);
  });

  it('fails an unmasked ping with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.PING, payload: 'unmasked', mask: false });
    await expectClose(c, 1002);
  });

  it('fails an unmasked close frame with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]), mask: false });
    await expectClose(c, 1002);
  });

  it(`fails a 64-bit length with the top bit set with 1002${IS_REFERENCE ? ' (ws-reference: 1009 accepted)' : ''}`, { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(encodeFrame({ opcode: OP.BINARY, rawLength64: 0x8000000000000005n, headerOnly: true }));
    c.write(Buffer.alloc(5, 1));
    const r = await c.readUntilClose(5000);
    const ok = IS_REFERENCE ? [1002, 1009] : [1002];
    assert.ok(ok.includes(r.closeCode), `expected close ${ok.join('/')}, got ${r.closeCode}; frames ${summary(r.frames)}`);
    assert.ok(r.tcpClosed, 'TCP not closed');
  });

  it('fails a 64-bit length of 2^64-1 with 1002 or 1009', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(encodeFrame({ opcode: OP.BINARY, rawLength64: 0xffffffffffffffffn, headerOnly: true }));
    const r = await c.readUntilClose(5000);
    const ok = IS_REFERENCE ? [1002, 1009] : [1002];
    assert.ok(ok.includes(r.closeCode), `expected close ${ok.join('/')}, got ${r.closeCode}`);
    assert.ok(r.tcpClosed);
  });
});
