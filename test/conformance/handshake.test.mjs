// The opening handshake (RFC 6455 section 4): valid variants, byte-by-byte delivery, pipelined frames,
// and every rejection status.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, echoOnce } from '../helpers/conformance.mjs';
import { spawnServer } from '../helpers/spawn-server.mjs';
import { RawClient, OP, buildRequest, computeAccept, encodeFrame, requestStatus } from '../helpers/raw-ws.mjs';

function check101(head, key) {
  assert.equal(head.status, 101, `expected 101, got: ${head.statusLine}`);
  assert.equal(head.headers['upgrade']?.toLowerCase(), 'websocket', 'Upgrade header');
  assert.ok(head.headers['connection']?.toLowerCase().split(/\s*,\s*/).includes('upgrade'), 'Connection header');
  assert.equal(head.headers['sec-websocket-accept'], computeAccept(key), 'Sec-WebSocket-Accept');
  assert.equal(head.headers['sec-websocket-extensions'], undefined, 'no extension was negotiated');
}

describe('handshake', { timeout: 120_000 }, () => {
  const srv = useServer();

  it('computes the RFC 6455 sample accept key', () => {
    assert.equal(computeAccept('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  async function handshake(reqOpts, { chopped = false, pipelined } = {}) {
    const c = await srv.connect();
    const { text, key } = buildRequest({ host: srv.host, port: srv.port, ...reqOpts });
    const bytes = pipelined ? Buffer.concat([Buffer.from(text, 'latin1'), pipelined]) : Buffer.from(text, 'latin1');
    if (chopped) await c.writeChopped(bytes, 1, 16); else c.write(bytes);
    const head = await c.readHead();
    check101(head, key);
    return c;
  }

  it('accepts a plain request and echoes', { timeout: 10_000 }, async () => {
    const c = await handshake({});
    await echoOnce(c, 'hello');
  });

  it('accepts a request with extra headers (Origin, User-Agent, Cookie, Pragma, ...)', { timeout: 10_000 }, async () => {
    const c = await handshake({
      path: '/some/path?query=1&x=y',
      headers: {
        Origin: 'http://127.0.0.1', 'User-Agent': 'epollws-conformance/1.0', Pragma: 'no-cache',
        'Cache-Control': 'no-cache', Cookie: 'a=b; c=d', 'Accept-Encoding': 'gzip, deflate', 'X-Custom': 'y',
      },
    });
    await echoOnce(c, 'extra headers');
  });

  it('accepts Connection: keep-alive, Upgrade', { timeout: 10_000 }, async () => {
    const c = await handshake({ headers: { Connection: 'keep-alive, Upgrade' } });
    await echoOnce(c, 'keep-alive');
  });

  it('accepts Upgrade: WebSocket and lower/odd-case header names', { timeout: 10_000 }, async () => {
    const c = await handshake({ headers: { Upgrade: null, Connection: null, 'sec-websocket-version': null, upgrade: 'WebSocket', CONNECTION: 'upgrade', 'SEC-WEBSOCKET-VERSION': '13' } });
    await echoOnce(c, 'case');
  });

  it('accepts a request written one byte per write', { timeout: 20_000 }, async () => {
    const c = await handshake({}, { chopped: true });
    await echoOnce(c, 'after a chopped handshake');
  });

  it('processes frames pipelined after the request head in the same write', { timeout: 10_000 }, async () => {
    const frames = Buffer.concat([
      encodeFrame({ opcode: OP.TEXT, payload: 'pipelined 1' }),
      encodeFrame({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) }),
      encodeFrame({ opcode: OP.PING, payload: 'pp' }),
    ]);
    const c = await handshake({}, { pipelined: frames });
    // The pong may come before or after the echoes; the echoes keep their order.
    const controls = [];
    assert.equal((await c.nextMessage(5000, controls)).data.toString(), 'pipelined 1');
    assert.deepEqual([...(await c.nextMessage(5000, controls)).data], [1, 2, 3]);
    if (!controls.length) controls.push(await c.nextFrame());
    assert.equal(controls.length, 1);
    assert.equal(controls[0].opcode, OP.PONG);
    assert.equal(controls[0].payload.toString(), 'pp');
  });

  it('processes frames pipelined after a head that was written one byte per write', { timeout: 20_000 }, async () => {
    const c = await srv.connect();
    const { text, key } = buildRequest({ host: srv.host, port: srv.port });
    await c.writeChopped(text.slice(0, -1), 1, 16);
    c.write(Buffer.concat([Buffer.from('\n'), encodeFrame({ opcode: OP.TEXT, payload: 'right after' })]));
    check101(await c.readHead(), key);
    assert.equal((await c.nextMessage()).data.toString(), 'right after');
  });

  const REJECT = [
    ['garbage request line', () => 'HELLO THERE\r\n\r\n', 400],
    ['missing Host', (o) => buildRequest({ ...o, headers: { Host: null } }).text, 400],
    // Not an upgrade at all: ws's own http server answers 426 Upgrade Required.
    ['missing Upgrade', (o) => buildRequest({ ...o, headers: { Upgrade: null } }).text, 426],
    ['Upgrade: h2c', (o) => buildRequest({ ...o, headers: { Upgrade: 'h2c' } }).text, 400],
    ['missing Connection', (o) => buildRequest({ ...o, headers: { Connection: null } }).text, 426],
    ['Connection: keep-alive only', (o) => buildRequest({ ...o, headers: { Connection: 'keep-alive' } }).text, 426],
    ['missing Sec-WebSocket-Key', (o) => buildRequest({ ...o, headers: { 'Sec-WebSocket-Key': null } }).text, 400],
    ['Sec-WebSocket-Key not base64', (o) => buildRequest({ ...o, key: 'not base64 at all!!!!!==' }).text, 400],
    ['Sec-WebSocket-Key of 15 bytes', (o) => buildRequest({ ...o, key: Buffer.alloc(15, 7).toString('base64') }).text, 400],
    ['Sec-WebSocket-Key of 17 bytes', (o) => buildRequest({ ...o, key: Buffer.alloc(17, 7).toString('base64') }).text, 400],
    ['method POST', (o) => buildRequest({ ...o, method: 'POST' }).text, 405],
    ['method PUT', (o) => buildRequest({ ...o, method: 'PUT' }).text, 405],
  ];

  for (const [name, make, status] of REJECT) {
    it(`answers ${status} and closes for: ${name}`, { timeout: 10_000 }, async () => {
      const r = await requestStatus({ host: srv.host, port: srv.port, data: make({ host: srv.host, port: srv.port }) });
      assert.equal(r.status, status, `expected ${status}, got ${r.head ? r.head.statusLine : 'no response'}`);
      assert.ok(r.endedAfter, 'connection not closed after the error response');
    });
  }

  // ws speaks 13 and 8 (same framing); any other version gets 400 naming both.
  for (const v of ['7', '12', '14', '0']) {
    it(`answers 400 with Sec-WebSocket-Version: 13, 8 for version ${v}`, { timeout: 10_000 }, async () => {
      const r = await requestStatus({ host: srv.host, port: srv.port, data: buildRequest({ host: srv.host, port: srv.port, headers: { 'Sec-WebSocket-Version': v } }).text });
      assert.equal(r.status, 400, `expected 400, got ${r.head ? r.head.statusLine : 'no response'}`);
      assert.equal(r.head.headers['sec-websocket-version'], '13, 8');
      assert.ok(r.endedAfter, 'connection not closed after the error response');
    });
  }

  it('answers 431 to a 64 KiB request head and closes', { timeout: 10_000 }, async () => {
    const filler = Array.from({ length: 66 }, (_, i) => `X-Filler-${i}: ${'a'.repeat(1000)}\r\n`).join('');
    const { text } = buildRequest({ host: srv.host, port: srv.port });
    const data = text.replace('\r\n\r\n', `\r\n${filler}\r\n`);
    assert.ok(data.length > 64 * 1024);
    const r = await requestStatus({ host: srv.host, port: srv.port, data });
    assert.equal(r.status, 431, `expected 431, got ${r.head ? r.head.statusLine : 'no response'}`);
  });

  it('closes a connection whose peer sends FIN in the middle of the head', { timeout: 10_000 }, async () => {
    const c = await srv.connect();
    c.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg');
    c.socket.end();
    await c.waitEnd(5000);
  });

  it('still accepts after all the rejections', { timeout: 10_000 }, async () => {
    const c = await handshake({});
    await echoOnce(c, 'still fine');
  });
});

describe('handshake with a path', { timeout: 30_000 }, () => {
  let s;
  before(async () => { s = await spawnServer({ args: ['--path', '/echo'] }); });
  after(async () => { if (s) await s.stop(); });

  it('answers 404 for another path and 101 for the configured one', { timeout: 10_000 }, async () => {
    const r = await requestStatus({ host: s.host, port: s.port, data: buildRequest({ host: s.host, port: s.port, path: '/other' }).text });
    assert.equal(r.status, 404, `expected 404, got ${r.head ? r.head.statusLine : 'no response'}`);
    const c = await RawClient.open({ host: s.host, port: s.port, path: '/echo' });
    try {
      await echoOnce(c, 'on /echo');
    } finally {
      c.destroy();
    }
  });
});

describe('handshake over IPv6 loopback', { timeout: 30_000 }, () => {
  let s;
  before(async () => { s = await spawnServer({ host: '::1' }); });
  after(async () => { if (s) await s.stop(); });

  it('accepts and echoes on ::1', { timeout: 10_000 }, async () => {
    const c = await RawClient.open({ host: '::1', port: s.port });
    try {
      await echoOnce(c, 'over ipv6');
    } finally {
      c.destroy();
    }
  });
});
