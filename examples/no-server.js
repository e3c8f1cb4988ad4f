#!/usr/bin/env node
// Two WebSocket servers sharing one node:http server (`node examples/no-server.js --port 8080`),
// as in ws's README: both use { noServer: true } and the 'upgrade' handler routes by pathname.
//   GET /          plain text
//   ws://.../echo  sends every message back unchanged
//   ws://.../shout sends text messages back in upper case
// Any other upgrade path gets 404.
'use strict';
const http = require('node:http');
const { parseArgs } = require('node:util');
const { WebSocketServer } = require('..');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid --port: ${values.port}`);
  process.exit(2);
}

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('Hello over HTTP. WebSockets: /echo and /shout\n');
});
const echo = new WebSocketServer({ noServer: true });
const shout = new WebSocketServer({ noServer: true });

echo.on('connection', (ws) => {
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

shout.on('connection', (ws) => {
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString().toUpperCase(), { binary: isBinary }));
});

server.on('upgrade', (request, socket, head) => {
  const { pathname } = new URL(request.url, 'ws://base.url');
  const wss = pathname === '/echo' ? echo : pathname === '/shout' ? shout : undefined;
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => {
    wss.emit('connection', ws, request);
  });
});

server.listen(port, values.host, () => {
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  console.log(`listening on http://${host}:${server.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    Promise.all([echo.close(), shout.close()]).then(() => server.close(() => process.exit(0)));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
