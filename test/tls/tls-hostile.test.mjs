// Hostile peers on a `tls` port (issue #13 §4), beyond tls-option.test.mjs's plaintext, garbage and
// truncated-record cases: bytes that cannot start a TLS handshake, a ClientHello and then silence,
// TCP resets at each stage, forged or corrupted records after a valid handshake, renegotiation, and
// a flood of handshakes next to an open connection. Each must end in a closed connection, with no
// client left in wss.clients and the server still serving a normal client.
//
// The forging client is node:tls speaking through a Duplex (`piped`), so the test holds the TCP
// socket underneath: it can write records of its own, alter the client's, or reset.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { caCert, certFor } from '../helpers/tls-certs.mjs';
import { buildRequest, encodeFrame } from '../helpers/raw-ws.mjs';
import { sleep, until, withTimeout } from '../helpers/timeout.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const localhost = certFor('localhost');
const servers = new Set();
const children = new Set();

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const wss of servers) await wss.close();
});

/** An echo server; each server-side socket gets `closed` (its close code). */
async function listening(extra = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', tls: { key: localhost.key, cert: localhost.cert }, ...extra });
  servers.add(wss);
  const sockets = [];
  wss.on('connection', (socket) => {
    socket.closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)));
    sockets.push(socket);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await withTimeout(once(wss, 'listening'), 5000, 'listening');
  return { wss, port: wss.address().port, sockets };
}

/** No client left, then a normal wss client still echoes; the server is closed afterwards. */
async function stillServes({ wss, port }, close = true) {
  await until(() => wss.clients.size === 0, 'wss.clients to empty');
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca: caCert() });
  ws.on('error', () => {});
  await withTimeout(once(ws, 'open'), 5000, 'a normal client to open');
  ws.send('still serving');
  const [data] = await withTimeout(once(ws, 'message'), 5000, 'the echo');
  assert.equal(data.toString(), 'still serving');
  ws.close();
  await withTimeout(once(ws, 'close'), 5000, 'close');
  if (close) {
    await withTimeout(wss.close(), 5000, 'wss.close');
    servers.delete(wss);
  }
}

async function tcp(port) {
  const raw = net.connect({ host: '127.0.0.1', port });
  raw.on('error', () => {});
  raw.received = [];
  raw.on('data', (chunk) => raw.received.push(chunk));
  raw.gone = new Promise((resolve) => raw.once('close', resolve));
  await withTimeout(once(raw, 'connect'), 5000, 'connect');
  return raw;
}

function closed(raw, what, ms = 5000) {
  return withTimeout(raw.gone, ms, `the server to close the connection (${what})`);
}

/** The first flight of a node:tls client: one ClientHello record. */
async function clientHello(options = {}) {
  let socket;
  const hello = await new Promise((resolve) => {
    const pipe = new Duplex({ read() {}, write(chunk, _encoding, callback) { resolve(Buffer.from(chunk)); callback(); } });
    socket = tls.connect({ socket: pipe, servername: 'localhost', ...options });
    socket.on('error', () => {});
  });
  socket.destroy();
  assert.equal(hello[0], 0x16);
  return hello;
}

/**
 * A node:tls client over a Duplex whose other end is `raw` (a TCP socket to the server):
 * `wire.tamper`, when set, alters the client's next write (then is cleared).
 */
async function piped(port, options = {}) {
  const raw = await tcp(port);
  const wire = { tamper: null };
  const pipe = new Duplex({
    read() {},
    write(chunk, _encoding, callback) {
      let bytes = Buffer.from(chunk);
      if (wire.tamper) [bytes, wire.tamper] = [wire.tamper(bytes), null];
      if (!raw.destroyed) raw.write(bytes);
      callback();
    },
    final(callback) { raw.end(); callback(); },
  });
  raw.on('data', (chunk) => pipe.push(chunk));
  raw.on('end', () => pipe.push(null));
  const secure = tls.connect({ socket: pipe, ca: caCert(), servername: 'localhost', ...options });
  secure.on('error', () => {});
  await withTimeout(once(secure, 'secureConnect'), 5000, 'secureConnect');
  return { raw, secure, wire };
}

/** `piped`, then the opening handshake: resolves once the 101 head is in, with the server's socket. */
async function pipedWebSocket(server, options) {
  const before = server.sockets.length;
  const link = await piped(server.port, options);
  link.secure.write(buildRequest({ host: 'localhost', port: server.port }).text);
  let head = '';
  await withTimeout(new Promise((resolve) => link.secure.on('data', function onData(chunk) {
    head += chunk.toString('latin1');
    if (head.includes('\r\n\r\n')) resolve(link.secure.off('data', onData));
  })), 5000, 'the 101 response');
  assert.match(head, /^HTTP\/1\.1 101 /);
  await until(() => server.sockets.length > before, 'the server-side socket');
  return { ...link, peer: server.sockets[before] };
}

describe('hostile peers on a tls port', { timeout: 120_000 }, () => {
  it('bytes that cannot begin a TLS handshake are refused at once, not at the handshake timeout', async () => {
    // The timeout is far past the wait below: a close in time is the server's answer to the bytes.
    const server = await listening({ handshakeTimeout: 60_000 });
    const hello = await clientHello();
    const cases = {
      'HTTP/2 preface': Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      'SSL 2.0 ClientHello': Buffer.concat([Buffer.from([0x80, 0x25, 0x01, 0x00, 0x02, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x10]),
        Buffer.from([0x07, 0x00, 0xc0, 0x05, 0x00, 0x80, 0x03, 0x00, 0x80, 0x01, 0x00, 0x80]), randomBytes(16)]),
      'a handshake record announcing 65535 bytes': Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01]),
      'application data before any handshake': Buffer.from([0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]),
      'an alert instead of a ClientHello': Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
      'a ServerHello from the client': Buffer.from([0x16, 0x03, 0x03, 0x00, 0x08, 0x02, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00]),
      'a ClientHello with its length field cut': Buffer.concat([hello.subarray(0, 5), Buffer.from([0x01, 0xff, 0xff, 0xff]), hello.subarray(9)]),
      'a ClientHello, then a ClientHello record with garbage': Buffer.concat([hello, Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef])]),
    };
    for (const [what, bytes] of Object.entries(cases)) {
      const raw = await tcp(server.port);
      raw.write(bytes);
      await closed(raw, what);
    }
    await stillServes(server);
  });

  it('a ClientHello then silence is answered, then closed at the handshake timeout; 50 of them hold up no one', async () => {
    const server = await listening({ handshakeTimeout: 500 });
    const hello = await clientHello();
    const stalled = await Promise.all(Array.from({ length: 50 }, () => tcp(server.port)));
    for (const raw of stalled) raw.write(hello);
    // While they wait, a normal client gets through.
    await stillServes(server, false);
    for (const raw of stalled) await closed(raw, 'ClientHello then silence');
    for (const raw of stalled) assert.equal(Buffer.concat(raw.received)[0], 0x16, 'the server answered the ClientHello');
    await stillServes(server);
  });

  it('a TCP reset in the handshake, in the request, in a record and on an open connection', async () => {
    const server = await listening();
    // After the server's first flight.
    const early = await tcp(server.port);
    early.write(await clientHello());
    while (early.received.length === 0) await withTimeout(once(early, 'data'), 5000, 'the server hello');
    early.resetAndDestroy();
    // TLS done, half an HTTP request.
    const midRequest = await piped(server.port);
    midRequest.secure.write('GET / HTTP/1.1\r\nHost: local');
    await sleep(50);
    midRequest.raw.resetAndDestroy();
    // Upgraded: the server-side socket closes as abnormal (1006).
    const open = await pipedWebSocket(server);
    open.raw.resetAndDestroy();
    assert.equal(await withTimeout(open.peer.closed, 5000, 'the server socket to close'), 1006);
    // Upgraded, then half of a record (the client's next write is cut), then the reset.
    const cut = await pipedWebSocket(server);
    cut.wire.tamper = (bytes) => bytes.subarray(0, bytes.length >> 1);
    cut.secure.write(encodeFrame({ payload: randomBytes(2000) }));
    await sleep(50);
    cut.raw.resetAndDestroy();
    assert.equal(await withTimeout(cut.peer.closed, 5000, 'the server socket to close'), 1006);
    await stillServes(server);
  });

  it('forged, corrupted and oversized records after a valid handshake close the connection', async () => {
    const server = await listening();
    const record = (type, body) => Buffer.concat([Buffer.from([type, 0x03, 0x03, body.length >> 8, body.length & 0xff]), body]);
    // Before the HTTP request: an application-data record that no key decrypts.
    const early = await piped(server.port);
    early.raw.write(record(0x17, randomBytes(100)));
    await closed(early.raw, 'a forged record before the request');
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      const cases = {
        'a forged application-data record': (link) => link.raw.write(record(0x17, randomBytes(300))),
        // The client's own record, one bit changed in its last byte (the authentication tag).
        'a corrupted genuine record': (link) => {
          link.wire.tamper = (bytes) => { bytes[bytes.length - 1] ^= 0x01; return bytes; };
          link.secure.write(encodeFrame({ payload: 'tampered' }));
        },
        // The longest record is 2^14 + 2048 bytes: this header alone must end it, without a FIN.
        'a record header announcing 65535 bytes': (link) => link.raw.write(Buffer.from([0x17, 0x03, 0x03, 0xff, 0xff])),
        'plaintext where records belong': (link) => link.raw.write('GET / HTTP/1.1\r\n\r\n'),
        'a handshake record in the connection': (link) => link.raw.write(record(0x16, randomBytes(40))),
      };
      for (const [what, send] of Object.entries(cases)) {
        const link = await pipedWebSocket(server, { maxVersion: version, minVersion: version });
        send(link);
        await closed(link.raw, `${what}, ${version}`);
        assert.equal(await withTimeout(link.peer.closed, 5000, 'the server socket to close'), 1006, what);
      }
    }
    await stillServes(server);
  });

  it('renegotiation is refused; the server keeps serving', async () => {
    const server = await listening();
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca: caCert(), servername: 'localhost', maxVersion: 'TLSv1.2' });
    socket.on('error', () => {});
    await withTimeout(once(socket, 'secureConnect'), 5000, 'secureConnect');
    socket.write(buildRequest({ host: 'localhost', port: server.port }).text);
    await withTimeout(once(socket, 'data'), 5000, 'the 101 response');
    const outcome = await withTimeout(new Promise((resolve) => {
      socket.once('close', () => resolve('closed'));
      const started = socket.renegotiate({ rejectUnauthorized: true, ca: caCert() }, (error) => resolve(error ?? 'renegotiated'));
      assert.equal(started, true, 'the client could not start a renegotiation');
    }), 5000, 'the renegotiation to fail');
    socket.destroy();
    assert.notEqual(outcome, 'renegotiated');
    await stillServes(server);
  });

  it('a flood of TLS handshakes does not starve an open connection', async () => {
    // 1,000 ClientHellos at once from a child process (test/helpers/tls-flood.mjs says why not
    // node:tls clients), while the child also does 20 echo round trips, one at a time, on a
    // connection opened before the flood. A server that took every pending handshake in one turn
    // would answer the first echo only after the whole flood; one that budgets handshakes per turn
    // answers each echo within a few turns' worth of them.
    const count = 1000;
    const echoes = 20;
    const server = await listening({ handshakeTimeout: 60_000, backlog: 2048 });
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = fork(path.join(HERE, '..', 'helpers', 'tls-flood.mjs'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    const next = (type) => new Promise((resolve, reject) => child.on('message', function onMessage(message) {
      if (message.type === 'error') reject(new Error(`the flood process: ${message.message}`));
      if (message.type === type) resolve(message, child.off('message', onMessage));
    }));
    const all = next('all');
    const echoed = next('echoed');
    child.send({ type: 'start', port: server.port, ca: caCert(), hello: (await clientHello()).toString('base64'), count, echoes });
    // answered[i]: ClientHellos the server had answered when echo i came back.
    const { answered } = await withTimeout(echoed, 60_000, 'the echoes during the flood');
    assert.equal(answered.length, echoes);
    assert.ok(answered[0] < count / 2, `the first echo came back only after ${answered[0]} of ${count} handshakes: ${answered}`);
    assert.ok(answered[4] < count, `5 echoes took the whole flood: ${answered}`);
    // And the flood itself is answered in full.
    const end = await withTimeout(all, 60_000, 'every flood ClientHello to be answered');
    assert.deepEqual({ answered: end.answered, failed: end.failed }, { answered: count, failed: 0 });
    child.send({ type: 'stop' });
    await withTimeout(once(child, 'exit'), 10_000, 'the flood process to exit');
    children.delete(child);
    await stillServes(server);
  });
});
