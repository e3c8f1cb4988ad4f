#!/usr/bin/env node
// The example echo server (`npm start -- --port <n> --host <addr>`): every text and binary
// message goes back unchanged, messages up to 16 MiB (plus headroom) are allowed.
// `--max-backpressure <bytes>` sets the per-socket output bound (default 64 MiB).
// `--deflate` turns permessage-deflate on with threshold 0 (every message goes back compressed
// when the client negotiated it); without it the extension is declined, as by default.
// `--tls-cert FILE --tls-key FILE` serves wss:// (PEM files) instead of ws://.
'use strict';
const { readFileSync } = require('node:fs');
const { parseArgs } = require('node:util');
const { WebSocketServer } = require('..');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    path: { type: 'string' },
    'max-backpressure': { type: 'string' },
    deflate: { type: 'boolean', default: false },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});
if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
  console.error('--tls-cert and --tls-key go together');
  process.exit(2);
}
const tls = values['tls-cert'] === undefined ? undefined : { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) };
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid --port: ${values.port}`);
  process.exit(2);
}

const server = new WebSocketServer({
  port,
  host: values.host,
  path: values.path,
  maxPayload: 16 * 1024 * 1024 + 64 * 1024,
  ...(tls === undefined ? {} : { tls }),
  ...(values['max-backpressure'] === undefined ? {} : { maxBackpressure: Number(values['max-backpressure']) }),
  ...(values.deflate ? { perMessageDeflate: { threshold: 0 } } : {}),
});

// One listener for every socket: EventEmitter calls it with the socket as `this`, so no closure
// is kept per connection (about 100 bytes each with many idle connections).
function echo(data, isBinary) {
  this.send(data, { binary: isBinary });
}
server.on('connection', (socket) => socket.on('message', echo));
server.on('error', (error) => {
  console.error(`echo server: ${error.message}`);
  // accept() failures (EMFILE/ENFILE) are transient: the server keeps serving its open
  // connections and accepts again once fds are free. Only a failed listen is fatal.
  if (error.syscall !== 'accept') process.exit(1);
});
server.on('listening', () => {
  const { port: bound } = server.address();
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  console.log(`listening on ${tls ? 'wss' : 'ws'}://${host}:${bound}`);
});

// close() sends every client a close frame (1001) after what was already queued for it and
// resolves once the closing handshakes are done (each bounded by closeTimeout): exiting before
// that would cut the frames off.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await server.close();
    process.exit(0);
  });
}
