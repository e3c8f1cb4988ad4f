// wss on the server's own ports: the `tls` option (node:tls listeners whose sockets become core
// streams). Echo with the ws client, certificates chosen by SNI, setSecureContext while connections
// stay open, hostile bytes on the TLS port, the handshake timeout over the TLS handshake, and the
// `npm start -- --tls-cert --tls-key` fixed point.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { caCert, certFor } from '../helpers/tls-certs.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const localhost = certFor('localhost');
const alpha = certFor('alpha.test');
const beta = certFor('beta.test');
const children = new Set();

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

async function listening(options) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  await withTimeout(once(wss, 'listening'), 5000, 'listening');
  return { wss, port: wss.address().port };
}

function connect(port, options = {}) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca: caCert(), ...options });
  ws.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => {});
  return ws;
}

/** The certificate the server presents for `servername` (CN), read from a plain TLS handshake. */
async function presented(port, servername) {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: caCert(), rejectUnauthorized: false });
  await withTimeout(once(socket, 'secureConnect'), 5000, 'secureConnect');
  const cn = socket.getPeerCertificate().subject.CN;
  socket.destroy();
  return cn;
}

/** Sends `bytes` (then, with `end`, a FIN) and resolves once the server has closed the connection. */
async function closedAfter(port, bytes, { end = false, ms = 5000 } = {}) {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let received = 0;
  socket.on('data', (d) => { received += d.length; });
  socket.on('error', () => {});
  if (bytes.length) socket.write(bytes);
  if (end) socket.end();
  await withTimeout(once(socket, 'close'), ms, 'the server to close the connection');
  return received;
}

describe('the tls option', { timeout: 60_000 }, () => {
  it('serves wss:// on its port: echo up to 16 MiB, address(), clean close', async () => {
    const { wss, port } = await listening({ tls: { key: localhost.key, cert: localhost.cert }, maxPayload: 17 << 20 });
    assert.equal(wss.address().port, port);
    const requests = [];
    wss.on('connection', (socket, request) => requests.push(request));
    const ws = connect(port, { maxPayload: 64 << 20 });
    await withTimeout(once(ws, 'open'), 5000, 'open');
    for (const payload of ['text', Buffer.alloc(16 << 20, 5)]) {
      ws.send(payload);
      const [data] = await withTimeout(once(ws, 'message'), 20_000, 'echo');
      assert.ok(Buffer.compare(data, Buffer.from(payload)) === 0);
    }
    // The request is the core's own (as on a plain port), with the peer's address.
    assert.equal(requests[0].socket.remoteAddress, '127.0.0.1');
    ws.close(1000);
    assert.equal(await withTimeout(ws.closed, 5000, 'close'), 1000);
    await withTimeout(wss.close(), 5000, 'wss.close');
  });

  it('picks the certificate by SNI (list, wildcard, addServerName/removeServerName), default otherwise', async () => {
    const wildcard = certFor('*.wild.test');
    const { wss, port } = await listening({
      tls: [{ key: localhost.key, cert: localhost.cert }, { serverName: 'alpha.test', key: alpha.key, cert: alpha.cert }],
    });
    assert.equal(await presented(port, 'alpha.test'), 'alpha.test');
    assert.equal(await presented(port, 'localhost'), 'localhost');
    assert.equal(await presented(port, 'beta.test'), 'localhost');
    wss.addServerName('beta.test', { key: beta.key, cert: beta.cert });
    wss.addServerName('*.wild.test', { key: wildcard.key, cert: wildcard.cert });
    assert.equal(await presented(port, 'beta.test'), 'beta.test');
    assert.equal(await presented(port, 'x.wild.test'), '*.wild.test');
    wss.removeServerName('beta.test');
    assert.equal(await presented(port, 'beta.test'), 'localhost');
    // A client that checks the name connects to the certificate it asked for.
    const ws = connect(port, { servername: 'alpha.test', headers: { host: 'alpha.test' } });
    await withTimeout(once(ws, 'open'), 5000, 'open alpha.test');
    ws.close();
    await withTimeout(ws.closed, 5000, 'close');
    await withTimeout(wss.close(), 5000, 'wss.close');
  });

  it('setSecureContext swaps the certificate for new handshakes while open connections stay', async () => {
    const { wss, port } = await listening({ tls: { key: localhost.key, cert: localhost.cert } });
    const open = connect(port);
    await withTimeout(once(open, 'open'), 5000, 'open');
    wss.setSecureContext({ key: alpha.key, cert: alpha.cert });
    assert.equal(await presented(port, 'localhost'), 'alpha.test');
    open.send('still here');
    const [data] = await withTimeout(once(open, 'message'), 5000, 'echo after the swap');
    assert.equal(data.toString(), 'still here');
    open.close();
    await withTimeout(open.closed, 5000, 'close');
    await withTimeout(wss.close(), 5000, 'wss.close');
  });

  it('hostile: plaintext HTTP, garbage and a truncated record close cleanly, and nothing is left', async () => {
    const { wss, port } = await listening({ tls: { key: localhost.key, cert: localhost.cert }, handshakeTimeout: 1000 });
    const request = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    await closedAfter(port, Buffer.from(request));
    await closedAfter(port, Buffer.from('\x00\xff garbage garbage garbage\r\n\r\n', 'latin1'));
    // A TLS handshake record header announcing 512 bytes, then only 3 of them, then the FIN.
    await closedAfter(port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]), { end: true });
    // The same without a FIN: the handshake timeout closes it.
    await closedAfter(port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), { ms: 5000 });
    // A real client still gets through, and the core saw none of the above as a connection.
    const ws = connect(port);
    await withTimeout(once(ws, 'open'), 5000, 'open');
    assert.equal(wss.clients.size, 1);
    ws.close();
    await withTimeout(ws.closed, 5000, 'close');
    await withTimeout(wss.close(), 5000, 'wss.close');
  });

  it('the handshake timeout covers the TLS handshake and then the HTTP request', async () => {
    const { wss, port } = await listening({ tls: { key: localhost.key, cert: localhost.cert }, handshakeTimeout: 300 });
    // Silent after the TCP connect: no ClientHello.
    await closedAfter(port, Buffer.alloc(0), { ms: 5000 });
    // TLS done, but no HTTP request: the core's deadline.
    const socket = tls.connect({ host: '127.0.0.1', port, ca: caCert(), servername: 'localhost' });
    socket.on('error', () => {});
    await withTimeout(once(socket, 'secureConnect'), 5000, 'secureConnect');
    await withTimeout(once(socket, 'close'), 5000, 'closed after the handshake timeout');
    await withTimeout(wss.close(), 5000, 'wss.close');
  });

  it('refuses a tls option without a port', async () => {
    assert.throws(() => new WebSocketServer({ noServer: true, tls: {} }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new WebSocketServer({ port: 0, tls: 'cert' }), { code: 'ERR_INVALID_ARG_TYPE' });
    const plain = new WebSocketServer({ noServer: true });
    assert.throws(() => plain.setSecureContext({}), /tls/);
    await plain.close();
  });
});

describe('npm start -- --tls-cert FILE --tls-key FILE', { timeout: 30_000 }, () => {
  it('prints listening on wss://<host>:<port> and echoes over TLS', async () => {
    const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'echo-server.js'), '--port', '0', '--host', '127.0.0.1',
      '--tls-cert', localhost.certFile, '--tls-key', localhost.keyFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    child.stderr.on('data', (d) => { output += d; });
    const line = await withTimeout(new Promise((resolve) => {
      child.stdout.on('data', (d) => {
        output += d;
        const m = /^listening on wss:\/\/127\.0\.0\.1:(\d+)$/m.exec(output);
        if (m) resolve(Number(m[1]));
      });
    }), 10_000, `the listening line; output:\n${output}`);
    const ws = connect(line);
    await withTimeout(once(ws, 'open'), 5000, 'open');
    ws.send('fixed point');
    const [data] = await withTimeout(once(ws, 'message'), 5000, 'echo');
    assert.equal(data.toString(), 'fixed point');
    ws.close();
    await withTimeout(ws.closed, 5000, 'close');
    child.kill('SIGTERM');
    const [code] = await withTimeout(once(child, 'exit'), 5000, 'exit');
    assert.equal(code, 0, output);
    children.delete(child);
  });
});
