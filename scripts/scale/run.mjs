#!/usr/bin/env node
// Scale test: --connections concurrent WebSocket connections on loopback, split over --servers
// processes (scripts/scale-server.mjs) that share --ports consecutive ports with SO_REUSEPORT, and
// --loadgens native load generators (native/bench/build/loadgen --connect --hold) that bind their
// connections to distinct source addresses in 127.0.0.0/8. Every process stays under the 20,000 fd
// cap. Measures: established connections (loadgen reports, the servers' own counts, `ss -s`),
// server RSS per idle connection above the baseline (taken after a warm-up round of connections
// has come and gone: the code a first handshake pages in is a cost per process, not per
// connection), both right after the connect burst and once the connections have sat idle for
// --settle s (the headline figure: V8 gives back the young generation it grew for the burst
// only at its next GCs), handshakes/s overall, and
// kernel memory (/proc/meminfo Slab, /proc/net/sockstat) per connection. Bounded: connect phase at
// most --connect-timeout s, hold --hold s, then everything started here is stopped by pid.
//
//   node scripts/scale.mjs --connections 100000 --servers 6 --loadgens 6 [--hold 40] [--settle 15] [--json] [--out FILE]
//
// Sysctls it needs are read and printed; one below what the run needs is raised only with
// --allow-sysctl (root), announced, and restored at the end.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../test/helpers/timeout.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '100000' },
    servers: { type: 'string', default: '6' },
    loadgens: { type: 'string', default: '6' },
    ports: { type: 'string', default: '100' },
    base: { type: 'string', default: '20000' },
    hold: { type: 'string', default: '40' },
    settle: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '500' }, // connections per server process in the warm-up round
    'addrs-per-loadgen': { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '256' },
    'connect-timeout': { type: 'string', default: '180' },
    'allow-sysctl': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const N = Number(values.connections);
const SERVERS = Number(values.servers);
const LOADGENS = Number(values.loadgens);
const PORTS = Number(values.ports);
const BASE = Number(values.base);
const HOLD = Number(values.hold);
const WARMUP = Number(values.warmup) * Number(values.servers);
const ADDRS = Number(values['addrs-per-loadgen']);
const FD_CAP = 20_000;
const LOADGEN = path.join(ROOT, 'native', 'bench', 'build', 'loadgen');
const log = (...a) => { if (!values.json) console.log(...a); };

if (!fs.existsSync(LOADGEN)) {
  console.error(`scale: ${LOADGEN} is missing: run make -C native/bench`);
  process.exit(2);
}
const perLoadgen = Math.ceil(N / LOADGENS);
const perServer = Math.ceil(N / SERVERS);
if (perLoadgen + 64 > FD_CAP) { console.error(`scale: ${perLoadgen} connections per loadgen exceed the ${FD_CAP} fd cap: add --loadgens`); process.exit(2); }
if (perServer * 1.05 + PORTS + 64 > FD_CAP) { console.error(`scale: ~${perServer} connections per server process (plus ${PORTS} listeners) near the ${FD_CAP} fd cap: add --servers`); process.exit(2); }

// ---- system limits ----
const sysctlPath = (name) => `/proc/sys/${name.replaceAll('.', '/')}`;
const readSysctl = (name) => fs.readFileSync(sysctlPath(name), 'utf8').trim().split(/\s+/).map(Number);
const ulimitN = Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
const [portLow, portHigh] = readSysctl('net.ipv4.ip_local_port_range');
const ephemeral = portHigh - portLow + 1;
const needs = [
  // name, current (first field), needed, why
  ['net.core.somaxconn', readSysctl('net.core.somaxconn')[0], Math.min(4096, Number(values.concurrency) * LOADGENS), 'accept backlog per listener'],
  ['fs.file-max', readSysctl('fs.file-max')[0], 2 * N + 10_000, 'both ends of every connection are on this machine'],
  ['net.ipv4.tcp_max_syn_backlog', readSysctl('net.ipv4.tcp_max_syn_backlog')[0], Math.min(4096, Number(values.concurrency) * LOADGENS), 'handshakes in flight'],
];
const sysctls = {
  'net.ipv4.ip_local_port_range': `${portLow} ${portHigh}`,
  'net.core.somaxconn': needs[0][1],
  'fs.file-max': needs[1][1],
  'fs.nr_open': readSysctl('fs.nr_open')[0],
  'net.ipv4.tcp_max_syn_backlog': needs[2][1],
  'net.ipv4.tcp_mem (pages)': readSysctl('net.ipv4.tcp_mem').join(' '),
  'ulimit -n': ulimitN,
  'net.netfilter.nf_conntrack_max': (() => { try { return readSysctl('net.netfilter.nf_conntrack_max')[0]; } catch { return 'n/a'; } })(),
};
log('scale: sysctls and limits:');
for (const [k, v] of Object.entries(sysctls)) log(`  ${k} = ${v}`);
log(`  source ports: ${ephemeral} per source address; ${ADDRS} addresses per loadgen give ${ephemeral * ADDRS} >= ${perLoadgen} needed`);
if (ephemeral * ADDRS < perLoadgen) { console.error('scale: not enough source ports: raise --addrs-per-loadgen'); process.exit(2); }
if (ulimitN < Math.max(perLoadgen, perServer) + PORTS + 64) { console.error(`scale: ulimit -n ${ulimitN} is too low`); process.exit(2); }
const restore = [];
for (const [name, current, needed, why] of needs) {
  if (current >= needed) continue;
  if (!values['allow-sysctl'] || process.getuid?.() !== 0) {
    log(`scale: WARNING ${name} = ${current} < ${needed} (${why}); not raised (pass --allow-sysctl as root to raise it for this run)`);
    continue;
  }
  console.log(`scale: raising ${name} from ${current} to ${needed} for this run (${why}); it is restored at the end`);
  fs.writeFileSync(sysctlPath(name), String(needed));
  restore.push([name, current]);
}
function restoreSysctls() {
  for (const [name, value] of restore.splice(0)) {
    console.log(`scale: restoring ${name} to ${value}`);
    try { fs.writeFileSync(sysctlPath(name), String(value)); } catch (e) { console.error(`scale: could not restore ${name}: ${e.message}`); }
  }
}

// ---- kernel and process memory ----
function meminfo() {
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  const get = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text) ?? [])[1] ?? NaN);
  return { slabKiB: get('Slab'), sunreclaimKiB: get('SUnreclaim'), memAvailableKiB: get('MemAvailable') };
}
function sockstat() {
  const text = fs.readFileSync('/proc/net/sockstat', 'utf8');
  const m = /TCP: inuse (\d+) orphan (\d+) tw (\d+) alloc (\d+) mem (\d+)/.exec(text);
  return m ? { inuse: +m[1], orphan: +m[2], tw: +m[3], alloc: +m[4], memPages: +m[5] } : null;
}
const statusKiB = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const rssKiB = (pid) => statusKiB(pid, 'VmRSS');
// Private memory only: VmRSS also counts the node binary's code pages, which every server process
// shares with the others (one copy in RAM) and which the first connections page in.
const anonKiB = (pid) => statusKiB(pid, 'RssAnon');
const sum = (list) => list.reduce((a, b) => a + b, 0);
const fdsOf = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const ssSummary = () => {
  try { return execFileSync('ss', ['-s'], { encoding: 'utf8' }); } catch { return null; }
};
const ssEstablished = (lo, hi) => {
  // Server-side sockets on our ports only (the loadgen ends are the other half).
  try {
    const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport >= :${lo} and sport <= :${hi} )`], { encoding: 'utf8', maxBuffer: 256 << 20 });
    return out.split('\n').filter(Boolean).length;
  } catch { return null; }
};

// ---- processes ----
const children = new Set();
function start(cmd, args) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const state = { child, out: '', err: '', lines: [], exited: null };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    state.out += d;
    const parts = state.out.split('\n');
    state.out = parts.pop();
    for (const l of parts) { state.lines.push(l); if (state.lines.length > 1000) state.lines.shift(); }
  });
  child.stderr.on('data', (d) => { if (state.err.length < 16384) state.err += d; });
  state.exit = new Promise((resolve) => child.once('exit', (code, signal) => { children.delete(child); state.exited = { code, signal }; resolve(state.exited); }));
  return state;
}
async function stopAll() {
  for (const child of [...children]) { try { child.kill('SIGTERM'); } catch { /* gone */ } }
  const t = Date.now();
  while (children.size && Date.now() - t < 5000) await sleep(100);
  for (const child of [...children]) { try { child.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', () => { for (const child of children) { try { child.kill('SIGKILL'); } catch { /* gone */ } } restoreSysctls(); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, async () => { await stopAll(); restoreSysctls(); process.exit(130); });
const waitFor = async (pred, ms) => {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(100); }
  return pred();
};
// Each server's memory detail (scale-server.mjs prints it on SIGUSR1), summed over the servers.
async function detailOf(servers) {
  const marks = servers.map((s) => s.lines.length);
  for (const s of servers) process.kill(s.child.pid, 'SIGUSR1');
  const fresh = () => servers.map((s, i) => s.lines.slice(marks[i]).find((l) => l.startsWith('stats ') && l.includes('"detail"')));
  await waitFor(() => fresh().every(Boolean), 5000);
  const details = fresh().map((l) => (l ? JSON.parse(l.slice(6)).detail : null));
  if (details.some((d) => !d)) return null;
  const total = (f) => sum(details.map(f));
  return {
    anon: total((d) => d.rssAnonKiB),
    mallocMain: total((d) => d.mallocMainArenaKiB ?? 0),
    v8Used: total((d) => d.v8.usedKiB),
    v8Committed: total((d) => d.v8.committedKiB),
    v8Young: total((d) => d.v8.youngCommittedKiB),
  };
}
// Where an idle connection's private memory is: the main malloc arena (the core's Connection, its
// slot and timer entry, and the holes that handshake buffers leave), V8's live objects (the
// WebSocket, its listener table, its place in wss.clients), V8's young generation (grown for the
// burst: a cost per process, bounded by --max-semi-space-size), the rest of V8's committed heap,
// and what is left (other threads' malloc arenas, V8's bookkeeping).
function breakdown(before, after, perConnection) {
  if (!before || !after) return null;
  const d = (k) => after[k] - before[k];
  const v8Old = d('v8Committed') - d('v8Young');
  return {
    nativeMallocMainArena: perConnection(d('mallocMain')),
    v8LiveAndPromoted: perConnection(d('v8Used')),
    v8YoungGeneration: perConnection(d('v8Young')),
    v8OtherCommitted: perConnection(v8Old),
    other: perConnection(d('anon') - d('mallocMain') - d('v8Committed')),
  };
}
const lastStats = (s) => {
  for (let i = s.lines.length - 1; i >= 0; i--) if (s.lines[i].startsWith('stats ')) return JSON.parse(s.lines[i].slice(6));
  return null;
};

let result;
try {
  const kernel0 = { ...meminfo(), sockstat: sockstat() };
  const servers = [];
  for (let i = 0; i < SERVERS; i++) {
    servers.push(start(process.execPath, [path.join(ROOT, 'scripts', 'scale', 'server.mjs'), '--base', String(BASE), '--ports', String(PORTS),
      '--max-seconds', String(Number(values['connect-timeout']) + HOLD + 120)]));
  }
  if (!(await waitFor(() => servers.every((s) => s.lines.some((l) => l.startsWith('listening')) || s.exited), 20_000)) ||
      servers.some((s) => s.exited)) {
    throw new Error(`servers did not all listen: ${servers.map((s) => s.err || s.lines.join(' ')).join(' | ')}`);
  }
  await sleep(1500);
  const coldRss = servers.map((s) => rssKiB(s.child.pid));
  const coldAnon = servers.map((s) => anonKiB(s.child.pid));
  if (WARMUP > 0) {
    // Source addresses of their own (127.255.0.x), so the warm-up's TIME_WAIT ports are not in the way.
    const warm = start(LOADGEN, ['--connect', '--connections', String(WARMUP), '--hold', '1', '--source-addrs', '127.255.0.1-127.255.0.4',
      '--ports', `${BASE}-${BASE + PORTS - 1}`, '--handshake-concurrency', values.concurrency, '--json']);
    const warmExit = await Promise.race([warm.exit, sleep(60_000).then(() => null)]);
    if (warmExit?.code !== 0) throw new Error(`warm-up loadgen failed: ${warm.err.trim().split('\n').pop()}`);
    await sleep(3000); // its connections close; the servers go idle
  }
  const baseDetail = await detailOf(servers);
  const baseRss = servers.map((s) => rssKiB(s.child.pid));
  const baseAnon = servers.map((s) => anonKiB(s.child.pid));
  const baseRssSum = sum(baseRss);
  const coldRssSum = sum(coldRss);
  log(`scale: ${SERVERS} server processes on ports ${BASE}-${BASE + PORTS - 1} (reusePort); RSS after listen ${(coldRssSum / 1024).toFixed(1)} MiB, ` +
    `baseline after a warm-up round of ${WARMUP} connections ${baseRss.map((k) => (k / 1024).toFixed(1)).join(' + ')} = ${(baseRssSum / 1024).toFixed(1)} MiB`);

  const t0 = Date.now();
  const loadgens = [];
  let remaining = N;
  for (let i = 0; i < LOADGENS; i++) {
    const n = Math.min(perLoadgen, remaining);
    remaining -= n;
    if (n <= 0) break;
    // Loadgen i binds to 127.<i+1>.0.1 .. 127.<i+1>.0.ADDRS: its own source addresses, its own port space.
    const addrs = `127.${i + 1}.0.1-127.${i + 1}.0.${ADDRS}`;
    loadgens.push(start(LOADGEN, ['--connect', '--connections', String(n), '--hold', String(HOLD), '--source-addrs', addrs,
      '--ports', `${BASE}-${BASE + PORTS - 1}`, '--handshake-concurrency', values.concurrency, '--json']));
    loadgens.at(-1).n = n;
  }
  log(`scale: ${loadgens.length} loadgens opening ${N} connections (${perLoadgen} each, ${ADDRS} source addresses each)...`);
  const readyAt = new Array(loadgens.length).fill(0);
  const allReady = await waitFor(() => {
    loadgens.forEach((l, i) => { if (!readyAt[i] && /ready:/.test(l.err)) readyAt[i] = Date.now(); });
    return readyAt.every(Boolean) || loadgens.some((l) => l.exited);
  }, Number(values['connect-timeout']) * 1000);
  const connectMs = Math.max(...readyAt) - t0;
  if (!readyAt.every(Boolean)) {
    throw new Error(`not every loadgen connected (${allReady}): ${loadgens.map((l) => l.err.trim().split('\n').pop()).join(' | ')}`);
  }
  await sleep(2000); // let the servers' stats lines catch up
  for (const s of servers) process.kill(s.child.pid, 'SIGUSR1');
  await sleep(500);
  const serverStats = servers.map(lastStats);
  const rss = servers.map((s) => rssKiB(s.child.pid));
  const fds = servers.map((s) => fdsOf(s.child.pid));
  const loadgenRss = loadgens.map((l) => { try { return rssKiB(l.child.pid); } catch { return 0; } });
  // Every loadgen holds HOLD s from its own ready time: sample before the first of them lets go.
  const SETTLE = Math.max(0, Math.min(Number(values.settle), HOLD - (Math.max(...readyAt) - Math.min(...readyAt)) / 1000 - 5));
  const settledRss = async () => {
    log(`scale: connections idle; sampling server RSS again after ${SETTLE.toFixed(1)} s...`);
    await sleep(SETTLE * 1000);
    const detail = await detailOf(servers);
    return { rss: servers.map((s) => rssKiB(s.child.pid)), anon: servers.map((s) => anonKiB(s.child.pid)), detail };
  };
  const conntrack = (() => { try { return Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8')); } catch { return null; } })();
  const kernel1 = { ...meminfo(), sockstat: sockstat() };
  const ss = ssSummary();
  const ssEst = ssEstablished(BASE, BASE + PORTS - 1);
  const loadgenReports = loadgens.map((l) => { const line = l.lines.find((x) => x.startsWith('{')); return line ? JSON.parse(line) : null; });
  const serverConnections = serverStats.map((s) => s?.connections ?? 0);
  const established = serverConnections.reduce((a, b) => a + b, 0);
  const rssSum = sum(rss);
  const perConnection = (kib) => Math.round((kib * 1024) / Math.max(1, established));
  const slabDelta = kernel1.slabKiB - kernel0.slabKiB;
  const sockMemDelta = (kernel1.sockstat.memPages - kernel0.sockstat.memPages) * 4;
  result = {
    target: N,
    servers: SERVERS,
    loadgens: loadgens.length,
    ports: [BASE, BASE + PORTS - 1],
    established: {
      loadgens: loadgenReports.reduce((a, r) => a + (r?.connections ?? 0), 0),
      servers: established,
      perServer: serverConnections,
      ssEstablishedServerSide: ssEst,
      ssSummary: ss ? ss.split('\n').filter((l) => /^(Total|TCP:)/.test(l)).map((l) => l.trim()) : null,
    },
    handshakesPerSec: {
      overall: Math.round(N / (connectMs / 1000)),
      connectSeconds: +(connectMs / 1000).toFixed(2),
      sumOfLoadgens: Math.round(loadgenReports.reduce((a, r) => a + (r?.handshakesPerSec ?? 0), 0)),
    },
    serverRss: {
      afterListenMiB: +(coldRssSum / 1024).toFixed(1),
      warmupConnections: WARMUP,
      baselineMiB: +(baseRssSum / 1024).toFixed(1),
      afterBurstMiB: +(rssSum / 1024).toFixed(1),
      afterBurstBytesPerConnection: perConnection(rssSum - baseRssSum),
    },
    serverFds: fds,
    loadgenRss: {
      perProcessMiB: loadgenRss.map((k) => +(k / 1024).toFixed(1)),
      bytesPerConnection: Math.round((loadgenRss.reduce((a, b) => a + b, 0) * 1024) / Math.max(1, N)),
    },
    conntrackCount: conntrack,
    kernel: {
      slabDeltaMiB: +(slabDelta / 1024).toFixed(1),
      slabBytesPerConnection: Math.round((slabDelta * 1024) / Math.max(1, established)),
      slabBytesPerSocket: Math.round((slabDelta * 1024) / Math.max(1, 2 * established)),
      sunreclaimDeltaMiB: +((kernel1.sunreclaimKiB - kernel0.sunreclaimKiB) / 1024).toFixed(1),
      tcpSockstatBefore: kernel0.sockstat,
      tcpSockstatHeld: kernel1.sockstat,
      tcpMemDeltaKiB: sockMemDelta,
      memAvailableDeltaMiB: +((kernel0.memAvailableKiB - kernel1.memAvailableKiB) / 1024).toFixed(1),
    },
    sysctls,
  };
  log(`scale: ${established} connections established (servers: ${serverConnections.join(' + ')}; loadgens: ${result.established.loadgens}; ss server-side established: ${ssEst})`);
  const { rss: settled, anon: settledAnon, detail: settledDetail } = await settledRss();
  const settledSum = sum(settled);
  Object.assign(result.serverRss, {
    settleSeconds: +SETTLE.toFixed(1),
    heldMiB: +(settledSum / 1024).toFixed(1),
    perProcessMiB: settled.map((k) => +(k / 1024).toFixed(1)),
    bytesPerConnection: perConnection(settledSum - baseRssSum),
    bytesPerConnectionFromListen: perConnection(settledSum - coldRssSum),
    anonBytesPerConnection: perConnection(sum(settledAnon) - sum(baseAnon)),
    anonBytesPerConnectionFromListen: perConnection(sum(settledAnon) - sum(coldAnon)),
    breakdownBytesPerConnection: breakdown(baseDetail, settledDetail, perConnection),
  });
  log(`scale: holding ${HOLD} s...`);
  const holdEnd = Date.now() + (HOLD + 30) * 1000;
  await waitFor(() => loadgens.every((l) => l.exited), holdEnd - Date.now());
  result.loadgenExit = loadgens.map((l) => l.exited?.code ?? 'killed');
} finally {
  await stopAll();
  restoreSysctls();
}

if (values.out) fs.writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
if (values.json) {
  console.log(JSON.stringify(result));
} else {
  const r = result;
  console.log('\nscale summary');
  console.log(`  established:   ${r.established.servers} / ${r.target} (servers ${r.established.perServer.join(' + ')}; loadgens ${r.established.loadgens}; ss: ${r.established.ssEstablishedServerSide} server-side)`);
  if (r.established.ssSummary) for (const l of r.established.ssSummary) console.log(`                 ss -s: ${l}`);
  console.log(`  handshakes/s:  ${r.handshakesPerSec.overall} overall (${r.target} in ${r.handshakesPerSec.connectSeconds} s; sum of loadgen rates ${r.handshakesPerSec.sumOfLoadgens})`);
  const m = r.serverRss;
  console.log(`  server RSS:    ${m.baselineMiB} MiB baseline (after listen ${m.afterListenMiB}, then a warm-up of ${m.warmupConnections} connections) -> ` +
    `${m.heldMiB} MiB idle for ${m.settleSeconds} s (${m.perProcessMiB.join(', ')}): ${m.bytesPerConnection} B per idle connection`);
  console.log(`                 right after the connect burst ${m.afterBurstMiB} MiB (${m.afterBurstBytesPerConnection} B per connection); from the RSS after listen: ${m.bytesPerConnectionFromListen} B per connection`);
  console.log(`                 private memory (RssAnon) per idle connection: ${m.anonBytesPerConnection} B above the baseline, ${m.anonBytesPerConnectionFromListen} B above the RSS after listen`);
  const b = m.breakdownBytesPerConnection;
  if (b) console.log(`                 of which: core (malloc main arena) ${b.nativeMallocMainArena} B, V8 committed old generation ${b.v8OtherCommitted} B (objects in use ${b.v8LiveAndPromoted} B), V8 young generation ${b.v8YoungGeneration} B, other ${b.other} B`);
  console.log(`  server fds:    ${r.serverFds.join(', ')}`);
  console.log(`  loadgen RSS:   ${r.loadgenRss.perProcessMiB.join(', ')} MiB (${r.loadgenRss.bytesPerConnection} B per connection, baseline included); conntrack entries ${r.conntrackCount}`);
  console.log(`  kernel:        Slab +${r.kernel.slabDeltaMiB} MiB (${r.kernel.slabBytesPerConnection} B per connection, ${r.kernel.slabBytesPerSocket} B per socket); TCP mem +${r.kernel.tcpMemDeltaKiB} KiB; MemAvailable -${r.kernel.memAvailableDeltaMiB} MiB`);
  console.log(`  loadgen exits: ${r.loadgenExit.join(', ')}`);
}
const ok = result && result.established.servers >= result.target && result.loadgenExit.every((c) => c === 0);
process.exit(ok ? 0 : 1);
