#!/usr/bin/env node
// One process of the scale test (scripts/scale.mjs): a WebSocketServer on ports
// [--base .. --base + --ports - 1] with reusePort (several processes share every port; the kernel
// spreads the connections), echoing. Prints `listening {json}` once bound, then every --interval ms
// (and on SIGUSR1) a line `stats {"pid","connections","rssKiB","heapMiB"}`. SIGTERM terminates
// every connection and exits; it also exits by itself after --max-seconds.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { WebSocketServer } = await import(pathToFileURL(path.join(root, 'dist', 'index.mjs')).href);

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    base: { type: 'string', default: '20000' },
    ports: { type: 'string', default: '100' },
    interval: { type: 'string', default: '1000' },
    'max-seconds': { type: 'string', default: '300' },
  },
});
const base = Number(values.base);
const ports = Array.from({ length: Number(values.ports) }, (_, i) => base + i);
const wss = new WebSocketServer({ port: ports, host: values.host, reusePort: true, backlog: 4096 });
wss.on('error', (e) => { console.log(`error ${e.message}`); process.exit(1); });
// One listener shared by every socket (EventEmitter calls it with the socket as `this`): a closure
// per connection would cost each idle connection ~100 bytes more.
function echo(data, isBinary) {
  this.send(data, { binary: isBinary });
}
wss.on('connection', (socket) => socket.on('message', echo));

const rssKiB = () => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const stats = () => console.log(`stats ${JSON.stringify({ pid: process.pid, connections: wss.clients.size, rssKiB: rssKiB(),
  heapMiB: +(process.memoryUsage().heapUsed / 1048576).toFixed(1) })}`);
wss.on('listening', () => console.log(`listening ${JSON.stringify({ pid: process.pid, host: values.host, ports: [ports[0], ports.at(-1)] })}`));
setInterval(stats, Number(values.interval));
process.on('SIGUSR1', stats);
process.on('SIGTERM', async () => { await wss.terminate(); process.exit(0); });
setTimeout(() => process.exit(3), Number(values['max-seconds']) * 1000).unref();
