#!/usr/bin/env node
// The echo server over the https.Server path: node:https terminates TLS and parses the upgrade,
// `new WebSocketServer({ server })` takes the TLSSocket over as a core stream. Same command line
// and output line as examples/echo-server.js with --tls-cert/--tls-key (required here; --deflate
// too), so the
// conformance suites run against it: EPOLLWS_TEST_TLS=1 EPOLLWS_TEST_SERVER=test/helpers/https-echo-server.mjs.
// A request node:http does not take for an upgrade (no Upgrade or no Connection: upgrade) gets
// 426, as the core's own listeners (and ws's own server) answer it. Without --port
// (`node --test test/` picking this file up) it exits 0.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';
import { WebSocketServer } from '../../dist/index.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    path: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    deflate: { type: 'boolean', default: false },
  },
  strict: false,
});

if (values.port !== undefined) {
  const server = https.createServer({ cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) }, (req, res) => {
    // As ws's own server and the core's listeners answer a request that is not an upgrade.
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('Upgrade Required');
  });
  const wss = new WebSocketServer({
    server,
    path: values.path,
    maxPayload: 16 * 1024 * 1024 + 64 * 1024,
    // As examples/echo-server.js --deflate: every message goes back compressed when negotiated.
    ...(values.deflate ? { perMessageDeflate: { threshold: 0 } } : {}),
  });
  wss.on('connection', (socket) => socket.on('message', function echo(data, isBinary) {
    this.send(data, { binary: isBinary });
  }));
  wss.on('error', (error) => console.error(`https echo server: ${error.message}`));
  server.listen(Number(values.port), values.host, () => {
    const host = values.host.includes(':') ? `[${values.host}]` : values.host;
    console.log(`listening on wss://${host}:${server.address().port}`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, async () => {
      server.close();
      await wss.close();
      process.exit(0);
    });
  }
}
