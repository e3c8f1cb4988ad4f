// Request parsing: the UPGRADE payload ("address\0port\0family\0head", lib/core.ts) and the
// CLIENT_ERROR payload ("reason\0address\0port") decoded into what the user sees.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../dist/core.js';
import { normalizeOptions } from '../../dist/options.js';
import { WebSocketServer } from '../../dist/index.mjs';
import { FakeServer, constants, fakeBinding } from './fake-binding.mjs';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const head = (lines = [], requestLine = 'GET /chat?room=1&x=%20 HTTP/1.1') =>
  `${requestLine}\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
  `Sec-WebSocket-Version: 13\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;

/** A Core over the fake binding whose events are recorded; upgrade() keeps the requests. */
function recordingCore(options = {}) {
  const seen = { requests: [], clientErrors: [] };
  const events = new Proxy({}, { get: (_, name) => (...args) => {
    if (name === 'upgrade') seen.requests.push(args[2]);
    else if (name === 'clientError') seen.clientErrors.push(args);
  } });
  new Core(fakeBinding, normalizeOptions({ noServer: true, ...options }, constants.DEFAULTS), events);
  return { fake: FakeServer.last, seen };
}

function requestFor(headText, address, port, family) {
  const { fake, seen } = recordingCore();
  fake.clientConnects(headText, address, port, family);
  fake.turn();
  assert.equal(seen.requests.length, 1);
  return seen.requests[0];
}

describe('unit: upgrade request parsing', () => {
  it('the request line: method, url as sent, version', () => {
    const request = requestFor(head());
    assert.equal(request.method, 'GET');
    assert.equal(request.url, '/chat?room=1&x=%20');
    assert.equal(request.httpVersion, '1.1');
    assert.equal(requestFor(head([], 'GET / HTTP/1.0')).httpVersion, '1.0');
    assert.equal(requestFor(head([], 'GET http://example.com/a?b HTTP/1.1')).url, 'http://example.com/a?b');
  });

  it('an IPv4 peer: address, port and family from the payload', () => {
    assert.deepEqual(requestFor(head(), '203.0.113.9', 65535, 4).socket, { remoteAddress: '203.0.113.9', remotePort: 65535, remoteFamily: 'IPv4' });
  });

  it('an IPv6 peer, and an IPv4 client of a dual-stack listener (a mapped address, family 6)', () => {
    assert.deepEqual(requestFor(head(), '2001:db8::1', 443, 6).socket, { remoteAddress: '2001:db8::1', remotePort: 443, remoteFamily: 'IPv6' });
    assert.deepEqual(requestFor(head(), '::ffff:192.0.2.7', 1, 6).socket, { remoteAddress: '::ffff:192.0.2.7', remotePort: 1, remoteFamily: 'IPv6' });
    assert.deepEqual(requestFor(head(), '::1', 0, 6).socket, { remoteAddress: '::1', remotePort: 0, remoteFamily: 'IPv6' });
  });

  it('a PROXY-given source is taken as given: the family is the header\'s, not guessed from the text', () => {
    // The core puts the PROXY header's source in the payload in place of the socket's.
    assert.equal(requestFor(head(), '2001:db8::42', 51000, 6).socket.remoteFamily, 'IPv6');
    assert.equal(requestFor(head(), '198.51.100.3', 51000, 4).socket.remoteFamily, 'IPv4');
  });

  it('header names lower-cased in headers, kept as sent in rawHeaders; values trimmed', () => {
    const request = requestFor(head(['X-Custom-Header:   spaced value \t', 'x-EMPTY:', 'ORIGIN: https://app.example']));
    assert.equal(request.headers['x-custom-header'], 'spaced value');
    assert.equal(request.headers['x-empty'], '');
    assert.equal(request.headers.origin, 'https://app.example');
    assert.equal(request.headers['sec-websocket-key'], KEY);
    assert.equal(request.headers['X-Custom-Header'], undefined);
    assert.deepEqual(request.rawHeaders.slice(-6), ['X-Custom-Header', 'spaced value', 'x-EMPTY', '', 'ORIGIN', 'https://app.example']);
    assert.deepEqual(request.rawHeaders.slice(0, 2), ['Host', 'example.com']);
  });

  it('a value with a colon, and bytes over 0x7f read as latin1 (as node:http does)', () => {
    const request = requestFor(head(['X-Time: 12:30:00', 'X-Name: caf\u00c3\u00a9']));
    assert.equal(request.headers['x-time'], '12:30:00');
    assert.equal(request.headers['x-name'], 'caf\u00c3\u00a9');
    assert.equal(Buffer.from(request.headers['x-name'], 'latin1').toString(), 'caf\u00e9');
  });

  it('repeated headers: joined with ", ", cookies with "; ", each kept in rawHeaders', () => {
    const request = requestFor(head(['Accept: a', 'X-Forwarded-For: 10.0.0.1', 'accept: b', 'Cookie: a=1', 'x-forwarded-for: 10.0.0.2', 'COOKIE: b=2']));
    assert.equal(request.headers.accept, 'a, b');
    assert.equal(request.headers['x-forwarded-for'], '10.0.0.1, 10.0.0.2');
    assert.equal(request.headers.cookie, 'a=1; b=2');
    assert.equal(request.rawHeaders.filter((v, i) => i % 2 === 0 && v.toLowerCase() === 'accept').length, 2);
  });

  it('repeated headers of which node:http keeps the first (User-Agent, Authorization, ...): the first, as node does', async () => {
    const lines = ['User-Agent: first', 'Authorization: Bearer a', 'X-Multi: 1', 'user-agent: second', 'authorization: Bearer b', 'x-multi: 2', 'Referer: https://a.example/', 'Referer: https://b.example/'];
    const ours = requestFor(head(lines)).headers;
    // node:http's own parse of the same request head, over a real loopback connection.
    const http = await import('node:http');
    const net = await import('node:net');
    const server = http.createServer();
    const theirs = await new Promise((resolve, reject) => {
      server.on('upgrade', (request, socket) => { socket.destroy(); resolve(request.headers); });
      server.listen(0, '127.0.0.1', () => {
        const client = net.connect(server.address().port, '127.0.0.1', () => client.write(head(lines)));
        client.on('error', reject);
      });
    });
    server.close();
    for (const name of ['user-agent', 'authorization', 'referer', 'x-multi', 'host', 'sec-websocket-key']) {
      assert.equal(ours[name], theirs[name], name);
    }
    assert.equal(ours['user-agent'], 'first');
    assert.equal(ours['x-multi'], '1, 2');
  });

  it('offeredProtocols finds the header in any case without parsing the rest, and repeated lines join', () => {
    assert.equal(requestFor(head()).offeredProtocols(), undefined);
    assert.equal(requestFor(head(['sec-websocket-PROTOCOL: a, b'])).offeredProtocols(), 'a, b');
    assert.equal(requestFor(head(['Sec-WebSocket-Protocol: a', 'Sec-WebSocket-Protocol: b'])).offeredProtocols(), 'a, b');
    // A header whose name only ends like it is another header.
    assert.equal(requestFor(head(['X-Sec-WebSocket-Protocol: a'])).offeredProtocols(), undefined);
  });

  it('CLIENT_ERROR: the failure as reason and status (closeCode is for close frames), the peer and its family', () => {
    const { fake, seen } = recordingCore();
    fake.clientRefused(1, '2001:db8::5', 4242);
    fake.clientRefused(1, '192.0.2.8', 80);
    fake.turn();
    const [[, , v6Error, v6Socket], [, , v4Error, v4Socket]] = seen.clientErrors;
    assert.equal(v6Error.message, 'Missing or invalid Sec-WebSocket-Key header');
    assert.equal(v6Error.code, 'WS_ERR_INVALID_HANDSHAKE');
    assert.equal(v6Error.reason, 'INVALID_KEY');
    assert.equal(v6Error.status, 400);
    assert.equal(v6Error.closeCode, undefined);
    assert.deepEqual(v6Socket, { remoteAddress: '2001:db8::5', remotePort: 4242, remoteFamily: 'IPv6' });
    assert.equal(v4Error.status, 400);
    assert.deepEqual(v4Socket, { remoteAddress: '192.0.2.8', remotePort: 80, remoteFamily: 'IPv4' });
  });
});

describe('unit: what the server makes of the request', () => {
  function accept(options, lines, address) {
    const wss = new WebSocketServer({ noServer: true, nativeBinding: fakeBinding, ...options });
    const fake = FakeServer.last;
    const got = [];
    wss.on('connection', (socket, request) => got.push({ socket, request }));
    const id = fake.clientConnects(head(lines), address);
    fake.turn();
    return { fake, got, written: fake.connections.get(id.slot)?.written ?? [] };
  }

  it('clientAddress: the connection\'s source, or the first X-Forwarded-For entry under trustProxy', () => {
    const lines = ['X-Forwarded-For:  198.51.100.1 , 10.0.0.1', 'X-Forwarded-For: 10.0.0.2'];
    assert.equal(accept({}, lines, '2001:db8::9').got[0].request.clientAddress, '2001:db8::9');
    assert.equal(accept({ trustProxy: true }, lines, '2001:db8::9').got[0].request.clientAddress, '198.51.100.1');
    assert.equal(accept({ trustProxy: true }, [], '192.0.2.4').got[0].request.clientAddress, '192.0.2.4');
  });

  it('the first offered subprotocol is chosen; a repeated or malformed list gets 400', () => {
    assert.equal(accept({}, ['Sec-WebSocket-Protocol: b, a']).got[0].socket.protocol, 'b');
    for (const lines of [['Sec-WebSocket-Protocol: a, a'], ['Sec-WebSocket-Protocol: a', 'Sec-WebSocket-Protocol: a'], ['Sec-WebSocket-Protocol: a;b']]) {
      const { fake, got } = accept({}, lines);
      assert.equal(got.length, 0, lines.join(' | '));
      assert.equal(fake.connections.size, 0);
      assert.deepEqual(fake.rejected.map((r) => [r.status, r.body]), [[400, 'Invalid Sec-WebSocket-Protocol header']]);
    }
  });
});
