// Native TLS on epollws's own listeners (issue #13 §1): the `tls` option's settings with node:tls's
// names (certificate forms, versions, ciphers, curves, client certificates, session tickets), the
// TLS facts of the upgrade request's socket (checked against what the node:tls client, or a
// node:tls server given the same client, reports), configuration errors, and data under load: a
// client that stops reading while 8 MiB is sent, and 100 clients echoing at once.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes, X509Certificate } from 'node:crypto';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { caCert, certFor, pfxOf, protectedKey } from '../helpers/tls-certs.mjs';
import { buildRequest } from '../helpers/raw-ws.mjs';
import { sleep, until, withTimeout } from '../helpers/timeout.mjs';

const localhost = certFor('localhost');
const servers = new Set();

after(async () => {
  for (const wss of servers) await wss.close();
});

/** An echo server with `tls`; `requests` collects each upgrade request. */
async function listening(tlsOptions, extra = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', tls: tlsOptions, ...extra });
  servers.add(wss);
  const requests = [];
  wss.on('connection', (socket, request) => {
    requests.push(request);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await withTimeout(once(wss, 'listening'), 5000, 'listening');
  return { wss, port: wss.address().port, requests };
}

async function stop(wss) {
  await withTimeout(wss.close(), 5000, 'wss.close');
  servers.delete(wss);
}

function client(port, options = {}) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca: caCert(), maxPayload: 64 << 20, ...options });
  ws.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => {});
  return ws;
}

/** Opens a ws client; resolves with it and the server's request for it. */
async function opened(server, options = {}) {
  const before = server.requests.length;
  const ws = client(server.port, options);
  await withTimeout(once(ws, 'open'), 5000, 'open');
  await until(() => server.requests.length > before, 'the upgrade request');
  return { ws, request: server.requests[before] };
}

async function echoes(ws, payload) {
  ws.send(payload);
  const [data] = await withTimeout(once(ws, 'message'), 20_000, 'echo');
  assert.equal(Buffer.compare(data, Buffer.from(payload)), 0);
}

async function closeClient(ws) {
  ws.close(1000);
  assert.equal(await withTimeout(ws.closed, 5000, 'close'), 1000);
}

/** Asserts that a ws client with `options` does not get a connection; the server sees none. */
async function refused(server, options) {
  const before = server.requests.length;
  const ws = client(server.port, options);
  const outcome = await withTimeout(new Promise((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('error', (error) => resolve(error));
  }), 5000, 'the refusal');
  if (outcome === 'open') ws.terminate();
  assert.ok(outcome instanceof Error, 'the handshake succeeded');
  assert.equal(server.requests.length, before);
  return outcome;
}

/**
 * TLS by hand, then the opening handshake: resolves once the 101 head is in, with the socket, the
 * sessions the server gave it (TLS 1.3 tickets come after the handshake; the 101 follows them).
 */
async function upgraded(port, options = {}) {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: caCert(), servername: 'localhost', ...options });
  const sessions = [];
  socket.on('session', (session) => sessions.push(session));
  socket.on('error', () => {});
  await withTimeout(once(socket, 'secureConnect'), 5000, 'secureConnect');
  socket.write(buildRequest({ host: 'localhost', port }).text);
  let head = '';
  await withTimeout(new Promise((resolve) => socket.on('data', function onData(chunk) {
    head += chunk.toString('latin1');
    if (head.includes('\r\n\r\n')) resolve(socket.off('data', onData));
  })), 5000, 'the 101 response');
  assert.match(head, /^HTTP\/1\.1 101 /);
  // A resumed TLS 1.2 session may come without a new ticket; every full handshake gives one.
  if (sessions.length === 0 && !socket.isSessionReused()) await withTimeout(once(socket, 'session'), 5000, 'a session ticket');
  return { socket, session: sessions[0], reused: socket.isSessionReused() };
}

/** A port nothing listens on now. */
async function freePort() {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('native TLS: configuration', { timeout: 120_000 }, () => {
  it('serves a PEM chain, an encrypted key with passphrase, a pfx and an RSA certificate', async () => {
    const chained = certFor('localhost', { issuer: 'intermediate' });
    const rsa = certFor('localhost', { kind: 'rsa' });
    const forms = [
      // The client trusts only the root: the intermediate must come from the server's chain.
      { name: 'chain', tls: { key: chained.key, cert: chained.cert }, leaf: chained.leaf },
      { name: 'passphrase', tls: { key: protectedKey(localhost, 'open sesame'), passphrase: 'open sesame', cert: localhost.cert }, leaf: localhost.cert },
      { name: 'pfx', tls: { pfx: pfxOf(localhost, 'pfx pass'), passphrase: 'pfx pass' }, leaf: localhost.cert },
      { name: 'pem as Buffers', tls: { key: Buffer.from(localhost.key), cert: Buffer.from(localhost.cert) }, leaf: localhost.cert },
      { name: 'rsa', tls: { key: rsa.key, cert: rsa.cert }, leaf: rsa.cert, client: { maxVersion: 'TLSv1.2' }, cipher: /^ECDHE-RSA-/ },
    ];
    for (const form of forms) {
      const server = await listening(form.tls);
      const { ws } = await opened(server, form.client);
      assert.ok(ws._socket.getPeerCertificate().raw.equals(new X509Certificate(form.leaf).raw), form.name);
      if (form.cipher) assert.match(ws._socket.getCipher().name, form.cipher, form.name);
      await echoes(ws, `over ${form.name}`);
      await closeClient(ws);
      await stop(server.wss);
    }
  });

  it('a bad configuration throws EPOLLWS_TLS_CONFIG, saying what is wrong, and leaves nothing listening', async () => {
    const other = certFor('alpha.test');
    const encrypted = protectedKey(localhost, 'right');
    const pem = (label) => `-----BEGIN ${label}-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END ${label}-----\n`;
    const cases = [
      [{ key: 'garbage', cert: localhost.cert }, /key/i],
      [{ key: localhost.key, cert: 'garbage' }, /cert/i],
      [{ key: localhost.key, cert: pem('CERTIFICATE') }, /cert/i],
      [{ key: pem('PRIVATE KEY'), cert: localhost.cert }, /key/i],
      [{ key: other.key, cert: localhost.cert }, /match/i],
      [{ key: encrypted, passphrase: 'wrong', cert: localhost.cert }, /passphrase|decrypt/i],
      [{ key: encrypted, cert: localhost.cert }, /encrypted: give its passphrase/],
      [{ key: localhost.key, cert: localhost.cert, ALPNProtocols: ['h2'] }, /ALPNProtocols.*http\/1\.1/],
      [{ pfx: pfxOf(localhost, 'right'), passphrase: 'wrong' }, /pfx|pkcs|mac|passphrase|decrypt/i],
      [{ key: localhost.key, cert: localhost.cert, ticketKeys: randomBytes(32) }, /ticketKeys.*48|48.*ticketKeys/],
      [{ key: localhost.key, cert: localhost.cert, ciphers: 'NO-SUCH-CIPHER' }, /cipher/i],
    ];
    for (const [options, message] of cases) {
      const port = await freePort();
      assert.throws(() => new WebSocketServer({ port, host: '127.0.0.1', tls: options }), (error) => {
        assert.ok(error instanceof Error);
        assert.equal(error.code, 'EPOLLWS_TLS_CONFIG', `${error.message} (${Object.keys(options)})`);
        assert.match(error.message, message);
        return true;
      }, JSON.stringify(Object.keys(options)));
      // Nothing was bound: the port is free for another listener.
      const again = net.createServer().listen(port, '127.0.0.1');
      await withTimeout(once(again, 'listening'), 5000, `port ${port} free again`);
      await new Promise((resolve) => again.close(resolve));
    }
  });

  it('TLS 1.2 and TLS 1.3 each echo; request.socket reports the protocol and cipher the client negotiated', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert });
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      const { ws, request } = await opened(server, { minVersion: version, maxVersion: version });
      assert.equal(request.socket.encrypted, true);
      assert.equal(request.socket.getProtocol(), version);
      assert.equal(ws._socket.getProtocol(), version);
      const { name, version: cipherVersion } = ws._socket.getCipher();
      assert.deepEqual({ ...request.socket.getCipher(), standardName: undefined }, { name, version: cipherVersion, standardName: undefined });
      await echoes(ws, Buffer.alloc(100_000, version));
      await closeClient(ws);
    }
    await stop(server.wss);
  });

  it('minVersion and maxVersion refuse clients outside them; TLS 1.1 is refused by default', async () => {
    const only13 = await listening({ key: localhost.key, cert: localhost.cert, minVersion: 'TLSv1.3' });
    await refused(only13, { maxVersion: 'TLSv1.2' });
    assert.equal((await opened(only13)).request.socket.getProtocol(), 'TLSv1.3');
    const only12 = await listening({ key: localhost.key, cert: localhost.cert, maxVersion: 'TLSv1.2' });
    await refused(only12, { minVersion: 'TLSv1.3' });
    assert.equal((await opened(only12)).request.socket.getProtocol(), 'TLSv1.2');
    // A TLS 1.1 client that a node:tls server allowing TLS 1.0 takes: the default minimum is TLS 1.2.
    const old = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' };
    const reference = tls.createServer({ key: localhost.key, cert: localhost.cert, ...old, maxVersion: 'TLSv1.3' }, (s) => s.end());
    await once(reference.listen(0, '127.0.0.1'), 'listening');
    const probe = tls.connect({ port: reference.address().port, host: '127.0.0.1', ca: caCert(), servername: 'localhost', ...old });
    await withTimeout(once(probe, 'secureConnect'), 5000, 'the TLS 1.1 client on node:tls');
    assert.equal(probe.getProtocol(), 'TLSv1.1');
    probe.destroy();
    reference.close();
    const defaults = await listening({ key: localhost.key, cert: localhost.cert });
    await refused(defaults, old);
    for (const { wss } of [only13, only12, defaults]) {
      for (const ws of wss.clients) ws.terminate();
      await stop(wss);
    }
  });

  it('ciphers restricts the TLS 1.2 suite, its TLS_* names the TLS 1.3 suite; honorCipherOrder; ecdhCurve', async () => {
    const restricted = await listening({ key: localhost.key, cert: localhost.cert, ciphers: 'TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384' });
    const tls12 = await opened(restricted, { maxVersion: 'TLSv1.2' });
    assert.equal(tls12.request.socket.getCipher().name, 'ECDHE-ECDSA-AES256-GCM-SHA384');
    await refused(restricted, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    const tls13 = await opened(restricted);
    assert.equal(tls13.request.socket.getCipher().name, 'TLS_CHACHA20_POLY1305_SHA256');
    assert.equal(tls13.ws._socket.getCipher().name, 'TLS_CHACHA20_POLY1305_SHA256');
    await echoes(tls13.ws, 'chacha');
    // Two suites both sides have, in opposite orders: who chooses depends on honorCipherOrder.
    const serverOrder = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384';
    const clientOrder = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256' };
    const honoring = await listening({ key: localhost.key, cert: localhost.cert, ciphers: serverOrder, honorCipherOrder: true });
    assert.equal((await opened(honoring, clientOrder)).request.socket.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    const following = await listening({ key: localhost.key, cert: localhost.cert, ciphers: serverOrder, honorCipherOrder: false });
    assert.equal((await opened(following, clientOrder)).request.socket.getCipher().name, 'ECDHE-ECDSA-AES256-GCM-SHA384');
    // ecdhCurve: only P-384 for the key exchange, in TLS 1.2 and 1.3 (a TLS 1.2 client must list
    // P-256 too, for the certificate's ECDSA key).
    const p384 = await listening({ key: localhost.key, cert: localhost.cert, ecdhCurve: 'secp384r1' });
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      await refused(p384, { maxVersion: version, ecdhCurve: 'X25519:prime256v1' });
      const { ws } = await opened(p384, { maxVersion: version, ecdhCurve: 'X25519:prime256v1:secp384r1' });
      assert.equal(ws._socket.getEphemeralKeyInfo().name, 'secp384r1', version);
    }
    for (const { wss } of [restricted, honoring, following, p384]) {
      for (const ws of wss.clients) ws.terminate();
      await stop(wss);
    }
  });

  it('request.socket: encrypted, ALPN http/1.1 when offered, the SNI name, no peer certificate', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert });
    // By IP address, without ALPN: the ws client sends no SNI.
    const plain = await opened(server);
    assert.equal(plain.request.socket.encrypted, true);
    assert.equal(plain.request.socket.alpnProtocol, false);
    assert.equal(plain.request.socket.servername, false);
    assert.equal(plain.request.socket.isSessionReused(), false);
    assert.equal(plain.request.socket.authorized, false); // no client certificate was asked for
    assert.deepEqual(plain.request.socket.getPeerCertificate(), {});
    const named = await opened(server, { servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(named.request.socket.alpnProtocol, 'http/1.1');
    assert.equal(named.ws._socket.alpnProtocol, 'http/1.1');
    assert.equal(named.request.socket.servername, 'localhost');
    await echoes(named.ws, 'named');
    await closeClient(plain.ws);
    await closeClient(named.ws);
    await stop(server.wss);
  });
});

describe('native TLS: client certificates', { timeout: 60_000 }, () => {
  const member = certFor('member', { usage: 'client' });
  const stranger = certFor('stranger', { usage: 'client', issuer: 'other' });

  /** What a node:tls server with the same settings reports for a client: the reference. */
  async function nodeSees(clientOptions) {
    const reference = tls.createServer({ key: localhost.key, cert: localhost.cert, ca: caCert(), requestCert: true, rejectUnauthorized: false });
    await once(reference.listen(0, '127.0.0.1'), 'listening');
    const seen = new Promise((resolve) => reference.once('secureConnection', (s) => {
      resolve({ authorized: s.authorized, authorizationError: s.authorizationError, peer: s.getPeerCertificate() });
      s.end();
    }));
    const socket = tls.connect({ port: reference.address().port, host: '127.0.0.1', ca: caCert(), servername: 'localhost', ...clientOptions });
    socket.on('error', () => {});
    const result = await withTimeout(seen, 5000, 'node:tls reference');
    socket.destroy();
    reference.close();
    return result;
  }

  it('a certificate from `ca` is authorized and described as node:tls describes it', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert, ca: caCert(), requestCert: true });
    const { ws, request } = await opened(server, { key: member.key, cert: member.cert });
    const expected = await nodeSees({ key: member.key, cert: member.cert });
    assert.equal(request.socket.authorized, true);
    assert.equal(request.socket.authorizationError ?? undefined, undefined); // node:tls has null here
    const peer = request.socket.getPeerCertificate();
    assert.equal(peer.subject.CN, 'member');
    assert.equal(peer.issuer.CN, 'epollws test CA');
    for (const field of ['subject', 'issuer']) assert.deepEqual({ ...peer[field] }, { ...expected.peer[field] }, field);
    for (const field of ['valid_from', 'valid_to', 'fingerprint256', 'serialNumber']) assert.equal(peer[field], expected.peer[field], field);
    assert.ok(Buffer.isBuffer(peer.raw) && peer.raw.equals(expected.peer.raw));
    await echoes(ws, 'member');
    await closeClient(ws);
    await stop(server.wss);
  });

  it('rejectUnauthorized (the default) refuses no certificate and an untrusted one; false lets them in, unauthorized', async () => {
    const strict = await listening({ key: localhost.key, cert: localhost.cert, ca: caCert(), requestCert: true });
    for (const version of ['TLSv1.2', 'TLSv1.3']) {
      await refused(strict, { maxVersion: version });
      await refused(strict, { maxVersion: version, key: stranger.key, cert: stranger.cert });
    }
    assert.equal(strict.wss.clients.size, 0);
    const lax = await listening({ key: localhost.key, cert: localhost.cert, ca: caCert(), requestCert: true, rejectUnauthorized: false });
    const untrusted = await opened(lax, { key: stranger.key, cert: stranger.cert });
    const expected = await nodeSees({ key: stranger.key, cert: stranger.cert });
    assert.equal(untrusted.request.socket.authorized, false);
    assert.equal(expected.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.equal(untrusted.request.socket.authorizationError, expected.authorizationError);
    assert.equal(untrusted.request.socket.getPeerCertificate().subject.CN, 'stranger');
    const none = await opened(lax);
    assert.equal(none.request.socket.authorized, false);
    assert.equal(typeof none.request.socket.authorizationError, 'string');
    assert.deepEqual(none.request.socket.getPeerCertificate(), {});
    await echoes(none.ws, 'no certificate');
    await closeClient(untrusted.ws);
    await closeClient(none.ws);
    await stop(strict.wss);
    await stop(lax.wss);
  });
  it('an SNI entry\'s own requestCert applies to the handshakes it serves, the default\'s to the rest', async () => {
    const secure = certFor('secure.test');
    const server = await listening([
      { key: localhost.key, cert: localhost.cert },
      { serverName: 'secure.test', key: secure.key, cert: secure.cert, ca: caCert(), requestCert: true },
    ]);
    const sni = { servername: 'secure.test', headers: { host: 'secure.test' } };
    await refused(server, sni); // no client certificate for the name that asks for one
    const { ws, request } = await opened(server, { ...sni, key: member.key, cert: member.cert });
    assert.equal(request.socket.servername, 'secure.test');
    assert.equal(request.socket.authorized, true);
    assert.equal(request.socket.getPeerCertificate().subject.CN, 'member');
    const plain = await opened(server); // the default asks for none
    assert.deepEqual(plain.request.socket.getPeerCertificate(), {});
    await closeClient(ws);
    await closeClient(plain.ws);
    await stop(server.wss);
  });

  it('a resumed session keeps the client certificate: authorized, the same peer (TLS 1.3 and 1.2)', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert, ca: caCert(), requestCert: true });
    for (const version of ['TLSv1.3', 'TLSv1.2']) {
      const first = await upgraded(server.port, { maxVersion: version, key: member.key, cert: member.cert });
      const again = await upgraded(server.port, { maxVersion: version, key: member.key, cert: member.cert, session: first.session });
      assert.equal(again.reused, true, version);
      const { socket } = server.requests.at(-1);
      assert.equal(socket.isSessionReused(), true);
      assert.equal(socket.authorized, true);
      assert.equal(socket.getPeerCertificate().subject.CN, 'member');
      first.socket.destroy();
      again.socket.destroy();
    }
    await stop(server.wss);
  });
});

describe('native TLS: sessions', { timeout: 60_000 }, () => {
  it('servers given the same ticketKeys resume each other\'s sessions (TLS 1.3 and 1.2); other keys do not', async () => {
    const keys = randomBytes(48);
    const a = await listening({ key: localhost.key, cert: localhost.cert, ticketKeys: keys });
    const b = await listening({ key: localhost.key, cert: localhost.cert, ticketKeys: Buffer.from(keys) });
    const c = await listening({ key: localhost.key, cert: localhost.cert });
    assert.ok(a.wss.getTicketKeys().equals(keys));
    assert.equal(c.wss.getTicketKeys().length, 48);
    assert.ok(!c.wss.getTicketKeys().equals(keys));
    for (const version of ['TLSv1.3', 'TLSv1.2']) {
      const first = await upgraded(a.port, { maxVersion: version });
      assert.equal(first.reused, false);
      assert.equal(a.requests.at(-1).socket.isSessionReused(), false);
      const again = await upgraded(b.port, { maxVersion: version, session: first.session });
      assert.equal(again.reused, true, `${version} resumed on the other server`);
      assert.equal(b.requests.at(-1).socket.isSessionReused(), true);
      assert.equal(b.requests.at(-1).socket.getProtocol(), version);
      const elsewhere = await upgraded(c.port, { maxVersion: version, session: first.session });
      assert.equal(elsewhere.reused, false, `${version} resumed under other keys`);
      assert.equal(c.requests.at(-1).socket.isSessionReused(), false);
      for (const { socket } of [first, again, elsewhere]) socket.destroy();
    }
    // setTicketKeys: c takes a's keys, so a's tickets now resume there.
    c.wss.setTicketKeys(keys);
    assert.ok(c.wss.getTicketKeys().equals(keys));
    const ticket = await upgraded(a.port);
    const moved = await upgraded(c.port, { session: ticket.session });
    assert.equal(moved.reused, true);
    assert.equal(c.requests.at(-1).socket.isSessionReused(), true);
    assert.throws(() => c.wss.setTicketKeys(randomBytes(47)));
    ticket.socket.destroy();
    moved.socket.destroy();
    for (const { wss } of [a, b, c]) await stop(wss);
  });

  it('a session older than sessionTimeout is not resumed', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert, sessionTimeout: 2 });
    const fresh = await upgraded(server.port);
    const resumed = await upgraded(server.port, { session: fresh.session });
    assert.equal(resumed.reused, true, 'resumed within the timeout');
    const old = await upgraded(server.port);
    await sleep(3500); // past the 2 s; OpenSSL keeps session times in whole seconds
    const late = await upgraded(server.port, { session: old.session });
    assert.equal(late.reused, false);
    assert.equal(server.requests.at(-1).socket.isSessionReused(), false);
    for (const { socket } of [fresh, resumed, old, late]) socket.destroy();
    await stop(server.wss);
  });
});

describe('native TLS: data under load', { timeout: 120_000 }, () => {
  it('a client that stops reading while 8 MiB is sent gets it all, in order, once it reads again', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert });
    const { ws } = await opened(server);
    const [sender] = server.wss.clients;
    ws.pause(); // ws stops reading its TLS socket
    const count = 128;
    for (let i = 0; i < count; i++) {
      const message = Buffer.alloc(64 << 10, i & 0xff);
      message.writeUInt32BE(i, 0);
      sender.send(message);
    }
    await sleep(300); // the kernel's buffers fill; the rest must wait in the server
    const held = sender.bufferedAmount;
    assert.ok(held > 0, `bufferedAmount ${held} while the client is not reading`);
    const received = [];
    ws.on('message', (data) => received.push(data));
    ws.resume();
    while (received.length < count) await withTimeout(once(ws, 'message'), 10_000, `message ${received.length}`);
    received.forEach((data, i) => {
      assert.equal(data.length, 64 << 10);
      assert.equal(data.readUInt32BE(0), i);
      assert.ok(data.subarray(4).every((b) => b === (i & 0xff)), `message ${i} intact`);
    });
    await until(() => sender.bufferedAmount === 0, "the server's bufferedAmount to return to 0");
    await closeClient(ws);
    await stop(server.wss);
  });

  it('100 clients at once echo messages of 1 KiB to 256 KiB', async () => {
    const server = await listening({ key: localhost.key, cert: localhost.cert }, { maxPayload: 1 << 20 });
    const one = async (i) => {
      const ws = client(server.port);
      await withTimeout(once(ws, 'open'), 20_000, `client ${i} open`);
      for (const shift of [i % 9, (i + 3) % 9, (i + 6) % 9]) await echoes(ws, randomBytes(1024 << shift));
      return ws;
    };
    const clients = await Promise.all(Array.from({ length: 100 }, (_, i) => one(i)));
    assert.equal(server.wss.clients.size, 100);
    await Promise.all(clients.map(closeClient));
    await until(() => server.wss.clients.size === 0, 'wss.clients to empty');
    await stop(server.wss);
  });
});
