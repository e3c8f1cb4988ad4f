#!/usr/bin/env node
// Memory of idle permessage-deflate connections (issue #11's measurement): --connections `ws`
// clients each exchange one ~1 KiB JSON message with the server, then sit idle; the server's RSS
// growth per connection is taken after a warm-up round and a GC, for epollws and ws, each with and
// without permessage-deflate (ws's defaults: context takeover, 15-bit windows, threshold 1024;
// `-nct`: both no_context_takeover flags). Then every client starts a second compressed message
// and leaves it unfinished (one fragment, fin unset): the "active" figure, a message in progress
// on every connection at once (each holds an inflater until its message ends).
//
//   node scripts/scale/deflate-memory.mjs [--connections 5000] [--servers epollws,epollws-deflate,ws,ws-deflate] [--json]
//
// Each server runs in its own process (this file with --serve), the clients in this one.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..', '..');
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '5000' },
    servers: { type: 'string', default: 'epollws,epollws-deflate,ws,ws-deflate' },
    settle: { type: 'string', default: '3' },
    serve: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const rssKiB = () => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);

// A chat message of about 1 KiB (above ws's default threshold, so it is compressed both ways).
function chatMessage(i) {
  const words = ['hello', 'there', 'meeting', 'at', 'noon', 'see', 'you', 'soon', 'thanks', 'ok'];
  const lines = [];
  for (let k = 0; JSON.stringify(lines).length < 1000; k++) lines.push({ from: `user${(i + k) % 97}`, text: words.slice(k % 5, k % 5 + 5).join(' '), ts: 1700000000 + i * 13 + k });
  return JSON.stringify({ room: 'general', messages: lines });
}

if (values.serve) {
  // The server process: prints "ready <port>", then answers "measure" on stdin with "rss <KiB>".
  const kind = values.serve;
  const deflate = kind.endsWith('-nct') ? { serverNoContextTakeover: true, clientNoContextTakeover: true } : kind.endsWith('-deflate');
  let wss;
  if (kind.startsWith('epollws')) {
    const { WebSocketServer } = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.mjs')).href);
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', backlog: 4096, perMessageDeflate: deflate });
  } else {
    const { WebSocketServer } = await import('ws');
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', backlog: 4096, perMessageDeflate: deflate, clientTracking: true });
  }
  wss.on('connection', (socket) => socket.on('message', function echo(data, isBinary) { socket.send(data, { binary: isBinary }); }));
  wss.on('listening', () => console.log(`ready ${wss.address().port}`));
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async () => {
    for (let i = 0; i < 4; i++) {
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`rss ${rssKiB()}`);
  });
} else {
  const { default: WebSocket } = await import('ws');
  const N = Number(values.connections);
  const results = [];
  for (const kind of values.servers.split(',')) {
    const child = spawn(process.execPath, ['--expose-gc', HERE, '--serve', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = [];
    let wake = null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => { lines.push(...d.trim().split('\n')); wake?.(); });
    const next = async (prefix) => {
      for (;;) {
        const i = lines.findIndex((l) => l.startsWith(prefix));
        if (i >= 0) return lines.splice(i, 1)[0].slice(prefix.length + 1);
        await new Promise((r) => { wake = r; });
      }
    };
    const port = Number(await next('ready'));
    const measure = async () => { child.stdin.write('measure\n'); return Number(await next('rss')); };
    const deflate = kind.includes('-deflate');
    const round = async (count) => {
      const sockets = [];
      for (let start = 0; start < count; start += 200) {
        const batch = [];
        for (let i = start; i < Math.min(count, start + 200); i++) {
          batch.push(new Promise((resolve, reject) => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
            ws.once('error', reject);
            ws.once('open', () => {
              ws.once('message', () => resolve(ws));
              ws.send(chatMessage(i));
            });
          }));
        }
        sockets.push(...await Promise.all(batch));
      }
      return sockets;
    };
    // Warm-up: the code and pools a first burst pages in are the process's, not the connections'.
    const warm = await round(500);
    for (const ws of warm) ws.terminate();
    await new Promise((r) => setTimeout(r, 1000));
    const base = await measure();
    const sockets = await round(N);
    const negotiated = sockets[0].extensions;
    await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
    const idle = await measure();
    // A message in progress on every connection: its first fragment only.
    for (let i = 0; i < sockets.length; i++) sockets[i].send(chatMessage(i + N), { fin: false });
    await new Promise((r) => setTimeout(r, Number(values.settle) * 1000));
    const active = await measure();
    for (const ws of sockets) ws.terminate();
    child.kill('SIGTERM');
    const perConnection = ((idle - base) * 1024) / N;
    const perActive = ((active - base) * 1024) / N;
    results.push({ server: kind, connections: N, extensions: negotiated || '', baseKiB: base, idleKiB: idle, activeKiB: active,
      bytesPerIdleConnection: Math.round(perConnection), bytesPerActiveConnection: Math.round(perActive) });
    if (!values.json) {
      console.log(`${kind.padEnd(20)} ${(negotiated || 'no extension').padEnd(70)} idle ${(perConnection / 1024).toFixed(1)} KiB, ` +
        `message in progress ${(perActive / 1024).toFixed(1)} KiB per connection (RSS ${base} -> ${idle} -> ${active} KiB, ${N} connections)`);
    }
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
}
