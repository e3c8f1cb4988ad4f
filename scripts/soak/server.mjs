#!/usr/bin/env node
// A configurable echo server for the limits / EMFILE tests and the soak: like examples/echo-server.js,
// plus `--options JSON` (any WebSocketServer option) and a line protocol on stdout the parent reads:
//   listening on ws://HOST:PORT
//   event {"type":"close","code":1006,...}      (with --events: one line per server-side close / error)
//   warning <message>                           (process warnings, e.g. accept EMFILE)
//   server-error <message>                      (the server's 'error' event; the process keeps running)
//   stats {"clients":N,"rss":...}               (answer to SIGUSR2)
//   closed {"ms":N}                             (after SIGTERM: `await wss.close()` resolved; then exit 0)
// SIGINT terminates immediately. Exits by itself after --max-seconds (default 900).
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { WebSocketServer } = await import(pathToFileURL(path.join(root, 'dist', 'index.mjs')).href);

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    options: { type: 'string', default: '{}' },
    events: { type: 'boolean', default: false },
    'error-listener': { type: 'boolean', default: false },
    'max-seconds': { type: 'string', default: '900' },
  },
});

const ports = values.port.includes(',') ? values.port.split(',').map(Number) : Number(values.port);
const extra = JSON.parse(values.options);
const wss = new WebSocketServer({
  port: ports,
  host: values.host,
  maxPayload: 16 * 1024 * 1024 + 64 * 1024,
  ...extra,
});

const out = (line) => process.stdout.write(`${line}\n`);
process.on('warning', (w) => out(`warning ${w.message}`));
// Without --error-listener the server has no 'error' listener: a listen failure throws, and
// runtime reports (accept EMFILE) become process warnings.
if (values['error-listener']) wss.on('error', (e) => out(`server-error ${e.code ?? ''} ${e.message}`));

let opened = 0;
let closed = 0;
const closeCodes = {};
wss.on('connection', (socket) => {
  opened++;
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', (e) => {
    if (values.events) out(`event ${JSON.stringify({ type: 'error', code: e.code, closeCode: e.closeCode })}`);
  });
  socket.on('close', (code) => {
    closed++;
    closeCodes[code] = (closeCodes[code] ?? 0) + 1;
    if (values.events) out(`event ${JSON.stringify({ type: 'close', code })}`);
  });
});
wss.on('listening', () => {
  const a = wss.address();
  out(`listening on ws://${values.host.includes(':') ? `[${values.host}]` : values.host}:${a.port}`);
});

// With --expose-gc the stats answer reports the memory before and after a full GC.
// Node runs the finalizers of external Buffers after the GC that found them dead, so collect,
// let them run, and collect again before reading.
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  globalThis.gc?.();
  setTimeout(() => {
    globalThis.gc?.();
    setTimeout(() => {
      const after = process.memoryUsage();
      const mib = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, +(v / 1048576).toFixed(1)]));
      out(`stats ${JSON.stringify({ clients: wss.clients?.size ?? -1, opened, closed, closeCodes, memoryMiB: mib(before), afterGcMiB: globalThis.gc ? mib(after) : null })}`);
    }, 50);
  }, 50);
});
process.on('SIGTERM', async () => {
  const t0 = Date.now();
  await wss.close();
  out(`closed ${JSON.stringify({ ms: Date.now() - t0 })}`);
  process.exit(0);
});
process.on('SIGINT', async () => {
  await wss.terminate();
  process.exit(0);
});
setTimeout(() => process.exit(3), Number(values['max-seconds']) * 1000).unref();
// Keeps the process alive (the server's own handles may be unref'd).
setInterval(() => {}, 1 << 30);
