// Echo server on the `ws` package, configured as its users would run it: defaults, except a 16 MiB
// payload limit (and with --deflate, perMessageDeflate with threshold 0: every message compressed,
// ws's other defaults: context takeover both ways, 15-bit windows). Run with WS_NO_BUFFER_UTIL=1 WS_NO_UTF_8_VALIDATE=1 for the pure-JS variant; without
// them ws picks up bufferutil and utf-8-validate when installed.
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host, deflate } = parseServerArgs();
const require = createRequire(import.meta.url);
const loads = (name) => {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
};
const native = {
  bufferutil: !process.env.WS_NO_BUFFER_UTIL && loads('bufferutil'),
  utf8validate: !process.env.WS_NO_UTF_8_VALIDATE && loads('utf-8-validate'),
};

const wss = new WebSocketServer({ host, port, maxPayload: MAX_PAYLOAD, perMessageDeflate: deflate ? { threshold: 0 } : false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // the load generator exits without a close handshake
});
wss.on('listening', () => {
  const addr = wss.address();
  console.error(`ws-echo: bufferutil=${native.bufferutil} utf-8-validate=${native.utf8validate}`);
  console.log(`listening on ws://${host}:${addr.port}`);
});
process.on('SIGTERM', () => process.exit(0));
