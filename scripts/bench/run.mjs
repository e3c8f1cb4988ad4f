#!/usr/bin/env node
// Side-by-side WebSocket echo benchmark: epollws against ws (pure JS and with its native helpers),
// uWebSockets.js and a bare C++ server on native/core. Each server runs pinned to CPU 0, the native
// load generator to CPU 1; servers are interleaved within each repetition (order rotated per rep)
// so slow drifts of a shared machine hit all of them alike, and the median of the reps is reported.
//
//   node scripts/bench/run.mjs [--quick] [--only a,b,...] [--servers epollws,ws,...] [--reps N] [--no-pin]
//
// (h) is fan-out: one publisher and 1,000 subscribers, and 10 publishers and 10,000 subscribers
// (native/bench/fanout: every subscriber checks
// that it receives every message in order), against epollws's wss.publish, epollws's own loop over
// its sockets, uWebSockets.js's app.publish and ws's loop (scripts/bench/servers/fanout-*.mjs).
//
// (g) and (g') are permessage-deflate (compressed echo, memory per idle compressed connection):
// scripts/bench/deflate.mjs, run after the echo/fan-out sections (or alone with --only g), writing
// docs/bench/DEFLATE.md.
//
// (i)-(k) are TLS (wss echo, TLS handshakes/s, memory per TLS connection): scripts/bench/tls.mjs,
// run at the end (or alone with --only i / tls), writing docs/bench/TLS.md.
//
// (l) is socket.io broadcast (one emitter, 1,000 socket.io clients; socket.io with ws, eiows and
// epollws as its engine): scripts/bench/socketio.mjs, run at the end (or alone with --only l /
// socketio), writing docs/bench/SOCKETIO.md.
//
// Writes bench/results.json (every run, medians, machine info) and BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import {
  HOST, LOADGEN, ROOT, buildLoadgen, freePort, readRssKb, runJsonProcess, runLoadgen, sleep, startServer, stopServer,
} from '../../test/helpers/loadgen.mjs';
import { median, ratio } from './common.mjs';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { quick: false, only: null, servers: null, reps: null, pin: true, baseline: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = argv[++i].split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--servers') o.servers = argv[++i].split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--baseline') o.baseline = path.resolve(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/bench/run.mjs [--quick] [--only a,b,c,d,e,f,g,h,i,l] [--servers epollws,epollws-before,epollws-loop,ws,ws-native,uws,cpp] [--reps N] [--no-pin] [--baseline DIR]\n' +
        '  --baseline DIR  adds the server epollws-before: DIR\'s examples/echo-server.js with DIR\'s built dist/ and addon\n' +
        '                  (another checkout, e.g. a git worktree of the previous commit), measured in the same run');
      process.exit(0);
    } else {
      console.error(`unknown option ${a}`);
      process.exit(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const REPS = opts.reps ?? (opts.quick ? 1 : 3);
const ECHO_WARMUP = opts.quick ? 0.5 : 2;
const ECHO_DURATION = opts.quick ? 1.5 : 5;
const HOLD = 3; // seconds a --connect run keeps its connections idle
const RSS_SETTLE_MS = 1500; // after all handshakes: let the server finish its open callbacks
const CONNECT_SMALL = opts.quick ? 1000 : 10000;
const CONNECT_LARGE = opts.quick ? 2000 : 19000;
const SERVER_CPU = opts.pin ? 0 : null;
const LOADGEN_CPU = opts.pin ? 1 : null;
const SOURCE_ADDRS = '127.0.0.2-127.0.0.50';

// ---------------------------------------------------------------------------------------------
// Scenarios

const KiB = 1024;
const MiB = 1024 * KiB;
const SCENARIOS = [
  { id: 'a', group: 'a', kind: 'echo', title: '(a) 100 connections, 32 B binary, 1 in flight', connections: 100, size: 32, inflight: 1, type: 'binary' },
  { id: 'b-binary', group: 'b', kind: 'echo', title: '(b) 100 connections, 32 B binary, 16 in flight', connections: 100, size: 32, inflight: 16, type: 'binary' },
  { id: 'b-text', group: 'b', kind: 'echo', title: '(b) 100 connections, 32 B text, 16 in flight', connections: 100, size: 32, inflight: 16, type: 'text' },
  { id: 'c', group: 'c', kind: 'echo', title: '(c) 10 connections, 64 KiB binary, 1 in flight', connections: 10, size: 64 * KiB, inflight: 1, type: 'binary' },
  { id: 'd', group: 'd', kind: 'echo', title: '(d) 4 connections, 4 MiB binary, 1 in flight', connections: 4, size: 4 * MiB, inflight: 1, type: 'binary' },
  { id: 'e', group: 'e', kind: 'handshake', title: `(e) handshakes/s over ${CONNECT_SMALL.toLocaleString('en')} connections` },
  { id: 'f', group: 'f', kind: 'memory', title: `(f) server RSS per idle connection at ${CONNECT_SMALL.toLocaleString('en')} and ${CONNECT_LARGE.toLocaleString('en')} connections` },
  // window: messages each publisher keeps in flight (not yet received by every subscriber); with
  // 10,000 subscribers it is small, so the queues stay far below the server-wide bound.
  { id: 'h-32', group: 'h', kind: 'fanout', title: '(h) fan-out: 1 publisher, 1,000 subscribers, 32 B binary', publishers: 1, subscribers: 1000, size: 32, window: 256 },
  { id: 'h-1k', group: 'h', kind: 'fanout', title: '(h) fan-out: 1 publisher, 1,000 subscribers, 1 KiB binary', publishers: 1, subscribers: 1000, size: 1024, window: 256 },
  { id: 'h10-32', group: 'h', kind: 'fanout', title: '(h) fan-out: 10 publishers, 10,000 subscribers, 32 B binary', publishers: 10, subscribers: 10000, size: 32, window: 8 },
  { id: 'h10-1k', group: 'h', kind: 'fanout', title: '(h) fan-out: 10 publishers, 10,000 subscribers, 1 KiB binary', publishers: 10, subscribers: 10000, size: 1024, window: 8 },
];
const FANOUT = path.join(ROOT, 'native/bench/build/fanout');
const selected = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.id) || opts.only.includes(s.group));
// (i) wss echo, (j) TLS handshakes/s and (k) memory per TLS connection: scripts/bench/tls.mjs,
// run after the others (its own servers: the tls option, an https.Server, uWS.js SSLApp, ws).
const TLS_SELECTED = !opts.only || opts.only.some((x) => ['i', 'j', 'k', 'tls'].includes(x));
function runTlsBench() {
  const args = [...(opts.quick ? ['--quick'] : []), ...(opts.reps ? ['--reps', String(opts.reps)] : []), ...(opts.pin ? [] : ['--no-pin'])];
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/bench/tls.mjs'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
// (g): its own script too (its servers run with compression on; its loadgen runs use --deflate).
const DEFLATE_SELECTED = !opts.only || opts.only.some((x) => ['g', "g'", 'deflate'].includes(x));
function runDeflateBench() {
  const args = [...(opts.quick ? ['--quick'] : []), ...(opts.reps ? ['--reps', String(opts.reps)] : []), ...(opts.pin ? [] : ['--no-pin'])];
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/bench/deflate.mjs'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
// (l): socket.io broadcast, its own script (socket.io servers and a socket.io-client load process).
const SOCKETIO_SELECTED = !opts.only || opts.only.some((x) => ['l', 'socketio'].includes(x));
function runSocketioBench() {
  const args = [...(opts.quick ? ['--quick'] : []), ...(opts.reps ? ['--reps', String(opts.reps)] : []), ...(opts.pin ? [] : ['--no-pin'])];
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/bench/socketio.mjs'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}
if (selected.length === 0 && (TLS_SELECTED || DEFLATE_SELECTED || SOCKETIO_SELECTED)) {
  // Only the separate scripts' sections: results.json and BENCHMARKS.md stay as they are.
  if (DEFLATE_SELECTED) runDeflateBench();
  if (TLS_SELECTED) runTlsBench();
  if (SOCKETIO_SELECTED) runSocketioBench();
  process.exit(process.exitCode ?? 0);
}
if (selected.length === 0) {
  console.error(`--only ${opts.only} selects no scenario (a, b, b-binary, b-text, c, d, e, f, g, h, h-32, h-1k, h10-32, h10-1k, i, j, k, tls, l, socketio)`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Servers

const rootRequire = createRequire(path.join(ROOT, 'package.json'));
const echoScript = (name) => path.join('scripts/bench/servers', name);

function packageVersion(name, from = rootRequire) {
  try {
    return JSON.parse(readFileSync(from.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
}

// bufferutil and utf-8-validate: the repo's devDependencies when installed; otherwise a copy kept
// outside the repo, found by ws's require() through NODE_PATH (a plain `npm install` in the repo
// prunes packages installed with --no-save).
function nativeHelpers() {
  const loads = (req) => ['bufferutil', 'utf-8-validate'].every((name) => {
    try {
      req(name);
      return true;
    } catch {
      return false;
    }
  });
  if (loads(rootRequire)) return { env: {}, require: rootRequire };
  const dir = path.join(process.env.EPOLLWS_BENCH_CACHE || path.join(os.homedir(), '.cache/epollws-bench'), 'ws-native');
  const cacheRequire = createRequire(path.join(dir, 'node_modules', 'index.js'));
  if (!loads(cacheRequire)) {
    log('installing bufferutil and utf-8-validate under', dir);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', 'bufferutil@^4', 'utf-8-validate@^6'], { encoding: 'utf8' });
    if (r.status !== 0 || !loads(cacheRequire)) {
      return { error: `bufferutil/utf-8-validate not in devDependencies and could not be installed: ${`${r.stderr ?? r.error}`.trim().split('\n').pop()}` };
    }
  }
  return { env: { NODE_PATH: path.join(dir, 'node_modules') }, require: cacheRequire };
}

function setupUws() {
  const r = spawnSync('sh', [path.join(ROOT, 'scripts/bench/setup-uws.sh')], { encoding: 'utf8' });
  if (r.status !== 0) {
    const lines = `${r.stderr}`.trim().split('\n').filter(Boolean);
    return { error: `setup-uws.sh failed: ${lines.slice(-2).join(' ') || `exit ${r.status}`}` };
  }
  const dir = /UWS_DIR=(.*)/.exec(r.stdout)?.[1]?.trim();
  const preload = /UWS_PRELOAD=(.*)/.exec(r.stdout)?.[1]?.trim() ?? '';
  if (!dir) return { error: 'setup-uws.sh printed no UWS_DIR' };
  const version = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  return { dir, preload, version };
}

const SERVERS = [
  {
    id: 'epollws',
    label: 'epollws',
    prepare() {
      if (!existsSync(path.join(ROOT, 'examples/echo-server.js'))) return { error: 'examples/echo-server.js does not exist yet' };
      return { argv: (port) => ['node', 'examples/echo-server.js', '--port', String(port), '--host', HOST], version: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version };
    },
  },
  // The previous build, side by side with this one (--baseline DIR): its own example, dist and addon.
  ...(opts.baseline ? [{
    id: 'epollws-before',
    label: `epollws (before: ${path.basename(opts.baseline)})`,
    prepare() {
      const example = path.join(opts.baseline, 'examples/echo-server.js');
      if (!existsSync(example)) return { error: `${example} does not exist` };
      if (!existsSync(path.join(opts.baseline, 'dist/index.js'))) return { error: `${opts.baseline} has no dist/: run npm run build there` };
      const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: opts.baseline, encoding: 'utf8' });
      const version = JSON.parse(readFileSync(path.join(opts.baseline, 'package.json'), 'utf8')).version;
      return { argv: (port) => ['node', example, '--port', String(port), '--host', HOST], version: git.status === 0 ? `${version} @ ${git.stdout.trim()}` : version };
    },
  }] : []),
  {
    id: 'ws',
    label: 'ws (pure JS)',
    prepare() {
      const version = packageVersion('ws');
      if (!version) return { error: 'ws is not installed (npm install)' };
      return { argv: (port) => ['node', echoScript('ws-echo.mjs'), '--port', String(port), '--host', HOST], env: { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' }, expectLog: 'bufferutil=false utf-8-validate=false', version };
    },
  },
  {
    id: 'ws-native',
    label: 'ws + bufferutil + utf-8-validate',
    prepare() {
      const version = packageVersion('ws');
      if (!version) return { error: 'ws is not installed (npm install)' };
      const helpers = nativeHelpers();
      if (helpers.error) return helpers;
      return {
        argv: (port) => ['node', echoScript('ws-echo.mjs'), '--port', String(port), '--host', HOST],
        env: { WS_NO_BUFFER_UTIL: '', WS_NO_UTF_8_VALIDATE: '', ...helpers.env },
        expectLog: 'bufferutil=true utf-8-validate=true',
        version: `ws ${version}, bufferutil ${packageVersion('bufferutil', helpers.require)}, utf-8-validate ${packageVersion('utf-8-validate', helpers.require)}${helpers.env.NODE_PATH ? ' (from ~/.cache/epollws-bench)' : ''}`,
      };
    },
  },
  {
    id: 'uws',
    label: 'uWebSockets.js',
    prepare() {
      const u = setupUws();
      if (u.error) return u;
      return {
        argv: (port) => ['node', echoScript('uws-echo.mjs'), '--port', String(port), '--host', HOST],
        env: { UWS_DIR: u.dir, LD_PRELOAD: u.preload },
        version: u.version + (u.preload ? ' (GLIBC_2.38 requirement weakened, __isoc23_* shim preloaded)' : ''),
      };
    },
  },
  {
    id: 'cpp',
    label: 'bare C++ (native/core)',
    prepare() {
      const bin = path.join(ROOT, 'native/bench/build/echo_server');
      if (!existsSync(bin)) return { error: 'not built (native/bench/build/echo_server)' };
      return { argv: (port) => [bin, '--port', String(port)], version: null };
    },
  },
];
// The fan-out servers of (h): same ids as above where they are the same server.
const fanoutScript = (name) => path.join('scripts/bench/servers', name);
const FANOUT_SERVERS = [
  {
    id: 'epollws',
    label: 'epollws wss.publish',
    prepare() {
      return { argv: (port) => ['node', fanoutScript('fanout-epollws.mjs'), '--port', String(port), '--host', HOST, '--mode', 'publish'], version: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version };
    },
  },
  {
    id: 'epollws-loop',
    label: 'epollws, loop of send()',
    prepare() {
      return { argv: (port) => ['node', fanoutScript('fanout-epollws.mjs'), '--port', String(port), '--host', HOST, '--mode', 'loop'], version: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version };
    },
  },
  {
    id: 'uws',
    label: 'uWebSockets.js app.publish',
    prepare() {
      const u = setupUws();
      if (u.error) return u;
      return { argv: (port) => ['node', fanoutScript('fanout-uws.mjs'), '--port', String(port), '--host', HOST], env: { UWS_DIR: u.dir, LD_PRELOAD: u.preload }, version: u.version };
    },
  },
  {
    id: 'ws',
    label: 'ws (pure JS), loop of send()',
    prepare() {
      const version = packageVersion('ws');
      if (!version) return { error: 'ws is not installed (npm install)' };
      return { argv: (port) => ['node', fanoutScript('fanout-ws.mjs'), '--port', String(port), '--host', HOST], env: { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' }, version };
    },
  },
];
const fanoutServers = FANOUT_SERVERS.filter((s) => !opts.servers || opts.servers.includes(s.id));
const hasEcho = selected.some((sc) => sc.kind !== 'fanout');
const servers = SERVERS.filter((s) => !opts.servers || opts.servers.includes(s.id));
if (servers.length === 0 && (hasEcho || fanoutServers.length === 0)) {
  console.error(`--servers selects none of ${SERVERS.map((s) => s.id).join(', ')}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Runs

const log = (...a) => console.error('[bench]', ...a);
const runs = [];
const unavailable = new Map(); // server id -> reason (the server never started)

async function withServer(server, fn) {
  const port = await freePort();
  const s = await startServer(server.argv(port), { port, env: server.env, cpu: SERVER_CPU });
  if (s.error) return { error: `did not start: ${s.error}` };
  // The two ws variants differ only in an environment variable: make sure each runs as labelled.
  for (let i = 0; server.expectLog && !s.logs().includes(server.expectLog); i++) {
    if (i === 20) {
      await stopServer(s);
      return { error: `did not start as expected: no "${server.expectLog}" in its log: ${s.logs().trim()}` };
    }
    await sleep(50);
  }
  try {
    return await fn(s);
  } finally {
    await stopServer(s);
  }
}

async function echoRun(server, sc, rep) {
  const record = { scenario: sc.id, server: server.id, rep, loadavg: os.loadavg()[0] };
  const out = await withServer(server, async (s) => {
    const args = [
      '--host', HOST, '--ports', String(s.port), '--connections', String(sc.connections),
      '--inflight', String(sc.inflight), '--size', String(sc.size), `--${sc.type}`,
      '--warmup', String(ECHO_WARMUP), '--duration', String(ECHO_DURATION), '--server-pid', String(s.pid),
    ];
    record.command = `loadgen ${args.join(' ')}`;
    return runLoadgen(args, { cpu: LOADGEN_CPU, timeoutMs: (ECHO_WARMUP + ECHO_DURATION + 90) * 1000 });
  });
  return finish(record, out);
}

async function connectRun(server, n, rep) {
  const record = { scenario: 'connect', connections: n, server: server.id, rep, loadavg: os.loadavg()[0] };
  const out = await withServer(server, async (s) => {
    await sleep(500);
    const baseKb = readRssKb(s.pid);
    let loadedKb = null;
    const args = [
      '--host', HOST, '--ports', String(s.port), '--connect', '--connections', String(n),
      '--hold', String(HOLD), '--source-addrs', SOURCE_ADDRS, '--server-pid', String(s.pid),
    ];
    record.command = `loadgen ${args.join(' ')}`;
    let measured;
    const r = await runLoadgen(args, {
      cpu: LOADGEN_CPU,
      timeoutMs: (HOLD + 120) * 1000,
      onReady: () => {
        measured = sleep(RSS_SETTLE_MS).then(() => (loadedKb = readRssKb(s.pid)));
      },
    });
    if (measured) await measured;
    if (r.ok) {
      if (baseKb === null || loadedKb === null) return { ok: false, error: 'could not read VmRSS (server exited?)' };
      r.result.rssBaseKb = baseKb;
      r.result.rssLoadedKb = loadedKb;
      r.result.rssBytesPerConn = ((loadedKb - baseKb) * 1024) / n;
    }
    return r;
  });
  return finish(record, out);
}

// Runs native/bench/fanout with --json. Resolves { ok, result, error, stderr }.
async function runFanout(args, { cpu = null, timeoutMs = 120000 } = {}) {
  const { code, signal, stderr: err, result } = await runJsonProcess(FANOUT, [...args, '--json'], { cpu, timeoutMs });
  if (code === 0 && result) return { ok: true, result, stderr: err };
  const why = /loadgen: error: (.*)/.exec(err)?.[1] ?? (signal ? `fanout killed by ${signal} (timeout?)` : `fanout exited ${code}: ${err.trim().slice(-300)}`);
  return { ok: false, error: why, stderr: err };
}

async function fanoutRun(server, sc, rep) {
  const record = { scenario: sc.id, server: server.id, rep, loadavg: os.loadavg()[0] };
  const out = await withServer(server, async (s) => {
    const args = [
      '--host', HOST, '--port', String(s.port), '--publishers', String(sc.publishers), '--subscribers', String(sc.subscribers),
      '--size', String(sc.size), '--window', String(sc.window), '--warmup', String(ECHO_WARMUP), '--duration', String(ECHO_DURATION),
      '--server-pid', String(s.pid),
    ];
    record.command = `fanout ${args.join(' ')}`;
    return runFanout(args, { cpu: LOADGEN_CPU, timeoutMs: (ECHO_WARMUP + ECHO_DURATION + 150) * 1000 });
  });
  return finish(record, out);
}

function finish(record, out) {
  if (out.error && !('ok' in out)) {
    record.unavailable = out.error;
  } else if (!out.ok) {
    record.error = out.error;
  } else {
    record.result = out.result;
    if (out.stderr.includes('WARNING')) record.warning = out.stderr.match(/WARNING: (.*)/)[1];
  }
  runs.push(record);
  const what = record.scenario === 'connect' ? `connect ${record.connections}` : record.scenario;
  if (record.unavailable) log(`${what} ${record.server} rep ${record.rep}: unavailable: ${record.unavailable}`);
  else if (record.error) log(`${what} ${record.server} rep ${record.rep}: FAILED: ${record.error}`);
  else if (record.result.mode === 'fanout')
    log(`${what} ${record.server} rep ${record.rep}: ${Math.round(record.result.deliveriesPerSec)} deliveries/s, server ${record.result.serverCpuUsPerDelivery?.toFixed(3)} us/delivery, loadgen CPU ${(record.result.loadgenCpu * 100).toFixed(0)}%`);
  else if (record.result.mode === 'echo')
    log(`${what} ${record.server} rep ${record.rep}: ${Math.round(record.result.msgsPerSec)} msgs/s, p50 ${record.result.latencyUs.p50} us, server ${record.result.serverCpuUsPerMsg?.toFixed(3)} us/msg, loadgen CPU ${(record.result.loadgenCpu * 100).toFixed(0)}%`);
  else log(`${what} ${record.server} rep ${record.rep}: ${Math.round(record.result.handshakesPerSec)} handshakes/s, ${Math.round(record.result.rssBytesPerConn)} B/conn RSS`);
  return record;
}

// ---------------------------------------------------------------------------------------------
// Statistics and report


function summarize(scenarioId, serverId, pick) {
  const mine = runs.filter((r) => pick(r) && r.server === serverId);
  const ok = mine.filter((r) => r.result);
  const sum = { runs: mine.length, ok: ok.length };
  if (unavailable.has(serverId)) sum.unavailable = unavailable.get(serverId);
  else if (mine.length && mine.every((r) => r.unavailable)) sum.unavailable = mine[0].unavailable;
  if (ok.length === 0) {
    const failed = mine.find((r) => r.error);
    if (failed) sum.failed = failed.error;
    return sum;
  }
  const get = (f) => median(ok.map((r) => f(r.result)));
  sum.msgsPerSec = get((x) => x.msgsPerSec);
  sum.mbPerSec = get((x) => x.mbPerSec);
  sum.p50Us = get((x) => x.latencyUs?.p50);
  sum.p99Us = get((x) => x.latencyUs?.p99);
  sum.serverCpuUsPerMsg = get((x) => x.serverCpuUsPerMsg);
  sum.serverCpu = get((x) => x.serverCpu);
  sum.loadgenCpu = get((x) => x.loadgenCpu);
  sum.otherCpu = get((x) => x.otherCpu);
  sum.handshakesPerSec = get((x) => x.handshakesPerSec);
  sum.serverCpuUsPerHandshake = get((x) => x.serverCpuUsPerHandshake);
  sum.rssBaseKb = get((x) => x.rssBaseKb);
  sum.rssLoadedKb = get((x) => x.rssLoadedKb);
  sum.rssBytesPerConn = get((x) => x.rssBytesPerConn);
  sum.deliveriesPerSec = get((x) => x.deliveriesPerSec);
  sum.serverCpuUsPerDelivery = get((x) => x.serverCpuUsPerDelivery);
  sum.saturatedRuns = ok.filter((r) => r.result.loadgenSaturated).length;
  const failures = mine.filter((r) => r.error);
  if (failures.length) sum.failedRuns = failures.map((r) => r.error);
  for (const k of Object.keys(sum)) if (sum[k] === null) delete sum[k];
  return sum;
}

function machineInfo() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  return {
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    cpus: os.cpus().length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    glibc: spawnSync('getconf', ['GNU_LIBC_VERSION'], { encoding: 'utf8' }).stdout?.trim() ?? null,
    node: process.version,
    gitCommit: git.status === 0 ? git.stdout.trim() : null,
    nofileHardLimit: spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim(),
  };
}

const fmtInt = (x) => (x == null ? '–' : Math.round(x).toLocaleString('en'));
const fmt = (x, d = 1) => (x == null ? '–' : x.toFixed(d));

function statusCell(sum) {
  if (sum.unavailable) return `unavailable: ${sum.unavailable.replace(/\|/g, '\\|').replace(/\n/g, ' ')}`;
  if (sum.failed) return `failed: ${sum.failed.replace(/\|/g, '\\|').replace(/\n/g, ' ')}`;
  return null;
}

function noteCell(sum) {
  const notes = [];
  if (sum.saturatedRuns) notes.push(`load generator saturated in ${sum.saturatedRuns}/${sum.ok} runs: the server may be faster`);
  if (sum.otherCpu > 0.1) notes.push(`other processes used ${Math.round(sum.otherCpu * 100)}% of a core meanwhile`);
  if (sum.failedRuns) notes.push(`${sum.failedRuns.length} run(s) failed: ${sum.failedRuns[0]}`);
  if (sum.ok && sum.ok < sum.runs && !sum.failedRuns) notes.push(`${sum.ok}/${sum.runs} runs`);
  return notes.join('; ').replace(/\|/g, '\\|');
}

function renderMarkdown(info, medians, serverInfo) {
  const L = [];
  L.push('# Benchmarks', '');
  L.push('Generated by `npm run bench` (`node scripts/bench/run.mjs`); do not edit by hand. Raw runs: `docs/bench/results.json`.', '');
  L.push(`- Date: ${new Date().toISOString()}`);
  L.push(`- Command: \`${info.command}\``);
  L.push(`- Machine: ${info.machine.cpuModel}, ${info.machine.cpus} CPUs, ${info.machine.memoryGiB} GiB; ${info.machine.kernel}; ${info.machine.glibc}; Node ${info.machine.node}; commit ${info.machine.gitCommit ?? 'none'}`);
  L.push(`- Method: each server pinned to CPU ${SERVER_CPU ?? '(not pinned)'}, the native load generator (\`native/bench/loadgen\`) to CPU ${LOADGEN_CPU ?? '(not pinned)'}; ${info.reps} repetition(s), servers interleaved within each (order rotated per repetition), medians shown. Echo runs: ${ECHO_WARMUP} s warmup, ${ECHO_DURATION} s measured, closed loop, every echoed byte verified.`);
  L.push('- msgs/s: echoes received per second. MB/s: payload bytes echoed per second, one direction (10^6 B). p50/p99: round trip per message. Server CPU µs/msg: server user+system CPU time (/proc/PID/stat, all threads) over the measured window divided by messages echoed — compare servers by it when the load generator, not the server, was the limit.');
  L.push('- Ratios compare msgs/s (handshakes/s, bytes per connection) with `ws` (pure JS) and with uWebSockets.js.');
  L.push('- The machine is shared: other work may have run at the same time. The load generator reports how much CPU other processes used during each measured window (Notes column, when above 10% of a core; per run in results.json): such runs understate every server.', '');
  L.push('Servers:', '');
  for (const s of serverInfo) L.push(`- **${s.label}** (\`${s.id}\`): ${s.unavailable ? `unavailable: ${s.unavailable}` : s.version ?? 'built from this repository'}`);
  L.push('');

  for (const sc of selected) {
    L.push(`## ${sc.title}`, '');
    const rows = medians[sc.id];
    const ref = (id, key) => rows.find((r) => r.server === id)?.[key];
    if (sc.kind === 'echo') {
      L.push('| Server | msgs/s | MB/s | p50 µs | p99 µs | server CPU µs/msg | server CPU % | vs ws | vs uWS.js | Notes |');
      L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
      for (const r of rows) {
        const st = statusCell(r);
        if (st) { L.push(`| ${r.label} | ${st} | | | | | | | | |`); continue; }
        L.push(`| ${r.label} | ${fmtInt(r.msgsPerSec)} | ${fmt(r.mbPerSec, r.mbPerSec < 10 ? 2 : 1)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${fmt(r.serverCpuUsPerMsg, r.serverCpuUsPerMsg < 10 ? 3 : 1)} | ${fmt(r.serverCpu * 100, 0)} | ${ratio(r.msgsPerSec, ref('ws', 'msgsPerSec'))} | ${ratio(r.msgsPerSec, ref('uws', 'msgsPerSec'))} | ${noteCell(r)} |`);
      }
    } else if (sc.kind === 'fanout') {
      L.push(`Every message goes from the publisher to every subscriber; \`native/bench/fanout\` checks that each subscriber receives every message, in order, intact, and keeps ${sc.window} messages per publisher in flight (not yet received by every subscriber). Server CPU µs/delivery: server CPU time over the window divided by deliveries (messages × subscribers).`, '');
      L.push('| Server | deliveries/s | server CPU µs/delivery | server CPU % | vs ws loop | vs uWS.js | Notes |');
      L.push('|---|---:|---:|---:|---:|---:|---|');
      for (const r of rows) {
        const st = statusCell(r);
        if (st) { L.push(`| ${r.label} | ${st} | | | | | |`); continue; }
        L.push(`| ${r.label} | ${fmtInt(r.deliveriesPerSec)} | ${fmt(r.serverCpuUsPerDelivery, 3)} | ${fmt(r.serverCpu * 100, 0)} | ${ratio(r.deliveriesPerSec, ref('ws', 'deliveriesPerSec'))} | ${ratio(r.deliveriesPerSec, ref('uws', 'deliveriesPerSec'))} | ${noteCell(r)} |`);
      }
    } else if (sc.kind === 'handshake') {
      L.push('| Server | handshakes/s | server CPU µs/handshake | vs ws | vs uWS.js | Notes |');
      L.push('|---|---:|---:|---:|---:|---|');
      for (const r of rows) {
        const st = statusCell(r);
        if (st) { L.push(`| ${r.label} | ${st} | | | | |`); continue; }
        L.push(`| ${r.label} | ${fmtInt(r.handshakesPerSec)} | ${fmt(r.serverCpuUsPerHandshake)} | ${ratio(r.handshakesPerSec, ref('ws', 'handshakesPerSec'))} | ${ratio(r.handshakesPerSec, ref('uws', 'handshakesPerSec'))} | ${noteCell(r)} |`);
      }
    } else {
      L.push(`Server VmRSS ${RSS_SETTLE_MS / 1000} s after the last handshake, minus VmRSS before connecting, divided by the connection count. Kernel socket buffers are not in RSS.`, '');
      L.push(`| Server | baseline RSS MB | RSS MB @ ${CONNECT_SMALL} | B/conn @ ${CONNECT_SMALL} | RSS MB @ ${CONNECT_LARGE} | B/conn @ ${CONNECT_LARGE} | vs ws @ ${CONNECT_LARGE} | vs uWS.js @ ${CONNECT_LARGE} | Notes |`);
      L.push('|---|---:|---:|---:|---:|---:|---:|---:|---|');
      for (const r of rows) {
        const st = statusCell(r.small) ?? statusCell(r.large);
        if (st) { L.push(`| ${r.label} | ${st} | | | | | | | |`); continue; }
        const lg = (id) => rows.find((x) => x.server === id)?.large?.rssBytesPerConn;
        const notes = [noteCell(r.small), noteCell(r.large)].filter(Boolean).join('; ');
        L.push(`| ${r.label} | ${fmt(r.small.rssBaseKb / 1024)} | ${fmt(r.small.rssLoadedKb / 1024)} | ${fmtInt(r.small.rssBytesPerConn)} | ${fmt(r.large.rssLoadedKb / 1024)} | ${fmtInt(r.large.rssBytesPerConn)} | ${ratio(r.large.rssBytesPerConn, lg('ws'))} | ${ratio(r.large.rssBytesPerConn, lg('uws'))} | ${notes} |`);
      }
    }
    L.push('');
  }
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const started = Date.now();
  const buildError = buildLoadgen();
  if (buildError) {
    console.error(`cannot build the load generator: ${buildError}`);
    process.exit(1);
  }
  const serverInfo = [];
  for (const s of hasEcho ? servers : []) {
    const p = s.prepare();
    Object.assign(s, p);
    if (p.error) unavailable.set(s.id, p.error);
    serverInfo.push({ id: s.id, label: s.label, version: p.version ?? null, unavailable: p.error ?? null });
    log(`${s.label}: ${p.error ? `unavailable: ${p.error}` : p.version ?? 'ok'}`);
  }

  // A server that cannot start is reported once as unavailable, not retried in every run.
  const runnable = () => servers.filter((s) => !unavailable.has(s.id));
  const order = (rep) => {
    const list = runnable();
    return list.map((_, i) => list[(i + rep) % list.length]);
  };
  const noteStart = (s, rec) => {
    if (rec.unavailable) {
      unavailable.set(s.id, rec.unavailable);
      const si = serverInfo.find((x) => x.id === s.id);
      si.unavailable = rec.unavailable;
    }
  };

  for (const sc of selected.filter((x) => x.kind === 'echo')) {
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of order(rep)) noteStart(s, await echoRun(s, sc, rep));
    }
  }
  // (h): its own servers, interleaved the same way.
  const fanoutOrder = (rep) => {
    const list = fanoutServers.filter((s) => !s.unavailable);
    return list.map((_, i) => list[(i + rep) % list.length]);
  };
  const fanoutScenarios = selected.filter((x) => x.kind === 'fanout');
  if (fanoutScenarios.length) {
    for (const s of fanoutServers) {
      const p = s.prepare();
      Object.assign(s, p);
      if (p.error) s.unavailable = p.error;
      serverInfo.push({ id: s.id, label: `${s.label} (fan-out)`, version: p.version ?? null, unavailable: p.error ?? null });
      log(`fan-out ${s.label}: ${p.error ? `unavailable: ${p.error}` : p.version ?? 'ok'}`);
    }
  }
  for (const sc of fanoutScenarios) {
    for (let rep = 0; rep < REPS; rep++) {
      for (const s of fanoutOrder(rep)) {
        const rec = await fanoutRun(s, sc, rep);
        if (rec.unavailable) s.unavailable = rec.unavailable;
      }
    }
  }
  const connectNs = [];
  if (selected.some((x) => x.kind === 'handshake' || x.kind === 'memory')) connectNs.push(CONNECT_SMALL);
  if (selected.some((x) => x.kind === 'memory')) connectNs.push(CONNECT_LARGE);
  for (let rep = 0; rep < REPS && connectNs.length; rep++) {
    for (const s of order(rep)) {
      for (const n of connectNs) {
        if (unavailable.has(s.id)) break;
        noteStart(s, await connectRun(s, n, rep));
      }
    }
  }

  const medians = {};
  for (const sc of selected) {
    if (sc.kind === 'fanout') {
      medians[sc.id] = fanoutServers.map((s) => ({
        server: s.id, label: s.label, ...(s.unavailable ? { unavailable: s.unavailable } : {}), ...summarize(sc.id, s.id, (r) => r.scenario === sc.id),
      }));
      continue;
    }
    medians[sc.id] = servers.map((s) => {
      const base = { server: s.id, label: s.label };
      if (sc.kind === 'echo') return { ...base, ...summarize(sc.id, s.id, (r) => r.scenario === sc.id) };
      const at = (n) => summarize(sc.id, s.id, (r) => r.scenario === 'connect' && r.connections === n);
      if (sc.kind === 'handshake') return { ...base, connections: CONNECT_SMALL, ...at(CONNECT_SMALL) };
      return { ...base, small: { connections: CONNECT_SMALL, ...at(CONNECT_SMALL) }, large: { connections: CONNECT_LARGE, ...at(CONNECT_LARGE) } };
    });
  }

  const info = {
    command: ['node', 'scripts/bench/run.mjs', ...process.argv.slice(2)].join(' '),
    date: new Date().toISOString(),
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
    reps: REPS,
    quick: opts.quick,
    pinned: opts.pin ? { server: SERVER_CPU, loadgen: LOADGEN_CPU } : null,
    echo: { warmupSeconds: ECHO_WARMUP, durationSeconds: ECHO_DURATION },
    connect: { small: CONNECT_SMALL, large: CONNECT_LARGE, holdSeconds: HOLD, rssSettleMs: RSS_SETTLE_MS, sourceAddrs: SOURCE_ADDRS },
    loadgen: path.relative(ROOT, LOADGEN),
    machine: machineInfo(),
    servers: serverInfo,
    packages: {
      ws: packageVersion('ws'),
      bufferutil: packageVersion('bufferutil'),
      'utf-8-validate': packageVersion('utf-8-validate'),
      uWebSocketsJs: serverInfo.find((s) => s.id === 'uws')?.version ?? null,
      epollws: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
    },
  };
  mkdirSync(path.join(ROOT, 'docs/bench'), { recursive: true });
  writeFileSync(path.join(ROOT, 'docs/bench/results.json'), JSON.stringify({ ...info, scenarios: selected, medians, runs }, null, 2) + '\n');
  writeFileSync(path.join(ROOT, 'docs/bench/BENCHMARKS.md'), renderMarkdown(info, medians, serverInfo) + '\n');
  log(`done in ${info.elapsedSeconds} s: wrote docs/bench/results.json and docs/bench/BENCHMARKS.md`);
  if (DEFLATE_SELECTED) runDeflateBench();
  if (TLS_SELECTED) runTlsBench();
  if (SOCKETIO_SELECTED) runSocketioBench();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
