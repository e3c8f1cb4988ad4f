#!/usr/bin/env node
// Bench (l), socket.io broadcast (part of `npm run bench`, alone with `--only l`): one emitter
// (io.emit('tick', seq, payload), at most WINDOW broadcasts in flight, paced by the load process's
// acks) and 1,000 socket.io clients over the websocket transport (socket.io-client, one load
// process: scripts/bench/socketio-clients.mjs), for socket.io with its default engine (ws), with
// eiows and with epollws (`wsEngine: WebSocketServer`). Server pinned to CPU 0, load process to
// CPU 1. Every client checks that it receives every broadcast, in order, intact.
//
//   node scripts/bench/socketio.mjs [--quick] [--servers ws,eiows,epollws] [--reps N] [--no-pin]
//
// Writes docs/bench/socketio-results.json and docs/bench/SOCKETIO.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { HOST, ROOT, runJsonProcess, startServer, stopServer } from '../../test/helpers/loadgen.mjs';
import { benchArgs, median, ratio } from './common.mjs';

const argv = process.argv.slice(2);
const { quick: QUICK, reps: REPS, pin: PIN, only: ONLY } = benchArgs(argv);
const CLIENTS = QUICK ? 200 : 1000;
const WARMUP = QUICK ? 1 : 2;
const DURATION = QUICK ? 2 : 5;
const WINDOW = 256; // broadcasts in flight: 256,000 deliveries with 1,000 clients, as (h)'s fan-out window
const SIZES = [32, 1024];
const CACHE = process.env.EPOLLWS_BENCH_CACHE || path.join(os.homedir(), '.cache/epollws-bench');
const log = (...a) => console.error('[bench socket.io]', ...a);
const version = (name, from) => {
  try {
    return JSON.parse(readFileSync(createRequire(from).resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
};

// eiows: installed outside the repo (never a dependency of epollws). Its install script clones
// Node's source tree from GitHub to compile against Node's internal headers, so it fails offline.
function eiows() {
  const dir = path.join(CACHE, 'eiows');
  const from = path.join(dir, 'node_modules', 'index.js');
  const loads = () => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(from)}.replace('index.js', 'eiows')).Server`], { encoding: 'utf8' }).status === 0;
  if (!loads()) {
    log('installing eiows under', dir);
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', dir, 'eiows'], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0 || !loads()) {
      const why = `${r.stderr ?? r.error ?? ''}`.split('\n').find((l) => /fatal:|Could not|not found|ERR!/.test(l))?.replace(/^npm error /, '') ?? `npm install exited ${r.status}`;
      return { error: `eiows did not install here (${why.trim()}): its install clones Node's source from GitHub to build against Node's internal headers` };
    }
  }
  return { env: { EIOWS_DIR: dir }, version: version('eiows', from) };
}

const rootFrom = path.join(ROOT, 'package.json');
const SERVERS = [
  { id: 'ws', label: 'socket.io, default engine (ws)', prepare: () => ({ version: `ws ${version('ws', rootFrom)}` }) },
  { id: 'eiows', label: 'socket.io + eiows', prepare: eiows },
  {
    id: 'epollws',
    label: 'socket.io + epollws',
    prepare: () => (existsSync(path.join(ROOT, 'dist/index.mjs')) ? { version: `epollws ${JSON.parse(readFileSync(rootFrom, 'utf8')).version}` } : { error: 'dist/ not built (npm run build)' }),
  },
].filter((s) => !ONLY || ONLY.includes(s.id));

async function runClients(port, pid, size) {
  const args = [path.join(ROOT, 'scripts/bench/socketio-clients.mjs'), '--host', HOST, '--port', String(port), '--server-pid', String(pid),
    '--clients', String(CLIENTS), '--size', String(size), '--warmup', String(WARMUP), '--duration', String(DURATION)];
  const cmd = PIN ? ['taskset', '-c', '1', process.execPath, ...args] : [process.execPath, ...args];
  const { code, signal, stderr: err, result } = await runJsonProcess('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...cmd],
    { cwd: ROOT, timeoutMs: (WARMUP + DURATION + 150) * 1000, stderrLimit: 4096 });
  if (code === 0 && result) return { ok: true, result };
  const why = /socketio-clients: error: (.*)/.exec(err)?.[1] ?? (signal ? `load process killed by ${signal}` : `load process exited ${code}: ${err.trim().split('\n').pop()}`);
  return { ok: false, error: why };
}

async function run(server, size) {
  const s = await startServer(['node', 'scripts/bench/servers/socketio-broadcast.mjs', '--engine', server.id, '--host', HOST, '--port', '0', '--window', String(WINDOW)],
    { env: server.env ?? {}, cpu: PIN ? 0 : null });
  if (s.error) return { ok: false, error: `did not start: ${s.error}` };
  try {
    return await runClients(s.port, s.pid, size);
  } finally {
    await stopServer(s);
  }
}

const fmt = (x, d = 0) => (x == null ? '–' : d ? x.toFixed(d) : Math.round(x).toLocaleString('en'));

async function main() {
  for (const server of SERVERS) {
    const p = server.prepare();
    if (p.error) {
      server.unavailable = p.error;
      log(`${server.id}: unavailable: ${p.error}`);
    } else Object.assign(server, p);
  }
  const live = SERVERS.filter((s) => !s.unavailable);
  const runs = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const size of SIZES) {
      for (const [i] of live.entries()) {
        const server = live[(i + rep) % live.length];
        const r = await run(server, size);
        runs.push({ server: server.id, size, rep, ...(r.ok ? { result: r.result } : { error: r.error }) });
        if (r.ok) log(`${server.id} ${size} B rep ${rep}: ${Math.round(r.result.deliveriesPerSec)} deliveries/s, server ${r.result.serverCpuUsPerDelivery?.toFixed(3)} us/delivery, CPU ${Math.round(r.result.serverCpu * 100)}%, load CPU ${Math.round(r.result.loadCpu * 100)}%`);
        else log(`${server.id} ${size} B rep ${rep}: FAILED: ${r.error}`);
      }
    }
  }
  const rows = [];
  for (const size of SIZES) {
    for (const s of SERVERS) {
      const mine = runs.filter((r) => r.server === s.id && r.size === size && r.result);
      const pick = (f) => median(mine.map((r) => f(r.result)));
      rows.push({
        server: s.id, label: s.label, version: s.version, size, unavailable: s.unavailable,
        ok: mine.length,
        deliveriesPerSec: pick((x) => x.deliveriesPerSec),
        serverCpuUsPerDelivery: pick((x) => x.serverCpuUsPerDelivery),
        serverCpu: pick((x) => x.serverCpu),
        loadCpu: pick((x) => x.loadCpu),
        failed: runs.find((r) => r.server === s.id && r.size === size && r.error)?.error,
      });
    }
  }
  const cmd = `node scripts/bench/socketio.mjs${argv.length ? ` ${argv.join(' ')}` : ''}`;
  const L = ['# socket.io broadcast benchmark (l)', '',
    `Generated by \`${cmd}\` (\`node scripts/bench/run.mjs --only l\`) on ${new Date().toISOString()} (${os.cpus()[0]?.model}, ${os.cpus().length} CPUs, Node ${process.version}, socket.io ${version('socket.io', rootFrom)}, socket.io-client ${version('socket.io-client', rootFrom)}); medians of ${REPS} repetition(s).`, '',
    `One emitter, \`io.emit('tick', seq, payload)\` with a string payload, at most ${WINDOW} broadcasts in flight (the load process acks the highest sequence number every client has received); ${CLIENTS.toLocaleString('en')} socket.io-client clients, \`transports: ['websocket']\`, in one load process pinned to CPU ${PIN ? 1 : '–'}, the server pinned to CPU ${PIN ? 0 : '–'}. Every client checks that it receives every broadcast, in order, intact; a run with any loss fails. deliveries/s: events received, summed over the clients, over ${DURATION} s after ${WARMUP} s of warmup. Server CPU µs/delivery: server user+system CPU time (/proc/PID/stat) over that window divided by its deliveries. When the load process is at ~100% of its core, it (socket.io-client decoding every event in JavaScript) is the limit, not the server: compare servers by CPU µs/delivery then.`, ''];
  for (const size of SIZES) {
    L.push(`## ${size >= 1024 ? `${size / 1024} KiB` : `${size} B`} payload`, '');
    L.push('| Server | deliveries/s | server CPU µs/delivery | server CPU % | load process CPU % | vs ws (deliveries/s) | vs ws (CPU/delivery) | Notes |');
    L.push('|---|---:|---:|---:|---:|---:|---:|---|');
    const ref = rows.find((r) => r.server === 'ws' && r.size === size);
    for (const r of rows.filter((x) => x.size === size)) {
      if (r.unavailable) {
        L.push(`| ${r.label} | unavailable: ${r.unavailable.replace(/\|/g, '/')} | | | | | | |`);
        continue;
      }
      const cpuRatio = r.serverCpuUsPerDelivery && ref?.serverCpuUsPerDelivery ? `${(ref.serverCpuUsPerDelivery / r.serverCpuUsPerDelivery).toFixed(2)}× less` : '–';
      L.push(`| ${r.label} | ${fmt(r.deliveriesPerSec)} | ${fmt(r.serverCpuUsPerDelivery, 3)} | ${fmt(r.serverCpu * 100)} | ${fmt(r.loadCpu * 100)} | ${ratio(r.deliveriesPerSec, ref?.deliveriesPerSec)} | ${r.server === 'ws' ? '–' : cpuRatio} | ${(r.failed ? `${r.ok ? 'a run failed' : 'failed'}: ${r.failed}` : '').replace(/\|/g, '/')} |`);
    }
    L.push('');
  }
  mkdirSync(path.join(ROOT, 'docs/bench'), { recursive: true });
  writeFileSync(path.join(ROOT, 'docs/bench/socketio-results.json'), `${JSON.stringify({ argv, clients: CLIENTS, window: WINDOW, warmup: WARMUP, duration: DURATION, rows, runs }, null, 2)}\n`);
  writeFileSync(path.join(ROOT, 'docs/bench/SOCKETIO.md'), `${L.join('\n')}\n`);
  console.log(L.join('\n'));
  if (runs.some((r) => r.error)) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
