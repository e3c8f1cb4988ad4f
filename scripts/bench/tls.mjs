#!/usr/bin/env node
// The TLS benchmarks, side by side in one run (part of `npm run bench`):
//   (i) wss echo, 100 connections, 32 B binary, 16 in flight
//   (j) TLS handshakes/s over 10,000 connections (TLS + WebSocket upgrade, one after the other
//       as fast as the load generator opens them), with server CPU per handshake
//   (k) server RSS per idle wss connection (the connections of (j), held)
// for epollws's native `tls` option, epollws on an https.Server ({ server }), uWebSockets.js SSLApp and ws
// on an https.Server. Every server gets the same throwaway ECDSA P-256 certificate. The server is
// pinned to CPU 0 and native/bench/loadgen (--tls) to CPU 1, as in scripts/bench/run.mjs.
//
//   node scripts/bench/tls.mjs [--quick] [--servers a,b] [--reps N] [--no-pin]
//
// Writes docs/bench/tls-results.json and docs/bench/TLS.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOST, ROOT, buildLoadgen, readRssKb, runLoadgen, sleep } from '../../test/helpers/loadgen.mjs';
import { benchArgs, median, setupUws, withServer as withPinnedServer } from './common.mjs';
import { certFor } from '../../test/helpers/tls-certs.mjs';

const argv = process.argv.slice(2);
const { quick: QUICK, reps: REPS, pin: PIN, only: ONLY } = benchArgs(argv);
const CONNECTIONS = QUICK ? 1000 : 10000;
const WARMUP = QUICK ? 0.5 : 2;
const DURATION = QUICK ? 1.5 : 5;
const log = (...a) => console.error('[bench tls]', ...a);

const cert = certFor('localhost');
const tlsEnv = { EPOLLWS_BENCH_TLS_CERT: cert.certFile, EPOLLWS_BENCH_TLS_KEY: cert.keyFile };
const tlsArgs = ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile];

const SERVERS = [
  { id: 'epollws-tls', label: 'epollws, native tls option', argv: (port) => ['node', 'examples/echo-server.js', '--port', String(port), '--host', HOST, ...tlsArgs] },
  { id: 'epollws-https', label: 'epollws on an https.Server', argv: (port) => ['node', 'test/helpers/https-echo-server.mjs', '--port', String(port), '--host', HOST, ...tlsArgs] },
  { id: 'uws', label: 'uWebSockets.js SSLApp', prepare: setupUws, argv: (port) => ['node', 'scripts/bench/servers/wss-uws.mjs', '--port', String(port), '--host', HOST] },
  { id: 'ws', label: 'ws on an https.Server', argv: (port) => ['node', 'scripts/bench/servers/wss-ws.mjs', '--port', String(port), '--host', HOST] },
].filter((s) => !ONLY || ONLY.includes(s.id));

const withServer = (server, fn) => withPinnedServer(server, fn, { pin: PIN, env: tlsEnv });

const echo = (server) => withServer(server, (s) => runLoadgen([
  '--host', HOST, '--ports', String(s.port), '--tls', '--connections', '100', '--inflight', '16', '--size', '32', '--binary',
  '--warmup', String(WARMUP), '--duration', String(DURATION), '--server-pid', String(s.pid),
], { cpu: PIN ? 1 : null, timeoutMs: 120_000 }));

const connect = (server) => withServer(server, async (s) => {
  await sleep(500);
  const baseKb = readRssKb(s.pid);
  let measured;
  const r = await runLoadgen([
    '--host', HOST, '--ports', String(s.port), '--tls', '--connect', '--connections', String(CONNECTIONS), '--hold', '3',
    '--source-addrs', '127.0.0.2-127.0.0.50', '--server-pid', String(s.pid),
  ], { cpu: PIN ? 1 : null, timeoutMs: 300_000, onReady: () => { measured = sleep(1500).then(() => readRssKb(s.pid)); } });
  const loadedKb = measured ? await measured : null;
  if (r.ok && baseKb !== null && loadedKb !== null) r.result.rssBytesPerConn = ((loadedKb - baseKb) * 1024) / CONNECTIONS;
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
      for (const [kind, fn] of [['echo', echo], ['connect', connect]]) {
        const r = await fn(server);
        runs.push({ server: server.id, kind, rep, ...(r.ok ? { result: r.result } : { error: r.error }) });
        if (r.ok && kind === 'echo') log(`${server.id} echo: ${Math.round(r.result.msgsPerSec)} msgs/s, ${r.result.serverCpuUsPerMsg?.toFixed(3)} us/msg`);
        else if (r.ok) log(`${server.id} connect: ${Math.round(r.result.handshakesPerSec)} handshakes/s, ${Math.round(r.result.serverCpuUsPerHandshake)} us/handshake, ${Math.round(r.result.rssBytesPerConn)} B/conn`);
        else log(`${server.id} ${kind}: FAILED: ${r.error}`);
      }
    }
  }
  const rows = SERVERS.map((s) => {
    const pick = (kind, f) => median(runs.filter((r) => r.server === s.id && r.kind === kind && r.result).map((r) => f(r.result)));
    return {
      ...s,
      msgsPerSec: pick('echo', (x) => x.msgsPerSec),
      usPerMsg: pick('echo', (x) => x.serverCpuUsPerMsg),
      p50: pick('echo', (x) => x.latencyUs?.p50),
      handshakesPerSec: pick('connect', (x) => x.handshakesPerSec),
      usPerHandshake: pick('connect', (x) => x.serverCpuUsPerHandshake),
      bytesPerConn: pick('connect', (x) => x.rssBytesPerConn),
      failed: runs.find((r) => r.server === s.id && r.error)?.error,
    };
  });
  const L = ['# TLS benchmarks', '', `Generated by \`node scripts/bench/tls.mjs${argv.length ? ` ${argv.join(' ')}` : ''}\` on ${new Date().toISOString()} (${os.cpus()[0]?.model}, ${os.cpus().length} CPUs, Node ${process.version}); medians of ${REPS} repetition(s). ECDSA P-256 certificate for every server; \`native/bench/loadgen --tls\` (OpenSSL, TLS 1.3) pinned to CPU ${PIN ? 1 : '–'}, the server to CPU ${PIN ? 0 : '–'}.`, ''];
  L.push('| Server | (i) wss echo msgs/s | server CPU µs/msg | p50 µs | (j) TLS handshakes/s | server CPU µs/handshake | (k) RSS B/idle conn | Notes |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    L.push(`| ${r.label} | ${fmt(r.msgsPerSec)} | ${fmt(r.usPerMsg, 3)} | ${fmt(r.p50, 1)} | ${fmt(r.handshakesPerSec)} | ${fmt(r.usPerHandshake, 1)} | ${fmt(r.bytesPerConn)} | ${(r.unavailable ? `unavailable: ${r.unavailable}` : r.failed ? `failed: ${r.failed}` : '').replace(/\|/g, '/')} |`);
  }
  L.push('', `(i): 100 connections, 32 B binary, 16 in flight. (j)/(k): ${CONNECTIONS.toLocaleString('en')} connections; RSS 1.5 s after the last handshake minus RSS before, per connection.`, '');
  mkdirSync(path.join(ROOT, 'docs/bench'), { recursive: true });
  writeFileSync(path.join(ROOT, 'docs/bench/tls-results.json'), `${JSON.stringify({ argv, runs }, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'docs/bench/TLS.md'), `${L.join('\n')}\n`);
  console.log(L.join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
