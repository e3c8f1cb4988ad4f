// Fan-out server on the `ws` package for scenario (h), as its README broadcasts: sockets on /sub are
// kept in a set; every message a socket on /pub sends is sent to each of them in a loop.
import { WebSocketServer } from 'ws';
import { MAX_PAYLOAD, parseServerArgs } from './args.mjs';

const { port, host } = parseServerArgs();
const wss = new WebSocketServer({ host, port, maxPayload: MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
const subscribers = new Set();
wss.on('connection', (ws, request) => {
  ws.on('error', () => {});
  if (request.url.startsWith('/sub')) {
    subscribers.add(ws);
    ws.on('close', () => subscribers.delete(ws));
    return;
  }
  ws.on('message', (data, isBinary) => {
    for (const sub of subscribers) sub.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => console.log(`listening on ws://${host}:${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
