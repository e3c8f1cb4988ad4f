#!/usr/bin/env node
// A configurable echo server for the limits / EMFILE tests and the soak: like examples/echo-server.js,
// plus `--options JSON` (any WebSocketServer option) and a line protocol on stdout the parent reads:
//   listening on ws://HOST:PORT
//   listening tls on wss://HOST:PORT           (with --tls-cert/--tls-key: a second server, same options
//                                                plus `tls`, on its own port)
//   event {"type":"close","code":1006,...}      (with --events: one line per server-side close / error)
//   warning <message>                           (process warnings, e.g. accept EMFILE)
//   server-error <message>                      (the server's 'error' event; the process keeps running)
//   stats {"clients":N,"opened":N,...,"tls":{...}} (answer to SIGUSR2; top-level counts cover both servers)
//   closed {"ms":N}                             (after SIGTERM: `await wss.close()` resolved; then exit 0)
// SIGINT terminates immediately. Exits by itself after --max-seconds (default 900).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
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
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-port': { type: 'string', default: '0' },
  },
});

const ports = values.port.includes(',') ? values.port.split(',').map(Number) : Number(values.port);
const extra = JSON.parse(values.options);
const common = { host: values.host, maxPayload: 16 * 1024 * 1024 + 64 * 1024, ...extra };
const wss = new WebSocketServer({ port: ports, ...common });
const tlsWss = values['tls-cert'] === undefined ? null : new WebSocketServer({
  port: Number(values['tls-port']),
  ...common,
  tls: { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) },
});
const servers = tlsWss ? [wss, tlsWss] : [wss];

const out = (line) => process.stdout.write(`${line}\n`);
process.on('warning', (w) => out(`warning ${w.message}`));
// Without --error-listener the server has no 'error' listener: a listen failure throws, and
// runtime reports (accept EMFILE) become process warnings.
if (values['error-listener']) for (const s of servers) s.on('error', (e) => out(`server-error ${e.code ?? ''} ${e.message}`));

const hostText = values.host.includes(':') ? `[${values.host}]` : values.host;
/** Echoes on `server` and counts its connections into a fresh record (reported per server). */
function serve(server, tls) {
  const counts = { opened: 0, closed: 0, closeCodes: {} };
  server.on('connection', (socket) => {
    counts.opened++;
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('error', (e) => {
      if (values.events) out(`event ${JSON.stringify({ type: 'error', code: e.code, closeCode: e.closeCode, tls })}`);
    });
    socket.on('close', (code) => {
      counts.closed++;
      counts.closeCodes[code] = (counts.closeCodes[code] ?? 0) + 1;
      if (values.events) out(`event ${JSON.stringify({ type: 'close', code, tls })}`);
    });
  });
  server.on('listening', () => out(`listening ${tls ? 'tls on wss' : 'on ws'}://${hostText}:${server.address().port}`));
  return counts;
}
const plainCounts = serve(wss, false);
const tlsCounts = tlsWss ? serve(tlsWss, true) : null;

// The longest the event loop was late (ms): a stalled loop delays accepts and TLS handshakes too.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

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
      const both = [plainCounts, tlsCounts].filter(Boolean);
      const closeCodes = {};
      for (const c of both) for (const [code, n] of Object.entries(c.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + n;
      const tls = tlsWss ? { clients: tlsWss.clients?.size ?? -1, ...tlsCounts } : undefined;
      out(`stats ${JSON.stringify({
        clients: servers.every((s) => s.clients) ? servers.reduce((n, s) => n + s.clients.size, 0) : -1,
        opened: both.reduce((n, c) => n + c.opened, 0),
        closed: both.reduce((n, c) => n + c.closed, 0),
        closeCodes,
        tls,
        loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
        memoryMiB: mib(before),
        afterGcMiB: globalThis.gc ? mib(after) : null,
      })}`);
    }, 50);
  }, 50);
});
process.on('SIGTERM', async () => {
  const t0 = Date.now();
  await Promise.all(servers.map((s) => s.close()));
  out(`closed ${JSON.stringify({ ms: Date.now() - t0 })}`);
  process.exit(0);
});
process.on('SIGINT', async () => {
  await Promise.all(servers.map((s) => s.terminate()));
  process.exit(0);
});
setTimeout(() => process.exit(3), Number(values['max-seconds']) * 1000).unref();
// Keeps the process alive (the server's own handles may be unref'd).
setInterval(() => {}, 1 << 30);
