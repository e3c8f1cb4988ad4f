#!/usr/bin/env node
// Loads epollws, starts a server on 127.0.0.1 (port 0), and round-trips a text and a binary message
// with a client; then the same over wss:// with a second server on the `tls` option (the addon's
// own TLS, OpenSSL taken from the node that runs it, so this proves it resolves and works there).
// Used by the packaging checks (pack-check, check/node18.sh, check/arm64.sh, cmake-smoke.js) under
// whatever node runs it, Node 18 and qemu included.
//
//   node echo-check.js <package dir or name> [--client ws|raw] [--ws <dir of the ws package>]
//                      [--expect-binary <substring of the .node path>] [--timeout <seconds>]
//                      [--no-tls] [--tls-cert FILE --tls-key FILE]
//
// The raw client is a minimal RFC 6455 client on net.Socket, or node:tls's TLSSocket for wss (it
// checks Sec-WebSocket-Accept), for runtimes where the ws package is not at hand. The TLS
// certificate is a throwaway self-signed ECDSA P-256 one for 127.0.0.1 made with the openssl CLI
// (nothing from the package's devDependencies), unless --tls-cert/--tls-key name one. Prints one
// line per check; exits non-zero on failure.
'use strict';
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { createRequire } = require('node:module');

function fail(message) {
  console.error(`echo-check: FAIL: ${message}`);
  process.exit(1);
}

/** The .node file that node-gyp-build picks for the package at root (the one epollws loads). */
function resolveBinary(root) {
  const req = createRequire(path.join(root, 'package.json'));
  return req('node-gyp-build').resolve(root);
}

/** { key, cert } PEM: a self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI. */
function throwawayCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epollws-echo-check-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } catch (error) {
    fail(`could not make a TLS certificate with the openssl CLI (or pass --no-tls): ${error.message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Minimal client: handshake, one masked frame out, one frame back, then a close handshake.
 * `secure`: { ca } for wss (node:tls, the certificate checked against ca), else plain TCP.
 */
function rawExchange(port, messages, secure) {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const expectedAccept = crypto
      .createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    const socket = secure
      ? tls.connect({ port, host: '127.0.0.1', ca: secure.ca, servername: 'localhost' })
      : net.connect(port, '127.0.0.1');
    const replies = [];
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', reject);
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const sendFrame = (opcode, payload) => {
      if (payload.length > 125) throw new Error('raw client only sends short frames');
      const mask = crypto.randomBytes(4);
      const masked = Buffer.from(payload);
      for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
      socket.write(Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]));
    };
    const next = () => {
      const m = messages[replies.length];
      if (m) sendFrame(m.binary ? 2 : 1, m.data);
      else sendFrame(8, Buffer.from([0x03, 0xe8])); // close 1000
    };
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 4);
        if (!/^HTTP\/1\.1 101 /.test(head)) return reject(new Error(`handshake failed: ${head}`));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head);
        if (!accept || accept[1] !== expectedAccept) {
          return reject(new Error(`bad Sec-WebSocket-Accept (${accept && accept[1]}), want ${expectedAccept}`));
        }
        upgraded = true;
        next();
      }
      while (buffer.length >= 2) {
        const opcode = buffer[0] & 0x0f;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          return reject(new Error('unexpected 64-bit frame'));
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 8) {
          socket.end();
          return resolve(replies);
        }
        replies.push({ binary: opcode === 2, data: Buffer.from(payload) });
        next();
      }
    });
    socket.on('close', () => reject(new Error(`connection closed after ${replies.length} replies`)));
  });
}

function wsExchange(WebSocket, port, messages, secure) {
  return new Promise((resolve, reject) => {
    const client = secure ? new WebSocket(`wss://127.0.0.1:${port}/`, { ca: secure.ca }) : new WebSocket(`ws://127.0.0.1:${port}/`);
    const replies = [];
    client.on('error', reject);
    client.on('open', () => client.send(messages[0].data, { binary: messages[0].binary }));
    client.on('message', (data, isBinary) => {
      replies.push({ binary: isBinary, data: Buffer.from(data) });
      const m = messages[replies.length];
      if (m) client.send(m.data, { binary: m.binary });
      else client.close(1000);
    });
    client.on('close', () => resolve(replies));
  });
}

/**
 * Runs the echo round trip against an already loaded epollws module.
 * options: { client: 'ws' | 'raw', WebSocket (the ws client class, for client 'ws'), label,
 *            tls: { key, cert } to run it over wss:// on the tls option instead }
 */
async function echoCheck(epollws, options = {}) {
  const secure = options.tls ? { ca: options.tls.cert } : undefined;
  const label = `${options.label || 'echo'}${secure ? ' over TLS' : ''}`;
  const { WebSocketServer } = epollws;
  if (typeof WebSocketServer !== 'function') fail(`${label}: WebSocketServer export missing`);
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...(secure ? { tls: { key: options.tls.key, cert: options.tls.cert } } : {}) });
  server.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address();
  const messages = [
    { binary: false, data: Buffer.from(`hello from node ${process.version} on ${process.arch}`) },
    { binary: true, data: crypto.randomBytes(100) },
  ];
  const replies =
    options.client === 'raw'
      ? await rawExchange(port, messages, secure)
      : await wsExchange(options.WebSocket, port, messages, secure);
  if (replies.length !== messages.length) fail(`${label}: ${replies.length} replies, want ${messages.length}`);
  messages.forEach((m, i) => {
    if (replies[i].binary !== m.binary || !replies[i].data.equals(m.data)) {
      fail(`${label}: reply ${i} differs from what was sent`);
    }
  });
  await server.close();
  console.log(
    `echo-check: ok: ${label}: node ${process.version} ${process.arch}, ${options.client || 'ws'} client, ` +
      `text "${messages[0].data}" and ${messages[1].data.length} binary bytes echoed` +
      (secure ? ` (OpenSSL ${process.versions.openssl})` : ''),
  );
}

async function main(argv) {
  const args = { client: 'ws', timeout: 20 };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--client') args.client = argv[++i];
    else if (a === '--ws') args.ws = argv[++i];
    else if (a === '--expect-binary') args.expectBinary = argv[++i];
    else if (a === '--timeout') args.timeout = Number(argv[++i]);
    else if (a === '--no-tls') args.noTls = true;
    else if (a === '--tls-cert') args.tlsCert = argv[++i];
    else if (a === '--tls-key') args.tlsKey = argv[++i];
    else positional.push(a);
  }
  if (positional.length !== 1) fail('usage: echo-check.js <package dir or name> [options]');
  setTimeout(() => fail(`timed out after ${args.timeout} s`), args.timeout * 1000).unref();

  // A path (./x, /x) names a package directory; anything else is resolved like require() would
  // from the working directory (e.g. "epollws" inside a consumer project).
  const isPath = positional[0].startsWith('.') || path.isAbsolute(positional[0]);
  const target = isPath ? path.resolve(positional[0]) : positional[0];
  const req = createRequire(path.join(process.cwd(), 'noop.js'));
  const entry = req.resolve(target);
  const root = path.dirname(req.resolve(`${target}/package.json`));
  const binary = resolveBinary(root);
  console.log(`echo-check: ${entry} loads ${binary}`);
  if (args.expectBinary && !binary.includes(args.expectBinary)) {
    fail(`expected the binary to match "${args.expectBinary}", got ${binary}`);
  }
  const epollws = req(entry);
  let WebSocket;
  if (args.client === 'ws') {
    WebSocket = (args.ws ? require(path.resolve(args.ws)) : req('ws')).WebSocket;
  }
  await echoCheck(epollws, { client: args.client, WebSocket, label: 'require' });
  if (args.noTls) return;
  const certificate = args.tlsCert
    ? { cert: fs.readFileSync(args.tlsCert, 'utf8'), key: fs.readFileSync(args.tlsKey, 'utf8') }
    : throwawayCertificate();
  await echoCheck(epollws, { client: args.client, WebSocket, label: 'require', tls: certificate });
}

module.exports = { echoCheck, resolveBinary, throwawayCertificate };

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => fail(error && error.stack ? error.stack : String(error)));
}
