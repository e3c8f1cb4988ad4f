// One handshake pipeline (issue #10 §3): a request refused on the core's own listener and the same
// request reaching the core through node:http ({ server }, handleUpgrade) get the same bytes back
// (status line, headers, body), and the same WebSocketError (reason, status); wsClientError means
// what it means in ws on every path (a listener answers, else epollws does); header lines from
// the user's hooks are checked by the core before anything is sent.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { MODES, echoAll, probeEcho, startTakeover } from '../helpers/http-takeover.mjs';
import { makeKey } from '../helpers/raw-ws.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

let running = [];
afterEach(async () => {
  const list = running;
  running = [];
  await Promise.all(list.map((s) => s.close()));
});

async function start(mode, options = {}) {
  const s = await startTakeover(mode, options);
  running.push(s);
  return s;
}

// A request built line by line, so that headers can repeat.
function requestText(port, { method = 'GET', path = '/', key = makeKey(), version = '13', host = `127.0.0.1:${port}`, extra = [] } = {}) {
  const lines = [`${method} ${path} HTTP/1.1`];
  if (host !== null) lines.push(`Host: ${host}`);
  lines.push('Upgrade: websocket', 'Connection: Upgrade');
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  return `${[...lines, ...extra].join('\r\n')}\r\n\r\n`;
}

/** Sends `text` and resolves everything the server sent until it closed. */
async function exchange(port, text) {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks = [];
  socket.on('data', (d) => chunks.push(d));
  socket.on('error', () => {});
  socket.write(text);
  await withTimeout(once(socket, 'close'), 5000, 'the server to close the refused connection');
  return Buffer.concat(chunks).toString('latin1');
}

const CASES = [
  { reason: 'INVALID_METHOD', status: 405, request: { method: 'POST' } },
  { reason: 'INVALID_KEY', status: 400, request: { key: 'not-a-key' } },
  { reason: 'INVALID_KEY', status: 400, request: { key: null }, what: 'no key' },
  { reason: 'INVALID_VERSION', status: 400, request: { version: '7' }, versions: true },
  { reason: 'INVALID_VERSION', status: 400, request: { version: null }, what: 'no version', versions: true },
  { reason: 'DUPLICATE_VERSION', status: 400, request: { extra: ['Sec-WebSocket-Version: 13'] } },
  { reason: 'DUPLICATE_ORIGIN', status: 400, request: { extra: ['Origin: http://a.example', 'Origin: http://b.example'] } },
  { reason: 'INVALID_SUBPROTOCOL', status: 400, request: { extra: ['Sec-WebSocket-Protocol: a, a'] } },
  { reason: 'INVALID_SUBPROTOCOL', status: 400, request: { extra: ['Sec-WebSocket-Protocol: a,,b'] }, what: 'an empty element' },
  { reason: 'PATH_NOT_SERVED', status: 404, request: { path: '/elsewhere' }, options: { path: '/ws' } },
];

describe('api: refusals are the same bytes on every path', { timeout: 120_000 }, () => {
  for (const c of CASES) {
    it(`${c.reason}${c.what ? ` (${c.what})` : ''}: ${c.status}, identical on ${MODES.join(', ')}`, { timeout: 20_000 }, async () => {
      const answers = {};
      for (const mode of MODES) {
        const s = await start(mode, c.options);
        answers[mode] = await exchange(s.port, requestText(s.port, { path: c.options?.path ?? '/', ...c.request }));
        assert.equal(s.connections.length, 0, `${mode}: never opened`);
      }
      const listener = answers.listener;
      assert.match(listener, new RegExp(`^HTTP/1\\.1 ${c.status} `), listener);
      const [head, body] = listener.split('\r\n\r\n');
      assert.match(head, /\r\nConnection: close\r\n/i);
      assert.ok(body.length > 0, 'a body saying why');
      if (c.versions) assert.match(head, /\r\nSec-WebSocket-Version: 13, 8(\r\n|$)/i);
      for (const mode of MODES) assert.equal(answers[mode], listener, `${mode} answers as the core's listener does`);
    });
  }
});

describe('api: wsClientError on every path', { timeout: 120_000 }, () => {
  for (const mode of MODES) {
    it(`${mode}: a listener gets reason and status and answers on the socket it is given (nothing else is sent)`, { timeout: 10_000 }, async () => {
      const s = await start(mode);
      const seen = [];
      s.wss.on('wsClientError', (error, socket, request) => {
        seen.push({ error, request });
        socket.end('HTTP/1.1 400 Mine\r\nConnection: close\r\n\r\nmy words');
      });
      const answer = await exchange(s.port, requestText(s.port, { version: '7' }));
      assert.equal(answer, 'HTTP/1.1 400 Mine\r\nConnection: close\r\n\r\nmy words');
      assert.equal(seen.length, 1);
      const { error, request } = seen[0];
      assert.equal(error.name, 'WebSocketError');
      assert.equal(error.code, 'WS_ERR_INVALID_HANDSHAKE');
      assert.equal(error.reason, 'INVALID_VERSION');
      assert.equal(error.status, 400);
      assert.equal(error.closeCode, undefined);
      // The request that was refused, on every path (the core's listener read it whole).
      assert.equal(request.headers['sec-websocket-version'], '7');
      assert.equal(request.method, 'GET');
      assert.equal(s.connections.length, 0);
    });

    it(`${mode}: without a listener epollws answers (and a later valid client is served)`, { timeout: 10_000 }, async () => {
      const s = await start(mode);
      const answer = await exchange(s.port, requestText(s.port, { key: 'short' }));
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(answer, /\r\n\r\nMissing or invalid Sec-WebSocket-Key header$/);
      echoAll(s.wss);
      await probeEcho(s.port); // the next client is accepted and served
    });
  }
});

describe('api: header lines from the user are checked by the core', { timeout: 120_000 }, () => {
  const BAD = { 'X-Bad': 'one\r\nInjected: yes' };
  for (const mode of MODES) {
    it(`${mode}: a bad header from the upgrade hook: 'error' names it, the client gets 500, no injected line`, { timeout: 10_000 }, async () => {
      const s = await start(mode, { upgrade: () => ({ action: 'accept', headers: BAD }) });
      const errors = [];
      s.wss.on('error', (e) => errors.push(e));
      const answer = await exchange(s.port, requestText(s.port));
      assert.match(answer, /^HTTP\/1\.1 500 /);
      assert.doesNotMatch(answer, /Injected/);
      assert.equal(errors.length, 1);
      assert.ok(errors[0] instanceof TypeError);
      assert.match(errors[0].message, /Invalid response header for the 101 answer/);
      assert.match(errors[0].message, /X-Bad/);
      assert.equal(s.connections.length, 0);
    });

    it(`${mode}: a bad header on a rejection is left out and reported; the rejection still goes`, { timeout: 10_000 }, async () => {
      const s = await start(mode, { upgrade: () => ({ action: 'reject', status: 403, headers: BAD, body: 'no' }) });
      const errors = [];
      s.wss.on('error', (e) => errors.push(e));
      const answer = await exchange(s.port, requestText(s.port));
      assert.match(answer, /^HTTP\/1\.1 403 /);
      assert.doesNotMatch(answer, /Injected|X-Bad/);
      assert.match(answer, /\r\n\r\nno$/);
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /Invalid response header for the rejection/);
    });

    it(`${mode}: a bad line pushed by a 'headers' listener never reaches the wire`, { timeout: 10_000 }, async () => {
      const s = await start(mode);
      const errors = [];
      s.wss.on('error', (e) => errors.push(e));
      s.wss.on('headers', (lines) => lines.push('Set-Cookie: a=1\nInjected: yes'));
      const answer = await exchange(s.port, requestText(s.port));
      assert.match(answer, /^HTTP\/1\.1 500 /);
      assert.doesNotMatch(answer, /Injected|Set-Cookie/);
      assert.equal(errors.length, 1);
    });
  }
});
