// End to end with an independent client: the `ws` package's WebSocket client.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { spawnServer } from '../helpers/spawn-server.mjs';
import { patternBytes } from '../helpers/raw-ws.mjs';

function openWs(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...opts });
    const t = setTimeout(() => { ws.terminate(); reject(new Error('open timed out')); }, 5000);
    ws.once('open', () => { clearTimeout(t); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

function nextMessage(ws, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { ws.off('message', on); reject(new Error('no message within ' + ms + ' ms')); }, ms);
    const on = (data, isBinary) => { clearTimeout(t); resolve({ data, isBinary }); };
    ws.once('message', on);
  });
}

describe('e2e: ws client', { timeout: 60_000 }, () => {
  let srv;
  const sockets = new Set();
  before(async () => { srv = await spawnServer(); });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    if (srv) {
      const alive = srv.alive();
      await srv.stop();
      assert.ok(alive, 'server died during the suite');
    }
  });
  const open = async (opts) => { const ws = await openWs(srv.url, opts); sockets.add(ws); return ws; };

  it('echoes text as text', { timeout: 10_000 }, async () => {
    const ws = await open();
    ws.send('hello from ws κόσμε 𝄞');
    const m = await nextMessage(ws);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString('utf8'), 'hello from ws κόσμε 𝄞');
  });

  it('echoes binary as binary', { timeout: 10_000 }, async () => {
    const ws = await open();
    const p = patternBytes(1000, 2);
    ws.send(p);
    const m = await nextMessage(ws);
    assert.equal(m.isBinary, true);
    assert.ok(Buffer.from(m.data).equals(p));
  });

  it('echoes a 1 MiB binary and a 1 MiB text message', { timeout: 20_000 }, async () => {
    const ws = await open();
    const p = patternBytes(1024 * 1024, 3);
    ws.send(p);
    const m = await nextMessage(ws);
    assert.ok(m.isBinary);
    assert.ok(Buffer.from(m.data).equals(p));
    const t = 'x'.repeat(1024 * 1024 - 3) + 'end';
    ws.send(t);
    const m2 = await nextMessage(ws);
    assert.equal(m2.isBinary, false);
    assert.equal(m2.data.toString(), t);
  });

  it('echoes 100 messages in order', { timeout: 20_000 }, async () => {
    const ws = await open();
    const got = [];
    const done = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`only ${got.length} of 100 echoes arrived`)), 15_000);
      ws.on('message', (d, isBinary) => {
        got.push(isBinary ? `bin:${Buffer.from(d).readUInt32BE(0)}` : d.toString());
        if (got.length === 100) { clearTimeout(t); resolve(); }
      });
    });
    const want = [];
    for (let i = 0; i < 100; i++) {
      if (i % 3 === 0) {
        const b = Buffer.alloc(4 + i);
        b.writeUInt32BE(i, 0);
        ws.send(b);
        want.push(`bin:${i}`);
      } else {
        ws.send(`message ${i}`);
        want.push(`message ${i}`);
      }
    }
    await done;
    assert.deepEqual(got, want);
  });

  it('gets a pong with the same payload for a ping', { timeout: 10_000 }, async () => {
    const ws = await open();
    const pong = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no pong')), 5000);
      ws.once('pong', (d) => { clearTimeout(t); resolve(d); });
    });
    ws.ping(Buffer.from('are you there'));
    assert.equal((await pong).toString(), 'are you there');
  });

  it('round-trips a close code and reason', { timeout: 10_000 }, async () => {
    const ws = await open();
    const closed = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no close')), 5000);
      ws.once('close', (code, reason) => { clearTimeout(t); resolve({ code, reason: reason.toString() }); });
    });
    ws.close(4321, 'bye now');
    const r = await closed;
    assert.equal(r.code, 4321);
    assert.equal(r.reason, 'bye now');
  });

  it('round-trips close 1000 with no reason', { timeout: 10_000 }, async () => {
    const ws = await open();
    const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.close(1000);
    assert.equal(await closed, 1000);
  });

  it('works with permessage-deflate offered by the client (server may decline)', { timeout: 10_000 }, async () => {
    const ws = await open({ perMessageDeflate: true });
    ws.send('offered deflate');
    const m = await nextMessage(ws);
    assert.equal(m.data.toString(), 'offered deflate');
  });
});
