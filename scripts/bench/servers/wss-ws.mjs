// wss echo on the `ws` package over node:https, as its README's "External HTTP/S server" runs it.
// The certificate comes from EPOLLWS_BENCH_TLS_CERT / EPOLLWS_BENCH_TLS_KEY (PEM files).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { WebSocketServer } from 'ws';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host } = parseServerArgs();
const server = https.createServer({ cert: readFileSync(process.env.EPOLLWS_BENCH_TLS_CERT), key: readFileSync(process.env.EPOLLWS_BENCH_TLS_KEY) });
const wss = new WebSocketServer({ server, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen(port, host, () => console.log(`listening on wss://${host}:${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
