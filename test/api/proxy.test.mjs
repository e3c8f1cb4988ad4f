// The client's real address behind a proxy: PROXY protocol v1/v2 on the server's own listeners,
// and X-Forwarded-For when trustProxy allows it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';

import WebSocket from 'ws';

import { WebSocketServer } from '../../dist/index.mjs';

const REQUEST =
  'GET /p HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

function listen(options) {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
    wss.once('listening', () => resolve(wss));
    wss.once('error', reject);
  });
}

// Sends `chunks` (one write each) and resolves with the server's first answer line.
function exchange(port, chunks) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${JSON.stringify(received)}`));
    }, 3000);
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    socket.on('data', (data) => {
      received += data.toString('latin1');
      if (received.includes('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received.slice(0, received.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
  });
}

function v2Header(source, sourcePort) {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const addresses = Buffer.alloc(12);
  source.split('.').forEach((octet, i) => (addresses[i] = Number(octet)));
  [10, 0, 0, 1].forEach((octet, i) => (addresses[4 + i] = octet));
  addresses.writeUInt16BE(sourcePort, 8);
  addresses.writeUInt16BE(80, 10);
  const fixed = Buffer.from([0x21, 0x11, 0x00, 12]);
  return Buffer.concat([signature, fixed, addresses]);
}

describe('proxy addresses', () => {
  const servers = [];
  after(async () => {
    for (const wss of servers) await wss.terminate();
  });

  it('takes the client address from a PROXY v1 header, whole or split, and from v2', { timeout: 10000 }, async () => {
    const wss = await listen({ proxyProtocol: true });
    servers.push(wss);
    const seen = [];
    wss.on('connection', (ws, request) => seen.push([request.socket.remoteAddress, request.socket.remotePort, request.clientAddress]));
    const port = wss.address().port;

    assert.equal(await exchange(port, [`PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n${REQUEST}`]), 'HTTP/1.1 101 Switching Protocols');
    assert.equal(await exchange(port, ['PROXY TCP6 2001:db8::1 ', '2001:db8::2 4000 80\r', `\n${REQUEST.slice(0, 20)}`, REQUEST.slice(20)]), 'HTTP/1.1 101 Switching Protocols');
    assert.equal(await exchange(port, [Buffer.concat([v2Header('198.51.100.9', 61000), Buffer.from(REQUEST)])]), 'HTTP/1.1 101 Switching Protocols');
    assert.deepEqual(seen, [
      ['203.0.113.7', 51234, '203.0.113.7'],
      ['2001:db8::1', 4000, '2001:db8::1'],
      ['198.51.100.9', 61000, '198.51.100.9'],
    ]);
  });

  it('refuses a connection without a valid PROXY header with 400', { timeout: 10000 }, async () => {
    const wss = await listen({ proxyProtocol: true });
    servers.push(wss);
    let connections = 0;
    wss.on('connection', () => connections++);
    assert.equal(await exchange(wss.address().port, [REQUEST]), 'HTTP/1.1 400 Bad Request');
    assert.equal(await exchange(wss.address().port, ['PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n', REQUEST]), 'HTTP/1.1 400 Bad Request');
    assert.equal(connections, 0);
  });

  it('uses X-Forwarded-For for clientAddress only with trustProxy', { timeout: 10000 }, async () => {
    for (const trustProxy of [true, false]) {
      const wss = await listen({ trustProxy });
      servers.push(wss);
      const address = new Promise((resolve) => wss.once('connection', (ws, request) => resolve(request.clientAddress)));
      const client = new WebSocket(`ws://127.0.0.1:${wss.address().port}`, { headers: { 'X-Forwarded-For': '192.0.2.44, 10.1.1.1' } });
      client.on('error', () => {});
      assert.equal(await address, trustProxy ? '192.0.2.44' : '127.0.0.1');
      client.terminate();
    }
  });
});
