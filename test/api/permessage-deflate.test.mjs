// The perMessageDeflate option through lib (ws's shape): negotiation on every entry path (the
// core's listener, { server }, noServer + handleUpgrade) with the same answer, ws.extensions,
// the threshold (default 1024), send(data, { compress: false }), option validation, and the
// extension declined when the option is off.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { MODES, startTakeover } from '../helpers/http-takeover.mjs';
import { RawClient } from '../helpers/raw-ws.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

let running = [];
afterEach(async () => {
  const list = running;
  running = [];
  await Promise.all(list.map((s) => s.close()));
});

async function start(mode, options) {
  const s = await startTakeover(mode, options);
  s.wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  running.push(s);
  return s;
}

async function rawOpen(port, offer) {
  const c = await RawClient.open({ port, headers: offer ? { 'Sec-WebSocket-Extensions': offer } : {} });
  return c;
}

describe('perMessageDeflate', () => {
  for (const mode of MODES) {
    it(`${mode}: negotiates the same way, reports ws.extensions, and echoes compressed`, async () => {
      const s = await start(mode, { perMessageDeflate: { serverNoContextTakeover: true, clientMaxWindowBits: 10, threshold: 0 } });
      const c = await rawOpen(s.port, 'permessage-deflate; server_max_window_bits=12, permessage-deflate; client_max_window_bits');
      // The first offer cannot have its client window limited: the second is taken.
      assert.equal(c.head.headers['sec-websocket-extensions'],
        'permessage-deflate; server_no_context_takeover; client_max_window_bits=10');
      // An offer that cannot be limited (no client_max_window_bits) is declined: 101 without it.
      const declined = await rawOpen(s.port, 'permessage-deflate');
      assert.equal(declined.head.headers['sec-websocket-extensions'], undefined);
      c.destroy();
      declined.destroy();
      await withTimeout((async () => { while (s.connections.length < 2) await new Promise((r) => setTimeout(r, 5)); })(), 5000, 'connections');
      assert.deepEqual(s.connections.map(([ws]) => ws.extensions), ['permessage-deflate', '']);

      const client = new WebSocket(`ws://127.0.0.1:${s.port}`, { perMessageDeflate: true });
      await withTimeout(new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject); }), 5000, 'open');
      assert.equal(client.extensions, 'permessage-deflate');
      const echoed = new Promise((resolve) => client.once('message', (data) => resolve(data.toString())));
      client.send('x'.repeat(5000));
      assert.equal(await withTimeout(echoed, 5000, 'echo'), 'x'.repeat(5000));
      client.terminate();
    });
  }

  it('is off by default (and with false): the offer is declined', async () => {
    for (const perMessageDeflate of [undefined, false]) {
      const s = await start('listener', perMessageDeflate === undefined ? {} : { perMessageDeflate });
      const c = await rawOpen(s.port, 'permessage-deflate');
      assert.equal(c.head.headers['sec-websocket-extensions'], undefined);
      c.destroy();
    }
  });

  it('threshold (default 1024) and send(data, { compress: false })', async () => {
    const s = await startTakeover('listener', { perMessageDeflate: true });
    running.push(s);
    s.wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const [size, compress] = data.toString().split(':');
        ws.send('y'.repeat(Number(size)), compress === 'no' ? { compress: false } : {});
      });
    });
    const c = await rawOpen(s.port, 'permessage-deflate');
    const rsvOf = async (request) => {
      c.send(request);
      const f = await c.nextFrame();
      return f.rsv;
    };
    assert.equal(await rsvOf('1023:'), 0); // under the threshold: as is
    assert.equal(await rsvOf('1024:'), 4); // at it: compressed (RSV1)
    assert.equal(await rsvOf('5000:no'), 0);
    c.destroy();
  });

  it('validates its options: clear errors with codes', () => {
    const bad = [
      [{ serverMaxWindowBits: 16 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ clientMaxWindowBits: 7 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ threshold: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ serverNoContextTakeover: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ zlibDeflateOptions: { level: 10 } }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ zlibDeflateOptions: { memLevel: 0 } }, RangeError, 'ERR_OUT_OF_RANGE'],
    ];
    for (const [options, ErrorClass, code] of bad) {
      assert.throws(() => new WebSocketServer({ noServer: true, perMessageDeflate: options }),
        (error) => error instanceof ErrorClass && error.code === code, JSON.stringify(options));
    }
    assert.throws(() => new WebSocketServer({ noServer: true, perMessageDeflate: 'yes' }), TypeError);
    // ws's boolean forms of the window options and its other keys are accepted.
    new WebSocketServer({
      noServer: true,
      perMessageDeflate: { serverMaxWindowBits: true, clientMaxWindowBits: true, zlibInflateOptions: { chunkSize: 1024 }, concurrencyLimit: 10 },
    }).close();
  });
});
