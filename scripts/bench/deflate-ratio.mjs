// Compression ratio of permessage-deflate on a stream of JSON chat messages (~1.1 KiB each, 1000 of
// them echoed to one ws client): bytes the server put on the wire per message, epollws (its 4 KiB
// kept window) against ws (the full 32 KiB context) and epollws without context takeover.
//   node scripts/bench/deflate-ratio.mjs
import { WebSocketServer as EServer } from '../../dist/index.mjs';
import WebSocket, { WebSocketServer as WServer } from 'ws';
function chat(i) {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
  const words = ['hello', 'there', 'meeting', 'at', 'noon', 'see', 'you', 'soon', 'thanks', 'ok', 'lunch', 'deploy', 'build', 'green', 'red', 'review', 'merge', 'today', 'tomorrow', 'ship'];
  let seed = i * 2654435761 % 4294967296;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const msgs = [];
  while (JSON.stringify(msgs).length < 1000) {
    const text = Array.from({ length: 4 + rnd(8) }, () => words[rnd(words.length)]).join(' ');
    msgs.push({ id: 100000 + i * 10 + msgs.length, from: names[rnd(names.length)], text, ts: 1700000000000 + i * 997 + rnd(1000) });
  }
  return JSON.stringify({ type: 'history', room: 'general', messages: msgs });
}
async function run(name, wss, port) {
  wss.on('connection', (s) => s.on('message', (d, b) => s.send(d, { binary: b })));
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: { threshold: 0 } });
  await new Promise((r) => ws.once('open', r));
  const N = 1000;
  let raw = 0;
  const t0 = ws._socket.bytesRead;
  for (let i = 0; i < N; i++) {
    const m = chat(i);
    raw += m.length;
    ws.send(m);
    await new Promise((r) => ws.once('message', r));
  }
  const wire = ws._socket.bytesRead - t0;
  console.log(`${name}: ${ws.extensions}; ${(raw / N).toFixed(0)} B per message, ${(wire / N).toFixed(0)} B on the wire from the server (frame headers included), ratio ${(raw / wire).toFixed(2)}`);
  ws.terminate();
  await wss.close?.();
}
const e = new EServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
await new Promise((r) => e.on('listening', r));
await run('epollws (4 KiB window kept)', e, e.address().port);
const w = new WServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
await new Promise((r) => w.on('listening', r));
await run('ws (full 32 KiB window)', w, w.address().port);
const n = new EServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { serverNoContextTakeover: true } });
await new Promise((r) => n.on('listening', r));
await run('epollws serverNoContextTakeover', n, n.address().port);
process.exit(0);
