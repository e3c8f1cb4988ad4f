// Measures the cost of crossing the N-API boundary as epollws does it (issue 3 asks for it):
//   - JS -> native, send(): the own-function path the hot loop uses (no unwrap);
//   - JS -> native, a prototype method (napi_unwrap of the wrapper on every call);
//   - native -> JS, one batch: one MakeCallback with its callback scope, measured end to end by
//     timing a turn that delivers a single event (a pong) against an idle reactor.
// Usage: node scripts/bench/napi-cost.mjs   (pin with taskset for stable figures)
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('../../dist/index.js');

const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];

function perCall(label, calls, body) {
  const samples = [];
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint();
    body(calls);
    samples.push(Number(process.hrtime.bigint() - start) / calls);
  }
  console.log(`${label.padEnd(58)} ${median(samples).toFixed(1)} ns`);
  return median(samples);
}

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
await new Promise((resolve) => wss.once('listening', resolve));
const native = wss.native;

const results = {};
results.sendStale = perCall('JS -> native: send() on a stale id (own function)', 2_000_000, (n) => {
  for (let i = 0; i < n; i++) native.send(0, 12345, 'x', 1, true);
});
results.method = perCall('JS -> native: bufferedAmount() (prototype method, unwrap)', 2_000_000, (n) => {
  for (let i = 0; i < n; i++) native.bufferedAmount(0, 12345);
});
results.emptyJs = perCall('JS only: an empty function call, for reference', 20_000_000, (n) => {
  let x = 0;
  const f = (v) => v + 1;
  for (let i = 0; i < n; i++) x = f(x);
  if (x < 0) console.log(x);
});

// native -> JS: a raw client sends one ping per round trip; each pong the server emits is one
// batch with one event. The figure is the server-side turn (epoll_wait + read + parse + the
// MakeCallback into JS + flush), from uv_poll firing to the write of the pong.
const socket = net.connect(wss.address().port, '127.0.0.1');
await new Promise((resolve) => socket.once('connect', resolve));
socket.write(
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
);
const server = await new Promise((resolve) => wss.once('connection', resolve));
await new Promise((resolve) => socket.once('data', resolve));
const ping = Buffer.from([0x89, 0x80, 1, 2, 3, 4]);
let batchNs = 0;
let batches = 0;
let started = 0n;
server.on('ping', () => {
  batchNs += Number(process.hrtime.bigint() - started);
  batches++;
});
for (let i = 0; i < 2000; i++) {
  await new Promise((resolve) => {
    socket.once('data', resolve);
    started = process.hrtime.bigint();
    socket.write(ping);
  });
}
console.log(`${'native -> JS: write(ping) to the ping event in JS (loopback)'.padEnd(58)} ${(batchNs / batches / 1000).toFixed(1)} us`);
socket.destroy();
await wss.terminate();
