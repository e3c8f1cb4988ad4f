#!/usr/bin/env node
// Reference echo server built on the `ws` package, with the same command line and output line as
// examples/echo-server.js:  node test/helpers/reference-echo-server.mjs --port <n> --host <addr> [--path <p>]
// It prints `listening on ws://<addr>:<port>` once it accepts.
//
// The handshake is validated here, before `ws` sees it, so that the HTTP status codes are the strict
// ones the suites expect (ws's: 426 for a request that is not an upgrade, 405 method, 400 +
// Sec-WebSocket-Version: 13, 8 for another version, 404 path, 400 otherwise; Node's
// own parser answers 431 for an oversized head and 400 for a missing Host). Frame-level behaviour is
// plain `ws`, which deviates from the strict rules in two places (see IS_REFERENCE in spawn-server.mjs):
//   - a 64-bit length with the top bit set is answered with 1009 (ws checks > 2^53 - 1), not 1002;
//   - UTF-8 in fragmented text is validated only when the message is complete (no fail-fast).
// After a protocol error ws already ends TCP right after its close frame; the 'error' handler below
// makes sure of it (and destroys the socket 2 s later if the peer never closes its side).
//
// This file sits under test/, so `node --test test/` also runs it as a "test": without --port it exits 0.
import http from 'node:http';
import { WebSocketServer } from 'ws';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') out.port = Number(argv[++i]);
    else if (a === '--host') out.host = argv[++i];
    else if (a === '--path') out.path = argv[++i];
  }
  return out;
}

const MAX_PAYLOAD = 16 * 1024 * 1024 + 1024;
const KEY_RE = /^[+/0-9A-Za-z]{22}==$/;

const args = parseArgs(process.argv.slice(2));
if (args.port === undefined || Number.isNaN(args.port)) {
  if (!process.env.NODE_TEST_CONTEXT) {
    process.stderr.write('usage: reference-echo-server.mjs --port <n> [--host <addr>] [--path <p>]\n');
    process.exitCode = 2;
  }
} else {
  start(args);
}


function reject(socket, status, text, extraHeaders = {}) {
  if (socket.destroyed) return;
  const body = `${status} ${text}\n`;
  let head = `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [k, v] of Object.entries(extraHeaders)) head += `${k}: ${v}\r\n`;
  socket.end(head + '\r\n' + body);
}

function start({ port, host = '127.0.0.1', path }) {
  const server = http.createServer((req, res) => {
    // Reached only when the request is not an upgrade (no Upgrade / Connection: upgrade): ws's 426.
    res.writeHead(426, { Connection: 'close', 'Content-Type': 'text/plain' });
    res.end('Upgrade Required');
    req.socket.end();
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {});
    const h = req.headers;
    if (req.method !== 'GET') return reject(socket, 405, 'Method Not Allowed');
    if (!h.host) return reject(socket, 400, 'Bad Request');
    if (String(h.upgrade || '').toLowerCase() !== 'websocket') return reject(socket, 400, 'Bad Request');
    const conn = String(h.connection || '').toLowerCase().split(',').map((s) => s.trim());
    if (!conn.includes('upgrade')) return reject(socket, 400, 'Bad Request');
    const key = h['sec-websocket-key'];
    if (!key || !KEY_RE.test(key) || Buffer.from(key, 'base64').length !== 16) {
      return reject(socket, 400, 'Bad Request');
    }
    if (h['sec-websocket-version'] !== '13' && h['sec-websocket-version'] !== '8') {
      return reject(socket, 400, 'Bad Request', { 'Sec-WebSocket-Version': '13, 8' });
    }
    if (path !== undefined && req.url.split('?')[0] !== path) return reject(socket, 404, 'Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {
      // ws has sent its close frame (1002/1007/1009) already; make sure TCP is ended.
      const s = ws._socket;
      if (s && !s.destroyed) s.end();
      setTimeout(() => ws.terminate(), 2000).unref();
    });
  });

  server.on('clientError', (err, socket) => {
    if (!socket.writable) return socket.destroy();
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    } else {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });

  server.listen(port, host, () => {
    const addr = server.address();
    const shown = addr.family === 'IPv6' || addr.family === 6 ? `[${addr.address}]` : addr.address;
    process.stdout.write(`listening on ws://${shown}:${addr.port}\n`);
  });

  const shutdown = () => {
    for (const c of wss.clients) c.terminate();
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
