#!/usr/bin/env node
// Scenario (g) of `npm run bench`, permessage-deflate side by side in one run:
//   (g)  compressed echo, 100 connections, 1 KiB JSON-like text, 16 in flight: msgs/s, server CPU
//        per message, bytes on the wire per message each way (and the ratio to the 1,024 B payload)
//   (g') server RSS per idle compressed connection at 10,000 connections, each having exchanged one
//        compressed message (so every server holds what it keeps after use)
// for epollws (`examples/echo-server.js --deflate`: threshold 0, context takeover), ws
// (perMessageDeflate threshold 0, pure JS), uWebSockets.js with SHARED_COMPRESSOR and with
// DEDICATED_COMPRESSOR + DEDICATED_DECOMPRESSOR. native/bench/loadgen --deflate offers
// "permessage-deflate; client_max_window_bits", requires the server to accept, compresses its own
// messages (zlib level 1, its own context unless client_no_context_takeover was answered), inflates
// every echo and compares it byte for byte. Servers pinned to CPU 0, the load generator to CPU 1,
// servers interleaved within each repetition (order rotated), medians reported.
//
//   node scripts/bench/deflate.mjs [--quick] [--servers a,b] [--reps N] [--no-pin]
//   (or node scripts/bench/run.mjs --only g)
//
// Writes docs/bench/deflate-results.json and docs/bench/DEFLATE.md (other sections' files untouched).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST, ROOT, buildLoadgen, readRssKb, runLoadgen, sleep } from '../../test/helpers/loadgen.mjs';
import { benchArgs, median, ratio, setupUws, withServer as withPinnedServer } from './common.mjs';

const argv = process.argv.slice(2);
const { quick: QUICK, reps: REPS, pin: PIN, only: ONLY } = benchArgs(argv);
const CONNECTIONS = QUICK ? 1000 : 10000;
const WARMUP = QUICK ? 0.5 : 2;
const DURATION = QUICK ? 1.5 : 5;
const SIZE = 1024;
const HOLD = 3;
const RSS_SETTLE_MS = 1500;
const log = (...a) => console.error('[bench deflate]', ...a);

const pkg = (p) => JSON.parse(readFileSync(path.join(ROOT, p), 'utf8')).version;

const SERVERS = [
  { id: 'epollws', label: 'epollws (perMessageDeflate, threshold 0)', version: pkg('package.json'), argv: (port) => ['node', 'examples/echo-server.js', '--port', String(port), '--host', HOST, '--deflate'] },
  { id: 'ws', label: 'ws (pure JS, perMessageDeflate, threshold 0)', version: pkg('node_modules/ws/package.json'), env: { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' }, argv: (port) => ['node', 'scripts/bench/servers/ws-echo.mjs', '--port', String(port), '--host', HOST, '--deflate'] },
  { id: 'uws-shared', label: 'uWebSockets.js SHARED_COMPRESSOR', prepare: setupUws, argv: (port) => ['node', 'scripts/bench/servers/uws-echo.mjs', '--port', String(port), '--host', HOST, '--compression', 'shared'] },
  { id: 'uws-dedicated', label: 'uWebSockets.js DEDICATED_COMPRESSOR + DEDICATED_DECOMPRESSOR', prepare: setupUws, argv: (port) => ['node', 'scripts/bench/servers/uws-echo.mjs', '--port', String(port), '--host', HOST, '--compression', 'dedicated'] },
].filter((s) => !ONLY || ONLY.includes(s.id));

const withServer = (server, fn) => withPinnedServer(server, fn, { pin: PIN });

const echo = (server) => withServer(server, (s) => runLoadgen([
  '--host', HOST, '--ports', String(s.port), '--deflate', '--connections', '100', '--inflight', '16', '--size', String(SIZE), '--text',
  '--warmup', String(WARMUP), '--duration', String(DURATION), '--server-pid', String(s.pid),
], { cpu: PIN ? 1 : null, timeoutMs: 120_000 }));

const idle = (server) => withServer(server, async (s) => {
  await sleep(500);
  const baseKb = readRssKb(s.pid);
  let measured;
  const r = await runLoadgen([
    '--host', HOST, '--ports', String(s.port), '--deflate', '--text', '--size', String(SIZE), '--connect', '--connections', String(CONNECTIONS),
    '--hold', String(HOLD), '--source-addrs', '127.0.0.2-127.0.0.50', '--server-pid', String(s.pid),
  ], { cpu: PIN ? 1 : null, timeoutMs: 300_000, onReady: () => { measured = sleep(RSS_SETTLE_MS).then(() => readRssKb(s.pid)); } });
  const loadedKb = measured ? await measured : null;
  if (r.ok && (baseKb === null || loadedKb === null)) return { ok: false, error: 'could not read VmRSS (server exited?)' };
  if (r.ok) Object.assign(r.result, { rssBaseKb: baseKb, rssLoadedKb: loadedKb, rssBytesPerConn: ((loadedKb - baseKb) * 1024) / CONNECTIONS });
  return r;
});

const fmt = (x, d = 0) => (x == null ? '–' : d ? x.toFixed(d) : Math.round(x).toLocaleString('en'));

async function main() {
  const buildError = buildLoadgen();
  if (buildError) throw new Error(`cannot build the load generator: ${buildError}`);
  const runs = [];
  for (const server of SERVERS) {
    const p = server.prepare?.();
    if (p?.error) server.unavailable = p.error;
    else Object.assign(server, p);
  }
  const live = SERVERS.filter((s) => !s.unavailable);
  for (let rep = 0; rep < REPS; rep++) {
    for (const [i] of live.entries()) {
      const server = live[(i + rep) % live.length];
      for (const [kind, fn] of [['echo', echo], ['idle', idle]]) {
        const r = await fn(server);
        runs.push({ server: server.id, kind, rep, loadavg: os.loadavg()[0], ...(r.ok ? { result: r.result } : { error: r.error }) });
        if (r.ok && kind === 'echo') log(`${server.id} echo rep ${rep}: ${Math.round(r.result.msgsPerSec)} msgs/s, ${r.result.serverCpuUsPerMsg?.toFixed(2)} us/msg, wire ${r.result.wireBytesPerMsgOut?.toFixed(0)} B out / ${r.result.wireBytesPerMsgIn?.toFixed(0)} B in, loadgen CPU ${Math.round(r.result.loadgenCpu * 100)}%, other CPU ${Math.round(r.result.otherCpu * 100)}%`);
        else if (r.ok) log(`${server.id} idle rep ${rep}: ${Math.round(r.result.rssBytesPerConn)} B/conn`);
        else log(`${server.id} ${kind} rep ${rep}: FAILED: ${r.error}`);
      }
    }
  }
  const rows = SERVERS.map((s) => {
    const ok = (kind) => runs.filter((r) => r.server === s.id && r.kind === kind && r.result);
    const pick = (kind, f) => median(ok(kind).map((r) => f(r.result)));
    return {
      id: s.id,
      label: s.label,
      version: s.version ?? null,
      unavailable: s.unavailable ?? null,
      msgsPerSec: pick('echo', (x) => x.msgsPerSec),
      usPerMsg: pick('echo', (x) => x.serverCpuUsPerMsg),
      p50: pick('echo', (x) => x.latencyUs?.p50),
      wireOut: pick('echo', (x) => x.wireBytesPerMsgOut),
      wireIn: pick('echo', (x) => x.wireBytesPerMsgIn),
      compressedShare: pick('echo', (x) => x.compressedEchoes / x.messages),
      loadgenCpu: pick('echo', (x) => x.loadgenCpu),
      otherCpu: pick('echo', (x) => x.otherCpu),
      saturated: ok('echo').filter((r) => r.result.loadgenSaturated).length,
      bytesPerConn: pick('idle', (x) => x.rssBytesPerConn),
      failed: runs.find((r) => r.server === s.id && r.error)?.error ?? null,
    };
  });
  const ref = (id, k) => rows.find((r) => r.id === id)?.[k];
  const command = `node scripts/bench/deflate.mjs${argv.length ? ` ${argv.join(' ')}` : ''}`;
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const L = ['# Benchmarks: (g) permessage-deflate', ''];
  L.push(`Generated by \`${command}\` (also \`node scripts/bench/run.mjs --only g\`, and part of \`npm run bench\`) on ${new Date().toISOString()}; do not edit by hand. Raw runs: \`docs/bench/deflate-results.json\`.`, '');
  L.push(`- Machine: ${os.cpus()[0]?.model}, ${os.cpus().length} CPUs; Node ${process.version}; commit ${git.status === 0 ? git.stdout.trim() : 'none'}. Server pinned to CPU ${PIN ? 0 : '–'}, \`native/bench/loadgen --deflate\` to CPU ${PIN ? 1 : '–'}; ${REPS} repetition(s), servers interleaved (order rotated per repetition), medians shown.`);
  L.push(`- (g): 100 connections, 16 messages in flight each, ${SIZE} B JSON-like text (chat messages: ids, timestamps, user names and words vary per message), ${WARMUP} s warmup, ${DURATION} s measured. The load generator offers \`permessage-deflate; client_max_window_bits\`, fails unless the server accepts, compresses its messages (zlib level 1, context takeover unless the server answered client_no_context_takeover), inflates every echo and compares it byte for byte with what it sent.`);
  L.push(`- Wire B/msg: WebSocket frame bytes (header, mask, payload) per message, client→server (the load generator's compression) and server→client (the server's); "ratio" is server→client bytes over the ${SIZE} B payload. Server CPU µs/msg: server user+system CPU (/proc/PID/stat) over the window divided by messages echoed.`);
  L.push(`- (g'): ${CONNECTIONS.toLocaleString('en')} connections, each exchanges one compressed ${SIZE} B message and then idles; server VmRSS ${RSS_SETTLE_MS / 1000} s after the last echo minus VmRSS before connecting, per connection.`);
  L.push('- The machine is shared (2 cores, other engineers\' builds and tests): "other CPU" is what other processes used during the window; such runs understate every server, and only ratios within this run compare fairly.', '');
  L.push('| Server | (g) msgs/s | server CPU µs/msg | p50 µs | wire B/msg client→server | wire B/msg server→client | ratio | vs ws | vs uWS dedicated | (g\') RSS B/idle conn | vs uWS dedicated | Notes |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const notes = [];
    if (r.unavailable) notes.push(`unavailable: ${r.unavailable}`);
    if (r.failed) notes.push(`failed: ${r.failed}`);
    if (r.saturated) notes.push(`load generator saturated in ${r.saturated} run(s)`);
    if (r.otherCpu > 0.1) notes.push(`other CPU ${Math.round(r.otherCpu * 100)}%`);
    if (r.compressedShare != null && r.compressedShare < 1) notes.push(`${Math.round(r.compressedShare * 100)}% of echoes compressed`);
    L.push(`| ${r.label} | ${fmt(r.msgsPerSec)} | ${fmt(r.usPerMsg, 2)} | ${fmt(r.p50, 0)} | ${fmt(r.wireOut, 1)} | ${fmt(r.wireIn, 1)} | ${r.wireIn == null ? '–' : (r.wireIn / SIZE).toFixed(3)} | ${ratio(r.msgsPerSec, ref('ws', 'msgsPerSec'))} | ${ratio(r.msgsPerSec, ref('uws-dedicated', 'msgsPerSec'))} | ${fmt(r.bytesPerConn)} | ${ratio(r.bytesPerConn, ref('uws-dedicated', 'bytesPerConn'))} | ${notes.join('; ').replace(/\|/g, '/')} |`);
  }
  L.push('', 'Versions: ' + rows.map((r) => `${r.id} ${r.version ?? '–'}`).join(', ') + '.', '');
  mkdirSync(path.join(ROOT, 'docs/bench'), { recursive: true });
  writeFileSync(path.join(ROOT, 'docs/bench/deflate-results.json'), `${JSON.stringify({ command, date: new Date().toISOString(), reps: REPS, rows, runs }, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'docs/bench/DEFLATE.md'), `${L.join('\n')}\n`);
  console.log(L.join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
