#!/usr/bin/env node
// One process of the scale test (scripts/scale.mjs): a WebSocketServer on ports
// [--base .. --base + --ports - 1] with reusePort (several processes share every port; the kernel
// spreads the connections), echoing. Prints `listening {json}` once bound, then every --interval ms
// a line `stats {"pid","connections","rssKiB","heapMiB"}`, and on SIGUSR1 the same with a memory
// "detail". SIGTERM terminates every connection and exits; it also exits by itself after
// --max-seconds.
import fs from 'node:fs';
import v8 from 'node:v8';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
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

const statusKiB = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
const rssKiB = () => statusKiB(fs.readFileSync('/proc/self/status', 'utf8'), 'VmRSS');
// Where the memory is, for scale.mjs's breakdown (on SIGUSR1 only: reading smaps costs a few ms).
// [heap] is the main thread's malloc arena, where the core's connections live; V8's spaces are
// separate mappings; the rest of RssAnon is other threads' arenas and V8's own bookkeeping.
function memoryDetail() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const heapMapping = /\[heap\]\n(?:.*\n)*?Rss:\s+(\d+)/.exec(fs.readFileSync('/proc/self/smaps', 'utf8'));
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s]));
  const kib = (bytes) => Math.round(bytes / 1024);
  return {
    rssAnonKiB: statusKiB(status, 'RssAnon'),
    rssFileKiB: statusKiB(status, 'RssFile'),
    mallocMainArenaKiB: heapMapping ? Number(heapMapping[1]) : null,
    v8: {
      usedKiB: kib(process.memoryUsage().heapUsed),
      committedKiB: kib(v8.getHeapStatistics().total_physical_size),
      youngCommittedKiB: kib(spaces.new_space.physical_space_size + (spaces.new_large_object_space?.physical_space_size ?? 0)),
    },
  };
}
const stats = (withDetail) => console.log(`stats ${JSON.stringify({ pid: process.pid, connections: wss.clients.size, rssKiB: rssKiB(),
  heapMiB: +(process.memoryUsage().heapUsed / 1048576).toFixed(1), ...(withDetail ? { detail: memoryDetail() } : {}) })}`);
wss.on('listening', () => console.log(`listening ${JSON.stringify({ pid: process.pid, host: values.host, ports: [ports[0], ports.at(-1)] })}`));
setInterval(() => stats(false), Number(values.interval));
process.on('SIGUSR1', () => stats(true));
process.on('SIGTERM', async () => { await wss.terminate(); process.exit(0); });
setTimeout(() => process.exit(3), Number(values['max-seconds']) * 1000).unref();
