// After a TLS 1.3 handshake the core frees OpenSSL's SSL and carries the records itself
// (native/core/tls13_records.*). Every TLS 1.3 suite OpenSSL negotiates by default, messages
// across many records both ways, the peer's KeyUpdate (with and without asking for ours, from
// openssl s_client), and TLS 1.2, which stays with OpenSSL: each is checked end to end.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { caCert, certFor } from '../helpers/tls-certs.mjs';
import { buildRequest, encodeFrame, OP, patternBytes } from '../helpers/raw-ws.mjs';
import { until as waitUntil, withTimeout } from '../helpers/timeout.mjs';

const localhost = certFor('localhost');
const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

async function echoServer(options = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', tls: { key: localhost.key, cert: localhost.cert }, ...options });
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  await withTimeout(once(wss, 'listening'), 5000, 'listening');
  return { wss, port: wss.address().port };
}

async function open(port, tlsOptions) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca: caCert(), maxPayload: 64 << 20, ...tlsOptions });
  ws.on('error', () => {});
  await withTimeout(once(ws, 'open'), 5000, 'open');
  return ws;
}

// Sends every message, then reads the echoes in order and compares them byte for byte.
async function echoAll(ws, messages) {
  const received = [];
  const done = new Promise((resolve) => {
    ws.on('message', (data) => {
      received.push(data);
      if (received.length === messages.length) resolve();
    });
  });
  for (const message of messages) ws.send(message);
  await withTimeout(done, 60_000, `${messages.length} echoes`);
  messages.forEach((message, i) => assert.ok(Buffer.compare(received[i], message) === 0, `echo ${i} (${message.length} B) differs`));
}

describe('TLS 1.3 records after the hand-over', { timeout: 120_000 }, () => {
  for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
    it(`${suite}: 0 B to 4 MiB, single and pipelined`, async () => {
      const { wss, port } = await echoServer({ maxPayload: 8 << 20 });
      const requests = [];
      wss.on('connection', (socket, request) => requests.push(request));
      const ws = await open(port, { ciphers: suite, minVersion: 'TLSv1.3' });
      const sizes = [0, 1, 125, 126, 16_383, 16_384, 16_385, 65_536, 300_000, 4 << 20];
      await echoAll(ws, sizes.map((n, i) => patternBytes(n, i + 1)));
      // 200 messages of 20 KiB at once: records split across reads in both directions.
      await echoAll(ws, Array.from({ length: 200 }, (_, i) => patternBytes(20_480, i + 7)));
      assert.equal(requests[0].socket.getProtocol(), 'TLSv1.3');
      assert.equal(requests[0].socket.getCipher().standardName, suite);
      ws.close(1000);
      await withTimeout(once(ws, 'close'), 5000, 'close');
      await withTimeout(wss.close(), 5000, 'wss.close');
    });
  }

  it('TLS 1.2 stays with OpenSSL and echoes the same', async () => {
    const { wss, port } = await echoServer();
    const ws = await open(port, { maxVersion: 'TLSv1.2' });
    await echoAll(ws, [patternBytes(10), patternBytes(100_000, 3), patternBytes(2 << 20, 5)]);
    ws.close();
    await withTimeout(once(ws, 'close'), 5000, 'close');
    await withTimeout(wss.close(), 5000, 'wss.close');
  });

  // openssl s_client sends a KeyUpdate when a line read from its stdin starts with 'k' (ours not
  // requested) or 'K' (update requested: the server must answer with its own and switch keys).
  for (const command of ['k', 'K']) {
    it(`the peer's KeyUpdate ('${command}'): the server follows, echoes still decrypt`, async () => {
      const { wss, port } = await echoServer();
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-msg', '-CAfile', localhost.caFile,
        '-servername', 'localhost'], { stdio: ['pipe', 'pipe', 'pipe'] });
      children.add(child);
      let output = Buffer.alloc(0);
      child.stdout.on('data', (d) => { output = Buffer.concat([output, d]); });
      let errors = '';
      child.stderr.on('data', (d) => { errors += d; });
      const until = (predicate, what) => waitUntil(predicate, `${what}; s_client said: ${errors.slice(-400)}`);
      child.stdin.write(buildRequest({ port }).text);
      await until(() => output.includes('\r\n\r\n'), 'the 101');
      const sent = [];
      for (let round = 0; round < 3; round++) {
        child.stdin.write(`${command}\n`);
        await new Promise((r) => setTimeout(r, 100));
        const payload = Buffer.from(`after key update ${round}`);
        sent.push(payload);
        child.stdin.write(encodeFrame({ opcode: OP.BINARY, payload }));
        await until(() => output.includes(payload), `echo ${round} after the KeyUpdate`);
      }
      // -msg prints each handshake message: asked for ours, the server's KeyUpdates arrived.
      const answers = output.toString('latin1').split('\n').filter((line) => line.startsWith('<<<') && line.includes('KeyUpdate'));
      assert.equal(answers.length, command === 'K' ? 3 : 0);
      assert.equal(wss.clients.size, 1);
      child.kill();
      await once(child, 'exit');
      children.delete(child);
      await withTimeout(wss.close(), 5000, 'wss.close');
    });
  }
});
