// Autobahn section 7 style: the close handshake, close codes, close reasons.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectClose, echoOnce, summary } from '../helpers/conformance.mjs';
import { OP, encodeFrame, closePayload } from '../helpers/raw-ws.mjs';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

describe('close', { timeout: 90_000 }, () => {
  const srv = useServer();

  for (const code of VALID_CODES) {
    it(`echoes close code ${code} and closes TCP`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(code) });
      await expectClose(c, code);
    });
  }

  for (const code of INVALID_CODES) {
    it(`fails close code ${code} with 1002`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(code) });
      await expectClose(c, 1002);
    });
  }

  it('answers an empty close with an empty close', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE });
    const r = await expectClose(c, 1005);
    assert.equal(r.closePayload.length, 0, 'close reply should be empty');
  });

  it('fails a close with a 1-byte payload with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) });
    await expectClose(c, 1002);
  });

  it('echoes close 1000 with a 123-byte reason (max)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const reason = 'r'.repeat(100) + 'κόσμε'.repeat(2) + 'x'.repeat(3);
    assert.equal(Buffer.byteLength(reason), 123);
    c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, reason) });
    const r = await expectClose(c, 1000);
    assert.equal(r.closeReason ? r.closeReason.toString('utf8') : '', reason, 'close reason not echoed');
  });

  it('echoes close 1000 with a short reason', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'Hello World!') });
    await expectClose(c, 1000);
  });

  it('fails a close with a 124-byte reason (126-byte payload) with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'a'.repeat(124)) });
    await expectClose(c, 1002);
  });

  it('fails a close with an invalid UTF-8 reason with 1007', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64])) });
    await expectClose(c, 1007);
  });

  it('ignores data frames after the close frame (same write)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
      encodeFrame({ opcode: OP.TEXT, payload: 'after close' }),
      encodeFrame({ opcode: OP.PING, payload: 'ping after close' }),
    ]));
    const r = await expectClose(c, 1000);
    assert.equal(r.frames.length, 1, `only the close expected: ${summary(r.frames)}`);
  });

  it('ignores data frames after the close frame (separate write)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000) });
    c.sendFrame({ opcode: OP.TEXT, payload: 'after close' });
    await expectClose(c, 1000);
  });

  it('echoes before closing when a message and a close arrive in one write', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'before close' }),
      encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
    ]));
    const r = await expectClose(c, 1000, { dataFrames: 1 });
    assert.equal(r.frames[0].payload.toString(), 'before close');
  });

  it('closes with 1000 (or echoes the code) when a close arrives mid-fragmented message (Autobahn 7.1.5)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' }),
      encodeFrame({ opcode: OP.CLOSE, payload: closePayload(1000) }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: 'fragment2' }),
    ]));
    await expectClose(c, 1000);
  });

  it('keeps echoing on one connection, then closes cleanly', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    for (let i = 0; i < 5; i++) await echoOnce(c, `round ${i}`);
    c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1001, 'going away') });
    await expectClose(c, 1001);
  });

  it('closes TCP even if the client never answers a server-initiated close', { timeout: 20_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.TEXT, payload: 'x', rsv3: true });
    const r = await c.readUntilClose(15_000);
    assert.equal(r.closeCode, 1002);
    assert.ok(r.tcpClosed, 'server kept TCP open after failing the connection');
  });
});
