// Fan-out server on epollws for scenario (h): sockets on /sub subscribe to one topic; every message
// a socket on /pub sends goes to all of them. --mode publish: wss.publish (framed once, in the
// core); --mode loop: the ws-style loop over the subscribers, one send each.
import { WebSocketServer } from '../../../dist/index.mjs';
import { MAX_PAYLOAD } from './args.mjs';

const args = process.argv.slice(2);
const value = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const port = Number(value('--port', '0'));
const host = value('--host', '127.0.0.1');
const mode = value('--mode', 'publish');
if (mode !== 'publish' && mode !== 'loop') throw new Error('--mode publish|loop');

const wss = new WebSocketServer({ port, host, maxPayload: MAX_PAYLOAD, clientTracking: false, idleTimeout: 0 });
const subscribers = new Set();
wss.on('connection', (ws, request) => {
  ws.on('error', () => {}); // the load generator exits without a close handshake
  if (request.url.startsWith('/sub')) {
    if (mode === 'publish') ws.subscribe('all');
    else {
      subscribers.add(ws);
      ws.on('close', () => subscribers.delete(ws));
    }
    return;
  }
  ws.on('message', (data, isBinary) => {
    if (mode === 'publish') {
      wss.publish('all', data, { binary: isBinary });
    } else {
      for (const sub of subscribers) sub.send(data, { binary: isBinary });
    }
  });
});
wss.on('listening', () => console.log(`listening on ws://${host}:${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
