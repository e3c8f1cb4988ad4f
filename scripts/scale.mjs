#!/usr/bin/env node
// Scale test: --connections concurrent WebSocket connections on loopback, split over --servers
// processes (scripts/scale-server.mjs) that share --ports consecutive ports with SO_REUSEPORT, and
// --loadgens native load generators (native/bench/build/loadgen --connect --hold) that bind their
// connections to distinct source addresses in 127.0.0.0/8. Every process stays under the 20,000 fd
// cap. Measures: established connections (loadgen reports, the servers' own counts, `ss -s`),
// server RSS per idle connection above the baseline taken after listen, handshakes/s overall, and
// kernel memory (/proc/meminfo Slab, /proc/net/sockstat) per connection. Bounded: connect phase at
// most --connect-timeout s, hold --hold s, then everything started here is stopped by pid.
//
//   node scripts/scale.mjs --connections 100000 --servers 6 --loadgens 6 --hold 20 [--json] [--out FILE]
//
// Sysctls it needs are read and printed; one below what the run needs is raised only with
// --allow-sysctl (root), announced, and restored at the end.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '100000' },
    servers: { type: 'string', default: '6' },
    loadgens: { type: 'string', default: '6' },
    ports: { type: 'string', default: '100' },
    base: { type: 'string', default: '20000' },
    hold: { type: 'string', default: '20' },
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
const ADDRS = Number(values['addrs-per-loadgen']);
const FD_CAP = 20_000;
const LOADGEN = path.join(ROOT, 'native', 'bench', 'build', 'loadgen');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
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
const rssKiB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
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
const lastStats = (s) => {
  for (let i = s.lines.length - 1; i >= 0; i--) if (s.lines[i].startsWith('stats ')) return JSON.parse(s.lines[i].slice(6));
  return null;
};

let result;
try {
  const kernel0 = { ...meminfo(), sockstat: sockstat() };
  const servers = [];
  for (let i = 0; i < SERVERS; i++) {
    servers.push(start(process.execPath, [path.join(ROOT, 'scripts', 'scale-server.mjs'), '--base', String(BASE), '--ports', String(PORTS),
      '--max-seconds', String(Number(values['connect-timeout']) + HOLD + 120)]));
  }
  if (!(await waitFor(() => servers.every((s) => s.lines.some((l) => l.startsWith('listening')) || s.exited), 20_000)) ||
      servers.some((s) => s.exited)) {
    throw new Error(`servers did not all listen: ${servers.map((s) => s.err || s.lines.join(' ')).join(' | ')}`);
  }
  await sleep(1500);
  const baseRss = servers.map((s) => rssKiB(s.child.pid));
  const baseRssSum = baseRss.reduce((a, b) => a + b, 0);
  log(`scale: ${SERVERS} server processes on ports ${BASE}-${BASE + PORTS - 1} (reusePort); baseline RSS ${baseRss.map((k) => (k / 1024).toFixed(1)).join(' + ')} = ${(baseRssSum / 1024).toFixed(1)} MiB`);

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
  const conntrack = (() => { try { return Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8')); } catch { return null; } })();
  const kernel1 = { ...meminfo(), sockstat: sockstat() };
  const ss = ssSummary();
  const ssEst = ssEstablished(BASE, BASE + PORTS - 1);
  const loadgenReports = loadgens.map((l) => { const line = l.lines.find((x) => x.startsWith('{')); return line ? JSON.parse(line) : null; });
  const serverConnections = serverStats.map((s) => s?.connections ?? 0);
  const established = serverConnections.reduce((a, b) => a + b, 0);
  const rssSum = rss.reduce((a, b) => a + b, 0);
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
      baselineMiB: +(baseRssSum / 1024).toFixed(1),
      heldMiB: +(rssSum / 1024).toFixed(1),
      perProcessMiB: rss.map((k) => +(k / 1024).toFixed(1)),
      bytesPerConnection: Math.round(((rssSum - baseRssSum) * 1024) / Math.max(1, established)),
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
  console.log(`  server RSS:    ${r.serverRss.baselineMiB} MiB baseline -> ${r.serverRss.heldMiB} MiB held (${r.serverRss.perProcessMiB.join(', ')}): ${r.serverRss.bytesPerConnection} B per idle connection`);
  console.log(`  server fds:    ${r.serverFds.join(', ')}`);
  console.log(`  loadgen RSS:   ${r.loadgenRss.perProcessMiB.join(', ')} MiB (${r.loadgenRss.bytesPerConnection} B per connection, baseline included); conntrack entries ${r.conntrackCount}`);
  console.log(`  kernel:        Slab +${r.kernel.slabDeltaMiB} MiB (${r.kernel.slabBytesPerConnection} B per connection, ${r.kernel.slabBytesPerSocket} B per socket); TCP mem +${r.kernel.tcpMemDeltaKiB} KiB; MemAvailable -${r.kernel.memAvailableDeltaMiB} MiB`);
  console.log(`  loadgen exits: ${r.loadgenExit.join(', ')}`);
}
const ok = result && result.established.servers >= result.target && result.loadgenExit.every((c) => c === 0);
process.exit(ok ? 0 : 1);
