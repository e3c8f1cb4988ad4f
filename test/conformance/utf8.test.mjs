// Autobahn section 6 style: UTF-8 in text messages, single and fragmented, including fail-fast.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectClose, IS_REFERENCE, sleep, summary } from '../helpers/conformance.mjs';
import { OP, encodeFrame } from '../helpers/raw-ws.mjs';

const VALID = [
  ['empty', ''],
  ['ASCII', 'Hello, world!'],
  ['Greek (2-byte)', 'κόσμε'],
  ['mixed', 'Hello-µ@ßöäüàá-UTF-8!!'],
  ['4-byte (U+1D11E)', '𝄞'],
  ['boundaries', '\u007f\u0080\u07ff\u0800\ud7ff\ue000\ufffd\uffff'],
  ['U+10000 and U+10FFFF', '\u{10000}\u{10ffff}'],
  ['NUL and U+FEFF', '\u0000\ufeff'],
];

const INVALID = [
  ['lone continuation 0x80', [0x80]],
  ['0xFE', [0xfe]],
  ['0xFF', [0xff]],
  ['overlong 2-byte NUL C0 80', [0xc0, 0x80]],
  ['overlong C1 BF', [0xc1, 0xbf]],
  ['overlong 3-byte E0 80 AF', [0xe0, 0x80, 0xaf]],
  ['overlong 4-byte F0 80 80 AF', [0xf0, 0x80, 0x80, 0xaf]],
  ['surrogate U+D800 (ED A0 80)', [0xed, 0xa0, 0x80]],
  ['surrogate U+DFFF (ED BF BF)', [0xed, 0xbf, 0xbf]],
  ['above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
  ['F5 lead byte', [0xf5, 0x80, 0x80, 0x80]],
  ['5-byte sequence F8 88 80 80 80', [0xf8, 0x88, 0x80, 0x80, 0x80]],
  ['truncated 2-byte at end', [0x41, 0xce]],
  ['truncated 4-byte at end', [0x41, 0xf0, 0x9d, 0x84]],
  ['lead byte followed by ASCII', [0xce, 0x41]],
  ['valid text then invalid', [...Buffer.from('κόσμε'), 0xed, 0xa0, 0x80, ...Buffer.from('edited')]],
];

describe('UTF-8', { timeout: 90_000 }, () => {
  const srv = useServer();

  for (const [name, text] of VALID) {
    it(`echoes valid text: ${name} (whole and as 1-byte fragments)`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      const bytes = Buffer.from(text, 'utf8');
      c.sendFrame({ opcode: OP.TEXT, payload: bytes });
      let m = await c.nextMessage();
      assert.equal(m.opcode, OP.TEXT);
      assert.ok(m.data.equals(bytes));
      if (bytes.length > 1) {
        const frames = [];
        for (let i = 0; i < bytes.length; i++) {
          frames.push(encodeFrame({ opcode: i ? OP.CONT : OP.TEXT, fin: i === bytes.length - 1, payload: bytes.subarray(i, i + 1) }));
        }
        c.write(Buffer.concat(frames));
        m = await c.nextMessage();
        assert.ok(m.data.equals(bytes), 'fragmented echo differs');
      }
    });
  }

  for (const [name, bytes] of INVALID) {
    it(`fails invalid text with 1007: ${name}`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      c.sendFrame({ opcode: OP.TEXT, payload: Buffer.from(bytes) });
      await expectClose(c, 1007);
    });
  }

  it('accepts invalid UTF-8 in a binary message', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const p = Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]);
    c.sendFrame({ opcode: OP.BINARY, payload: p });
    const m = await c.nextMessage();
    assert.ok(m.data.equals(p));
  });

  it('echoes a valid 4-byte character split across 2 fragments', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.from([0x61, 0xf0, 0x9d]) }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: Buffer.from([0x84, 0x9e, 0x62]) }),
    ]));
    const m = await c.nextMessage();
    assert.equal(m.data.toString('utf8'), 'a𝄞b');
  });

  it('fails an invalid sequence split across fragments with 1007', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.concat([Buffer.from('κό'), Buffer.from([0xed])]) }),
      encodeFrame({ opcode: OP.CONT, fin: false, payload: Buffer.from([0xa0, 0x80]) }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: Buffer.from('end') }),
    ]));
    await expectClose(c, 1007);
  });

  it('fails a message that ends inside a character (last fragment truncated) with 1007', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.from('abc') }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: Buffer.from([0xf0, 0x9d, 0x84]) }),
    ]));
    await expectClose(c, 1007);
  });

  it(`fail-fast (Autobahn 6.4.1/6.4.2): invalid bytes in the first fragment close the connection before the final fragment is sent${IS_REFERENCE ? ' (ws-reference: relaxed, validates at the end)' : ''}`, { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.TEXT, fin: false, payload: Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xf4, 0x90, 0x80, 0x80])]) });
    if (IS_REFERENCE) {
      await sleep(200);
      c.sendFrame({ opcode: OP.CONT, fin: true, payload: 'edited' });
      await expectClose(c, 1007);
      return;
    }
    const r = await c.readUntilClose(3000);
    assert.equal(r.closeCode, 1007, `expected 1007 before the final fragment was sent, got ${r.closeCode} ${summary(r.frames)}`);
    assert.ok(r.tcpClosed);
  });

  it(`fail-fast (Autobahn 6.4.3/6.4.4): invalid bytes in the first part of one unfragmented frame close before the rest arrives${IS_REFERENCE ? ' (ws-reference: relaxed)' : ''}`, { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const good = Buffer.from('κόσμε');
    const bad = Buffer.from([0xf4, 0x90, 0x80, 0x80]);
    const rest = Buffer.from('-edited-edited-edited');
    const all = Buffer.concat([good, bad, rest]);
    const frame = encodeFrame({ opcode: OP.TEXT, payload: all });
    const headLen = frame.length - all.length;
    c.write(frame.subarray(0, headLen + good.length + bad.length));
    if (IS_REFERENCE) {
      await sleep(200);
      c.write(frame.subarray(headLen + good.length + bad.length));
      await expectClose(c, 1007);
      return;
    }
    const r = await c.readUntilClose(3000);
    assert.equal(r.closeCode, 1007, `expected 1007 before the rest of the frame was sent, got ${r.closeCode} ${summary(r.frames)}`);
  });
});
