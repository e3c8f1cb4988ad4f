// What a publish costs the server under permessage-deflate (README "Topics and permessage-deflate"):
// 500 `ws` subscribers of one topic, 200 publishes of ~1.1 KiB JSON chat messages, three servers:
// plain (no extension), perMessageDeflate with serverNoContextTakeover (one deflate per publish,
// shared by everyone) and the default (context takeover: one deflate per subscriber). Reports the
// server's time inside wss.publish() per publish (framing, deflating, queueing: it is synchronous),
// and bytes on the wire per delivery. Every subscriber checks every message, in order.
//   node scripts/bench/publish-deflate.mjs [subscribers] [publishes]
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';

const SUBSCRIBERS = Number(process.argv[2] ?? 500);
const PUBLISHES = Number(process.argv[3] ?? 200);

function chat(i) {
  const words = ['hello', 'there', 'meeting', 'at', 'noon', 'see', 'you', 'soon', 'thanks', 'ok', 'deploy', 'build', 'green', 'review', 'merge', 'today'];
  let seed = (i * 2654435761) % 4294967296;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const messages = [];
  while (JSON.stringify(messages).length < 1000) {
    const text = Array.from({ length: 4 + rnd(8) }, () => words[rnd(words.length)]).join(' ');
    messages.push({ id: 100000 + i * 10 + messages.length, from: `user${rnd(50)}`, text, ts: 1700000000000 + i * 997 + rnd(1000) });
  }
  return JSON.stringify({ type: 'history', room: 'general', messages });
}

async function run(name, perMessageDeflate) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => ws.subscribe('room'));
  const port = wss.addresses()[0].port;
  const clients = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: true });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.next = 0;
    clients.push(ws);
  }
  while (wss.subscriberCount('room') < SUBSCRIBERS) await new Promise((resolve) => setImmediate(resolve));
  const messages = Array.from({ length: PUBLISHES }, (_, i) => chat(i));
  const start = clients.map((ws) => ws._socket.bytesRead);
  let pending = 0;
  let wake = () => {};
  for (const ws of clients) {
    ws.on('message', (data) => {
      if (data.toString() !== messages[ws.next]) throw new Error(`${name}: message ${ws.next} corrupted or out of order`);
      ws.next++;
      if (--pending === 0) wake();
    });
  }
  let publishMs = 0;
  const deflatesBefore = wss.publishStats.deflates;
  for (let i = 0; i < PUBLISHES; i += 10) {
    const delivered = new Promise((resolve) => { wake = resolve; });
    pending += 10 * SUBSCRIBERS;
    const t0 = performance.now();
    for (let j = i; j < i + 10; j++) wss.publish('room', messages[j]);
    publishMs += performance.now() - t0;
    await delivered;
  }
  const wire = clients.reduce((sum, ws, k) => sum + ws._socket.bytesRead - start[k], 0);
  const deliveries = PUBLISHES * SUBSCRIBERS;
  const raw = messages.reduce((sum, m) => sum + m.length, 0) / PUBLISHES;
  console.log(`${name.padEnd(36)} ${(publishMs * 1000 / PUBLISHES).toFixed(0).padStart(7)} µs/publish  ` +
    `${(wire / deliveries).toFixed(0).padStart(5)} B/delivery (of ${raw.toFixed(0)} B)  ` +
    `${(wss.publishStats.deflates - deflatesBefore) / PUBLISHES} deflates/publish`);
  for (const ws of clients) ws.terminate();
  await new Promise((resolve) => wss.close(resolve));
}

console.log(`${SUBSCRIBERS} subscribers, ${PUBLISHES} publishes of ~1.1 KiB JSON`);
await run('plain (no permessage-deflate)', false);
await run('deflate, serverNoContextTakeover', { serverNoContextTakeover: true, threshold: 0 });
await run('deflate, context takeover (default)', { threshold: 0 });
