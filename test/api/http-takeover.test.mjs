// The node:http path: `{ server }` and `{ noServer }` + handleUpgrade, where node:http parses the
// request and epollws takes the TCP connection over. Refusals of bad upgrade requests (status and
// headers), wsClientError, the request head and the bytes node buffered before the takeover reaching
// the core as frames, async verifyClient and upgrade hooks on adopted sockets, and wss.close() while
// a decision is still open. Every client is a raw socket, so each byte on the wire is checked.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { RawClient, buildRequest, computeAccept, encodeFrame, OP } from '../helpers/raw-ws.mjs';
import { HTTP_MODES, startTakeover, gate, rawUpgrade, echoAll } from '../helpers/http-takeover.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

let running = [];
afterEach(async () => {
  const list = running;
  running = [];
  await Promise.all(list.map((s) => s.close()));
});

async function start(mode, options, hooks) {
  const s = await startTakeover(mode, options, hooks);
  running.push(s);
  return s;
}

/** Reads the whole answer to a refused upgrade; the server must close the connection after it. */
async function refusal(c) {
  const head = await c.readHead(5000);
  await c.waitEnd(5000);
  return { ...head, body: (head.body ?? Buffer.alloc(0)).toString('latin1') };
}

function assertAccepted(head, key) {
  assert.equal(head.status, 101, `expected 101, got ${head.statusLine}`);
  assert.equal(head.headers['sec-websocket-accept'], computeAccept(key));
}

const REFUSALS = [
  { what: 'a malformed Sec-WebSocket-Key', headers: { 'Sec-WebSocket-Key': 'not-a-key' }, status: 400 },
  { what: 'no Sec-WebSocket-Key', headers: { 'Sec-WebSocket-Key': null }, status: 400 },
  { what: 'Sec-WebSocket-Version 7', headers: { 'Sec-WebSocket-Version': '7' }, status: 400, version: true },
  { what: 'no Sec-WebSocket-Version', headers: { 'Sec-WebSocket-Version': null }, status: 400, version: true },
  { what: 'Upgrade: h2c', headers: { Upgrade: 'h2c' }, status: 400 },
];

for (const mode of HTTP_MODES) {
  describe(`api: node:http takeover (${mode})`, { timeout: 60_000 }, () => {
    for (const r of REFUSALS) {
      it(`refuses ${r.what} with ${r.status}, closes, never opens`, { timeout: 10_000 }, async () => {
        const s = await start(mode);
        const c = await rawUpgrade(s.port, { headers: r.headers });
        const answer = await refusal(c);
        assert.equal(answer.status, r.status, answer.statusLine);
        assert.equal(answer.headers.connection?.toLowerCase(), 'close');
        assert.equal(Number(answer.headers['content-length']), Buffer.byteLength(answer.body, 'latin1'),
          `Content-Length matches the body ${JSON.stringify(answer.body)}`);
        assert.ok(answer.body.length > 0, 'the refusal says why');
        if (r.version) assert.equal(answer.headers['sec-websocket-version'], '13, 8', 'the refusal names the versions spoken (ws)');
        else assert.equal(answer.headers['sec-websocket-version'], undefined);
        assert.equal(answer.headers.upgrade, undefined, 'a refusal does not upgrade');
        assert.equal(s.connections.length, 0);
      });
    }

    it('POST with Upgrade is refused with 405', { timeout: 10_000 }, async () => {
      const s = await start(mode);
      const p = await RawClient.connect({ port: s.port });
      p.write(buildRequest({ port: s.port, method: 'POST' }).text);
      const answer = await refusal(p);
      assert.equal(answer.status, 405, answer.statusLine);
      assert.equal(s.connections.length, 0);
    });

    it('a wsClientError listener answers the refusal itself, on a socket it can write to', { timeout: 10_000 }, async () => {
      const s = await start(mode);
      const seen = [];
      s.wss.on('wsClientError', (error, socket, request) => {
        seen.push({ code: error.code, isError: error instanceof Error, url: request.url, writable: socket.writable });
        socket.end('HTTP/1.1 418 I\'m a teapot\r\nConnection: close\r\nContent-Length: 6\r\n\r\nteapot');
      });
      const c = await rawUpgrade(s.port, { path: '/bad', headers: { 'Sec-WebSocket-Version': '7' } });
      const answer = await refusal(c);
      assert.equal(answer.status, 418, 'only the listener answered');
      assert.equal(answer.body, 'teapot');
      assert.deepEqual(seen, [{ code: 'WS_ERR_INVALID_HANDSHAKE', isError: true, url: '/bad', writable: true }]);
      assert.equal(s.connections.length, 0);
    });

    it('the request head and frames sent during an async verifyClient reach the core in order', { timeout: 10_000 }, async () => {
      const decision = gate();
      const s = await start(mode, {
        verifyClient: (info, cb) => { decision.arrive(info); decision.opened.then((ok) => cb(ok)); },
      });
      echoAll(s.wss);
      // The first frame rides in the request's TCP segment: node:http hands it over as `head`.
      const c = await rawUpgrade(s.port, { extra: encodeFrame({ opcode: OP.TEXT, payload: 'in the head' }) });
      const info = await withTimeout(decision.reached, 5000, 'verifyClient');
      assert.ok(info.req instanceof http.IncomingMessage, 'verifyClient sees node\'s IncomingMessage');
      c.write(encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }));
      c.write(encodeFrame({ opcode: OP.TEXT, payload: 'during the decision' }));
      decision.open(true);
      assertAccepted(await c.readHead(5000), c.key);
      const got = [];
      for (let i = 0; i < 3; i++) {
        const m = await c.nextMessage(5000);
        got.push([m.opcode, m.data.toString('hex')]);
      }
      assert.deepEqual(got, [
        [OP.TEXT, Buffer.from('in the head').toString('hex')],
        [OP.BINARY, '010203'],
        [OP.TEXT, Buffer.from('during the decision').toString('hex')],
      ]);
      assert.equal(s.connections.length, 1);
    });

    it('an async verifyClient refusal sends its status and headers', { timeout: 10_000 }, async () => {
      const s = await start(mode, {
        verifyClient: (info, cb) => { setImmediate(() => cb(false, 401, 'Who are you', { 'X-Reason': 'no token' })); },
      });
      const answer = await refusal(await rawUpgrade(s.port));
      assert.equal(answer.status, 401, answer.statusLine);
      assert.equal(answer.headers['x-reason'], 'no token');
      assert.equal(s.connections.length, 0);
    });

    it('an async upgrade hook accepts with a subprotocol and extra headers', { timeout: 10_000 }, async () => {
      const decision = gate();
      const s = await start(mode, {
        upgrade: async (request) => {
          decision.arrive(request.url);
          await decision.opened;
          return { action: 'accept', protocol: 'chat.v2', headers: { 'X-User': 'u1' } };
        },
      });
      echoAll(s.wss);
      const c = await rawUpgrade(s.port, { path: '/hook', headers: { 'Sec-WebSocket-Protocol': 'chat.v1, chat.v2' } });
      assert.equal(await withTimeout(decision.reached, 5000, 'upgrade hook'), '/hook');
      decision.open();
      const head = await c.readHead(5000);
      assertAccepted(head, c.key);
      assert.equal(head.headers['sec-websocket-protocol'], 'chat.v2');
      assert.equal(head.headers['x-user'], 'u1');
      c.write(encodeFrame({ opcode: OP.TEXT, payload: 'after the hook' }));
      assert.equal((await c.nextMessage(5000)).data.toString(), 'after the hook');
      assert.equal(s.connections.length, 1);
      assert.equal(s.connections[0][0].protocol, 'chat.v2');
    });

    it('an async upgrade hook rejects with its own status, headers and body', { timeout: 10_000 }, async () => {
      const s = await start(mode, {
        upgrade: async () => {
          await new Promise((resolve) => setImmediate(resolve));
          return { action: 'reject', status: 403, headers: { 'X-Why': 'banned' }, body: 'go away' };
        },
      });
      const answer = await refusal(await rawUpgrade(s.port));
      assert.equal(answer.status, 403, answer.statusLine);
      assert.equal(answer.headers['x-why'], 'banned');
      assert.equal(answer.body, 'go away');
      assert.equal(s.connections.length, 0);
    });

    it('wss.close() while an upgrade is being decided answers 503 and never opens it', { timeout: 10_000 }, async () => {
      const decision = gate();
      let callbackThrew = null;
      const s = await start(mode, {
        verifyClient: (info, cb) => {
          decision.arrive();
          decision.opened.then(() => { try { cb(true); } catch (e) { callbackThrew = e; } });
        },
      });
      const c = await rawUpgrade(s.port);
      await withTimeout(decision.reached, 5000, 'verifyClient');
      const closed = s.wss.close();
      const answer = await refusal(c);
      assert.equal(answer.status, 503, answer.statusLine);
      await withTimeout(closed, 5000, 'wss.close()');
      decision.open(); // the late "yes" finds the server closed
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(callbackThrew, null);
      assert.equal(s.connections.length, 0);
    });
  });
}

describe('api: node:http takeover (handleUpgrade): bytes node read before the takeover', { timeout: 30_000 }, () => {
  it('frames node buffered after the upgrade event, before handleUpgrade, are served in order', { timeout: 10_000 }, async () => {
    const second = encodeFrame({ opcode: OP.TEXT, payload: 'buffered by node' });
    let clientMaySend;
    const mayWrite = new Promise((resolve) => { clientMaySend = resolve; });
    const seen = {};
    const s = await start('handleUpgrade', {}, {
      onUpgrade: async (request, socket, head, go) => {
        seen.head = head.length;
        clientMaySend();
        // Let node's socket read the next frame into its own buffer before the takeover.
        await withTimeout((async () => {
          while (socket.readableLength < second.length) await new Promise((resolve) => setImmediate(resolve));
        })(), 5000, 'node to buffer the second frame');
        seen.buffered = socket.readableLength;
        go();
      },
    });
    echoAll(s.wss);
    const first = encodeFrame({ opcode: OP.TEXT, payload: 'in the head' });
    const c = await rawUpgrade(s.port, { extra: first });
    await mayWrite;
    c.write(second);
    assertAccepted(await c.readHead(5000), c.key);
    assert.equal((await c.nextMessage(5000)).data.toString(), 'in the head');
    assert.equal((await c.nextMessage(5000)).data.toString(), 'buffered by node');
    assert.deepEqual(seen, { head: first.length, buffered: second.length });
  });
});
