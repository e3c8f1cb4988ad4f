// A server that pushes output at clients which never read, for the server-wide backpressure test
// (test/system/backpressure-memory.test.mjs). Forked with an IPC channel; argv[2] is the JSON of the
// WebSocketServer options. Messages from the parent:
//   { cmd: 'count' }                          -> { clients }
//   { cmd: 'push', targets: 'heavy'|'all', heavy: N, rounds: R, size: S }
//       R rounds; each round sends one S-byte binary message to every target socket (the first N
//       sockets to connect are the heavy ones), then yields a macrotask so the server flushes.
//       -> { maxQueued, roundBytes, firstPolicyRound, firstPolicyHit: [{ index, heavy }], hits, heavyHits, rssKiB, hwmKiB }
// maxQueued is the largest sum of bufferedAmount over the open sockets, read right after each
// round's sends (before the flush, so it includes the round). A "hit" is a socket the backpressure
// policy reached: closed ('close') or a send that returned false ('drop').
import fs from 'node:fs';
import { WebSocketServer } from '../../dist/index.mjs';

const options = JSON.parse(process.argv[2] ?? '{}');
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
const sockets = [];
const hitAt = new Map(); // socket index -> round of its first hit
let round = -1;

const rssKiB = () => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const hwmKiB = () => Number(/^VmHWM:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const macrotask = () => new Promise((resolve) => setImmediate(resolve));

function hit(index) {
  if (!hitAt.has(index)) hitAt.set(index, round);
}

wss.on('connection', (ws) => {
  const index = sockets.length;
  sockets.push(ws);
  ws.on('error', () => {});
  ws.on('close', () => { if (round >= 0) hit(index); });
});
wss.on('listening', () => process.send({ type: 'listening', port: wss.address().port, rssKiB: rssKiB() }));

async function push({ targets, heavy, rounds, size }) {
  const payload = Buffer.alloc(size, 0x5a); // one Buffer for every send: the queue holds the copies
  const chosen = sockets.map((ws, index) => ({ ws, index })).filter(({ index }) => targets === 'all' || index < heavy);
  let maxQueued = 0;
  for (let r = 0; r < rounds; r++) {
    round++;
    for (const { ws, index } of chosen) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.send(payload, { binary: true }) === false) hit(index);
    }
    let queued = 0;
    for (const ws of sockets) if (ws.readyState === ws.OPEN) queued += ws.bufferedAmount;
    maxQueued = Math.max(maxQueued, queued);
    await macrotask();
  }
  await macrotask();
  const firstPolicyRound = hitAt.size ? Math.min(...hitAt.values()) : -1;
  const firstPolicyHit = [...hitAt].filter(([, r]) => r === firstPolicyRound).map(([index]) => ({ index, heavy: index < heavy }));
  const heavyHits = [...hitAt.keys()].filter((index) => index < heavy).length;
  return { maxQueued, roundBytes: chosen.length * size, firstPolicyRound, firstPolicyHit, hits: hitAt.size, heavyHits, rssKiB: rssKiB(), hwmKiB: hwmKiB() };
}

process.on('message', async (m) => {
  if (m.cmd === 'count') process.send({ type: 'count', clients: sockets.length });
  else if (m.cmd === 'push') process.send({ type: 'pushed', ...(await push(m)) });
  else if (m.cmd === 'exit') { await wss.terminate(); process.exit(0); }
});
process.on('disconnect', () => process.exit(0));
