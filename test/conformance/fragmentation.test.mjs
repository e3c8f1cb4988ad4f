// Autobahn section 5 style: fragmented messages, control frames between fragments, continuation errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, expectClose, echoOnce, sleep } from '../helpers/conformance.mjs';
import { OP, encodeFrame, patternBytes } from '../helpers/raw-ws.mjs';

/** Splits payload into fragments of the given sizes (the last takes the rest) as frames. */
function fragments(opcode, payload, sizes) {
  const out = [];
  let off = 0;
  for (let i = 0; i < sizes.length; i++) {
    const last = i === sizes.length - 1;
    const end = last ? payload.length : off + sizes[i];
    out.push(encodeFrame({ opcode: i === 0 ? opcode : OP.CONT, fin: last, payload: payload.subarray(off, end) }));
    off = end;
  }
  return out;
}

describe('fragmentation', { timeout: 90_000 }, () => {
  const srv = useServer();

  it('echoes text sent in 2 fragments', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat(fragments(OP.TEXT, Buffer.from('fragment1fragment2'), [9, 9])));
    const m = await c.nextMessage();
    assert.equal(m.opcode, OP.TEXT);
    assert.equal(m.data.toString(), 'fragment1fragment2');
  });

  it('echoes binary sent in 2 fragments', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const p = patternBytes(1000, 4);
    c.write(Buffer.concat(fragments(OP.BINARY, p, [500, 500])));
    const m = await c.nextMessage();
    assert.equal(m.opcode, OP.BINARY);
    assert.ok(m.data.equals(p));
  });

  for (const n of [3, 10, 100]) {
    it(`echoes text sent in ${n} fragments, each in its own write`, { timeout: 20_000 }, async () => {
      const c = await srv.open();
      const text = Buffer.from(Array.from({ length: n }, (_, i) => `part${i};`).join(''));
      const sizes = Array.from({ length: n }, (_, i) => `part${i};`.length);
      for (const f of fragments(OP.TEXT, text, sizes)) {
        c.write(f);
        await new Promise((r) => setImmediate(r));
      }
      const m = await c.nextMessage(10_000);
      assert.equal(m.data.toString(), text.toString());
    });
  }

  it('echoes text sent as 1-byte fragments (including a split 4-byte character)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    const text = Buffer.from('a𝄞κόσμε', 'utf8');
    c.write(Buffer.concat(fragments(OP.TEXT, text, Array.from({ length: text.length }, () => 1))));
    const m = await c.nextMessage();
    assert.equal(m.opcode, OP.TEXT);
    assert.equal(m.data.toString('utf8'), 'a𝄞κόσμε');
  });

  it('echoes a message made of empty fragments (Autobahn 5.18/6.1.2-ish)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false }),
      encodeFrame({ opcode: OP.CONT, fin: false }),
      encodeFrame({ opcode: OP.CONT, fin: true }),
    ]));
    const m = await c.nextMessage();
    assert.equal(m.opcode, OP.TEXT);
    assert.equal(m.data.length, 0);
  });

  it('answers a ping between fragments and then echoes the whole message', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' }),
      encodeFrame({ opcode: OP.PING, payload: 'ping payload' }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: 'fragment2' }),
    ]));
    const controls = [];
    const m = await c.nextMessage(5000, controls);
    assert.equal(m.data.toString(), 'fragment1fragment2');
    if (!controls.length) controls.push(await c.nextFrame()); // the pong may follow the echo
    assert.equal(controls.length, 1, 'expected one pong');
    assert.equal(controls[0].opcode, OP.PONG);
    assert.equal(controls[0].payload.toString(), 'ping payload');
  });

  it('answers a ping between fragments sent with pauses (pong comes before the final fragment)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' });
    await sleep(50);
    c.sendFrame({ opcode: OP.PING, payload: 'mid' });
    const pong = await c.nextFrame(5000);
    assert.equal(pong.opcode, OP.PONG);
    assert.equal(pong.payload.toString(), 'mid');
    c.sendFrame({ opcode: OP.CONT, fin: true, payload: 'fragment2' });
    const m = await c.nextMessage();
    assert.equal(m.data.toString(), 'fragment1fragment2');
  });

  it('ignores a pong between fragments', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.BINARY, fin: false, payload: 'ab' }),
      encodeFrame({ opcode: OP.PONG, payload: 'unsolicited' }),
      encodeFrame({ opcode: OP.CONT, fin: false, payload: 'cd' }),
      encodeFrame({ opcode: OP.PING, payload: 'p' }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: 'ef' }),
    ]));
    const controls = [];
    const m = await c.nextMessage(5000, controls);
    assert.equal(m.opcode, OP.BINARY);
    assert.equal(m.data.toString(), 'abcdef');
    if (!controls.length) controls.push(await c.nextFrame()); // the pong may follow the echo
    assert.deepEqual(controls.map((f) => [f.opcode, f.payload.toString()]), [[OP.PONG, 'p']]);
  });

  it('keeps working after a fragmented message (next message unfragmented)', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat(fragments(OP.TEXT, Buffer.from('first message'), [5, 8])));
    assert.equal((await c.nextMessage()).data.toString(), 'first message');
    await echoOnce(c, 'second message');
    await echoOnce(c, patternBytes(200, 1), { binary: true });
  });

  it('fails a continuation frame without a start (fin=1) with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CONT, fin: true, payload: 'non-continuation payload' });
    await expectClose(c, 1002);
  });

  it('fails a continuation frame without a start (fin=0) with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.sendFrame({ opcode: OP.CONT, fin: false, payload: 'fragment1' });
    c.sendFrame({ opcode: OP.CONT, fin: true, payload: 'fragment2' });
    await expectClose(c, 1002);
  });

  it('fails a continuation after a completed message with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'complete' }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: 'dangling' }),
    ]));
    await expectClose(c, 1002, { dataFrames: 1 });
  });

  for (const [name, op2] of [['text', OP.TEXT], ['binary', OP.BINARY]]) {
    it(`fails a new ${name} data frame in the middle of a fragmented message with 1002`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      c.write(Buffer.concat([
        encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' }),
        encodeFrame({ opcode: op2, fin: true, payload: 'fragment2' }),
      ]));
      await expectClose(c, 1002);
    });
  }

  for (const [name, op] of [['ping', OP.PING], ['pong', OP.PONG], ['close', OP.CLOSE]]) {
    it(`fails a fragmented ${name} with 1002`, { timeout: 10_000 }, async () => {
      const c = await srv.open();
      const p1 = op === OP.CLOSE ? Buffer.from([0x03, 0xe8]) : Buffer.from('frag1');
      c.write(Buffer.concat([
        encodeFrame({ opcode: op, fin: false, payload: p1 }),
        encodeFrame({ opcode: OP.CONT, fin: true, payload: 'frag2' }),
      ]));
      await expectClose(c, 1002);
    });
  }

  it('fails a fragmented ping in the middle of a fragmented text message with 1002', { timeout: 10_000 }, async () => {
    const c = await srv.open();
    c.write(Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'fragment1' }),
      encodeFrame({ opcode: OP.PING, fin: false, payload: 'ping1' }),
      encodeFrame({ opcode: OP.CONT, fin: true, payload: 'fragment2' }),
    ]));
    await expectClose(c, 1002);
  });
});
