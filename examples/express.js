#!/usr/bin/env node
// Express and epollws on one port (`node examples/express.js --port 3000`): Express answers the
// plain HTTP routes, and the WebSocket upgrades for /ws go to epollws through the shared
// http.Server ({ server }). Every message on /ws comes back unchanged.
// Needs express: npm install express
'use strict';
const http = require('node:http');
const { parseArgs } = require('node:util');
const express = require('express');
const { WebSocketServer } = require('..');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '3000' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid --port: ${values.port}`);
  process.exit(2);
}

const app = express();
app.get('/', (req, res) => {
  res.type('text/plain').send('Hello from Express. WebSocket echo: ws://<this host>/ws\n');
});

const server = http.createServer(app);
// Upgrades for other paths are refused with 400, as ws does with `path`.
const wss = new WebSocketServer({ server, path: '/ws' });

wss.on('connection', (ws, request) => {
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(port, values.host, () => {
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  console.log(`listening on http://${host}:${server.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    // Close the WebSockets (1001) first, then stop the HTTP server.
    wss.close().then(() => server.close(() => process.exit(0)));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
