#!/usr/bin/env node
// The chat demo (`npm run demo`, or `node examples/demo/server.js --port 8080`): one port, where
// node:http serves the page (examples/demo/index.html) and epollws the WebSocket at /ws.
//
// A client joins a room with /ws?room=<room>&name=<name>. Everything it sends goes to everyone in
// its room, itself included:
//   text   {"type":"chat","text":"..."}                 -> {"type":"chat","from","text","at"}
//   file   {"type":"file","mime","filename"} + binary   -> {"type":"file","from","mime","filename","size","at"} + the binary
// and the server announces {"type":"join"|"leave","name","count"} as people come and go.
// A room is a topic: a client subscribes to its room (ws.subscribe), messages go to the room with
// wss.publish (framed once for everyone in it), and a leave is announced with ws.publish from the
// socket's close handler (to everyone but the one leaving).
// `--tls-cert FILE --tls-key FILE` serves the page and the WebSocket over https:// and wss://.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { WebSocketServer } = require('../..');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});
if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
  console.error('--tls-cert and --tls-key go together');
  process.exit(2);
}
const tls = values['tls-cert'] === undefined ? undefined : { cert: fs.readFileSync(values['tls-cert']), key: fs.readFileSync(values['tls-key']) };
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid --port: ${values.port}`);
  process.exit(2);
}

const PAGE = path.join(__dirname, 'index.html');
const MAX_FILE = 4 * 1024 * 1024;
const MIME = /^[\w.+-]{1,64}\/[\w.+-]{1,64}$/;

function page(req, res) {
  const { pathname } = new URL(req.url, 'http://localhost');
  if (req.method !== 'GET' || (pathname !== '/' && pathname !== '/index.html')) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('Not found\n');
    return;
  }
  fs.readFile(PAGE, (error, html) => {
    if (error) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('Cannot read the page\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html);
  });
}
const server = tls ? https.createServer(tls, page) : http.createServer(page);

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: MAX_FILE + 1024 });

function clean(value, fallback) {
  const text = (value ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 32);
  return text || fallback;
}

const announcement = (data) => JSON.stringify({ ...data, at: Date.now() });

// To everyone in the room, the sender included.
function broadcast(room, data, isBinary = false) {
  wss.publish(room, isBinary ? data : announcement(data), { binary: isBinary });
}

wss.on('connection', (ws, request) => {
  const query = new URL(request.url, 'http://localhost').searchParams;
  const room = clean(query.get('room'), 'lobby');
  const name = clean(query.get('name'), 'anonymous');
  ws.subscribe(room);
  broadcast(room, { type: 'join', name, count: wss.subscriberCount(room) });

  let file; // the announcement of the binary message that comes next
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const meta = file ?? { mime: 'application/octet-stream', filename: 'file' };
      file = undefined;
      if (data.length > MAX_FILE) return;
      broadcast(room, { type: 'file', from: name, mime: meta.mime, filename: meta.filename, size: data.length });
      broadcast(room, data, true);
      return;
    }
    let message;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (message?.type === 'chat' && typeof message.text === 'string' && message.text.trim()) {
      broadcast(room, { type: 'chat', from: name, text: message.text.slice(0, 2000) });
    } else if (message?.type === 'file') {
      const mime = typeof message.mime === 'string' && MIME.test(message.mime) ? message.mime : 'application/octet-stream';
      file = { mime, filename: clean(message.filename, 'file').slice(0, 64) };
    }
  });
  // The socket has left its topics by now: the count is of those who stay.
  ws.on('close', () => {
    const count = wss.subscriberCount(room);
    if (count > 0) ws.publish(room, announcement({ type: 'leave', name, count }));
  });
});

server.listen(port, values.host, () => {
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  console.log(`demo on ${tls ? 'https' : 'http'}://${host}:${server.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    wss.close().then(() => server.close(() => process.exit(0)));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
