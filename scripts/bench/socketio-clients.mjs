#!/usr/bin/env node
// Load process of bench (l): N socket.io clients (socket.io-client, websocket transport only) and one
// control client against scripts/bench/servers/socketio-broadcast.mjs. Every client checks that it
// receives every broadcast, in order ('tick' with consecutive sequence numbers) and intact (payload
// length); the control client acks, per broadcast, the highest sequence number every client has
// received, which paces the server's emitter (--window broadcasts in flight). Deliveries (events
// received, summed over the clients) are counted over a fixed window after a warmup, and the
// server's CPU time over the same window is read from /proc/PID/stat.
//
//   node scripts/bench/socketio-clients.mjs --port P --server-pid PID [--clients 1000] [--size 32]
//        [--warmup 2] [--duration 5]
// Prints one JSON line (deliveriesPerSec, serverCpuUsPerDelivery, ...); exits non-zero on any loss,
// reorder or corruption.
import { readFileSync } from 'node:fs';
import { io } from 'socket.io-client';

const argv = process.argv.slice(2);
const value = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const HOST = value('--host', '127.0.0.1');
const PORT = Number(value('--port'));
const SERVER_PID = Number(value('--server-pid'));
const CLIENTS = Number(value('--clients', '1000'));
const SIZE = Number(value('--size', '32'));
const WARMUP = Number(value('--warmup', '2'));
const DURATION = Number(value('--duration', '5'));
const url = `http://${HOST}:${PORT}`;
const TICKS = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux
const fail = (msg) => {
  console.error(`socketio-clients: error: ${msg}`);
  process.exit(1);
};
const hardTimer = setTimeout(() => fail('timed out'), (WARMUP + DURATION + 90) * 1000);
hardTimer.unref();

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

const options = { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30_000 };
const next = new Array(CLIENTS).fill(1); // per client: the sequence number it expects next
const count = new Map(); // sequence number -> clients that received it
let complete = 0; // highest sequence number received by every client
let deliveries = 0;
let control;
let stopping = false;

function onTick(i, seq, payload) {
  if (seq !== next[i]) fail(`client ${i} expected broadcast ${next[i]}, got ${seq}`);
  if (typeof payload !== 'string' || payload.length !== SIZE) fail(`client ${i}: broadcast ${seq} has a ${payload?.length}-character payload, not ${SIZE}`);
  next[i] = seq + 1;
  deliveries++;
  const c = (count.get(seq) ?? 0) + 1;
  if (c < CLIENTS) {
    count.set(seq, c);
    return;
  }
  count.delete(seq);
  // Clients receive in order, so once every client has seq, every client has all before it too.
  if (seq > complete) {
    complete = seq;
    control.emit('acked', seq);
  }
}

function connect(socket) {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', (e) => reject(new Error(`connect: ${e.message}`)));
  });
}

const sockets = [];
for (let i = 0; i < CLIENTS; i += 100) {
  const batch = [];
  for (let j = i; j < Math.min(CLIENTS, i + 100); j++) {
    const s = io(url, options);
    s.on('tick', (seq, payload) => onTick(j, seq, payload));
    s.on('disconnect', (reason) => {
      if (!stopping) fail(`client ${j} disconnected: ${reason}`);
    });
    sockets.push(s);
    batch.push(connect(s));
  }
  await Promise.all(batch).catch((e) => fail(e.message));
}
control = io(url, { ...options, auth: { control: true } });
await connect(control).catch((e) => fail(e.message));

await control.timeout(10_000).emitWithAck('start', SIZE);
await new Promise((r) => setTimeout(r, WARMUP * 1000));
const d0 = deliveries;
const s0 = cpuTicks(SERVER_PID);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, DURATION * 1000));
const d1 = deliveries;
const s1 = cpuTicks(SERVER_PID);
const c1 = process.cpuUsage(c0);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

// Stop the emitter; every client must then reach the last sequence number sent.
const last = await control.timeout(10_000).emitWithAck('stop');
const deadline = Date.now() + 30_000;
while (next.some((n) => n !== last + 1)) {
  if (Date.now() > deadline) {
    const i = next.findIndex((n) => n !== last + 1);
    fail(`client ${i} received ${next[i] - 1} of ${last} broadcasts`);
  }
  await new Promise((r) => setTimeout(r, 20));
}
stopping = true;
for (const s of sockets) s.disconnect();
control.disconnect();

const windowDeliveries = d1 - d0;
const serverCpuSeconds = (s1 - s0) / TICKS;
console.log(JSON.stringify({
  clients: CLIENTS,
  size: SIZE,
  seconds,
  broadcasts: last,
  deliveries: windowDeliveries,
  deliveriesPerSec: windowDeliveries / seconds,
  serverCpu: serverCpuSeconds / seconds,
  serverCpuUsPerDelivery: windowDeliveries ? (serverCpuSeconds * 1e6) / windowDeliveries : null,
  loadCpu: (c1.user + c1.system) / 1e6 / seconds,
  loadSaturated: (c1.user + c1.system) / 1e6 / seconds >= 0.95,
}));
process.exit(0);
