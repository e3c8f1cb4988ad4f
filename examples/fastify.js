#!/usr/bin/env node
// Fastify and epollws on one port (`node examples/fastify.js --port 3000`): Fastify answers the
// plain HTTP routes, and the WebSocket upgrades for /ws go to epollws through Fastify's own
// http.Server (`fastify.server`). Every message on /ws comes back unchanged.
// Needs fastify: npm install fastify
'use strict';
const { parseArgs } = require('node:util');
const Fastify = require('fastify');
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

const fastify = Fastify({ logger: false });
fastify.get('/', async (request, reply) => {
  reply.type('text/plain');
  return 'Hello from Fastify. WebSocket echo: ws://<this host>/ws\n';
});

// fastify.server is the http.Server that fastify.listen() starts.
const wss = new WebSocketServer({ server: fastify.server, path: '/ws' });

wss.on('connection', (ws, request) => {
  ws.on('error', console.error);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

// Close the WebSockets (1001) when Fastify shuts down.
fastify.addHook('onClose', async () => {
  await wss.close();
});

fastify.listen({ port, host: values.host }).then(
  () => {
    const host = values.host.includes(':') ? `[${values.host}]` : values.host;
    console.log(`listening on http://${host}:${fastify.server.address().port}`);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    fastify.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
