// Helpers shared by the benchmark harness (scripts/bench/run.mjs) and test/system/bench-smoke: process start/stop by PID,
// readiness by connecting, free ports, and running the load generators.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './timeout.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const LOADGEN = path.join(ROOT, 'native/bench/build/loadgen');
export const HOST = '127.0.0.1';

export { sleep };

// Runs `make -C native/bench`. Returns null on success, else a reason string.
export function buildLoadgen() {
  const r = spawnSync('make', ['-s', '-C', path.join(ROOT, 'native/bench')], { encoding: 'utf8' });
  if (r.error) return `make: ${r.error.code === 'ENOENT' ? 'not installed' : r.error.message}`;
  if (r.status !== 0) return `make -C native/bench failed:\n${r.stdout}${r.stderr}`;
  return existsSync(LOADGEN) ? null : 'make succeeded but build/loadgen is missing';
}

// A port the kernel just handed out on HOST; free again by the time a server binds it (a tiny
// race, acceptable on loopback in a harness that runs one server at a time).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: HOST });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

const tail = (s, n = 600) => (s.length > n ? '…' + s.slice(-n) : s).trim();

// Starts `argv` (optionally pinned to a CPU) and waits until it accepts TCP connections on `port`
// (or, when port is 0, until it prints "listening on ws://HOST:PORT"). sh raises the soft fd limit
// to the hard one, then exec()s taskset which exec()s the server: the PID we hold is the server's.
// Resolves { proc, pid, port } or { error }.
export async function startServer(argv, { port = 0, env = {}, cpu = null, timeoutMs = 15000 } = {}) {
  const prefix = cpu === null ? [] : ['taskset', '-c', String(cpu)];
  const proc = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...prefix, ...argv], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let exited = null;
  proc.stdout.on('data', (d) => (out = (out + d).slice(-8192)));
  proc.stderr.on('data', (d) => (err = (err + d).slice(-8192)));
  proc.on('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exited with code ${code}`));
  proc.on('error', (e) => (exited = e.message));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) return { error: `${exited}: ${tail(err || out) || 'no output'}` };
    if (port === 0) {
      const m = /listening on ws:\/\/[^\s]*:(\d+)/.exec(out);
      if (m && (await canConnect(Number(m[1])))) return { proc, pid: proc.pid, port: Number(m[1]), logs: () => err };
    } else if (await canConnect(port)) {
      return { proc, pid: proc.pid, port, logs: () => err };
    }
    await sleep(50);
  }
  await stopServer({ proc });
  return { error: `not accepting connections after ${timeoutMs / 1000} s: ${tail(err || out) || 'no output'}` };
}

// SIGTERM by PID, SIGKILL after 3 s.
export async function stopServer(server) {
  const { proc } = server;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await done;
  clearTimeout(timer);
}

/**
 * Runs `command` to its end (SIGKILL after `timeoutMs`; pinned to `cpu` with taskset when given)
 * and resolves { code, signal, stdout, stderr, result }: `result` is the JSON of the last line
 * it printed, null when that line is not JSON. `onStderr(all so far)` follows its progress;
 * `stderrLimit` keeps only the end of a chatty stderr. The load generators (loadgen, fanout,
 * the socket.io clients) all report this way.
 */
export function runJsonProcess(command, args, { cpu = null, cwd, timeoutMs = 120000, onStderr, stderrLimit = Infinity } = {}) {
  return new Promise((resolve) => {
    const [file, argv] = cpu === null ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
    const proc = spawn(file, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-stderrLimit);
      onStderr?.(stderr);
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      let result = null;
      try {
        result = JSON.parse(stdout.trim().split('\n').pop());
      } catch {
        // no JSON: the caller says why from code, signal and stderr
      }
      resolve({ code, signal, stdout, stderr, result });
    });
  });
}

// Runs loadgen with --json. onReady fires when a --connect run holds all its connections.
// Resolves { ok, result, error, stderr }.
export async function runLoadgen(args, { cpu = null, timeoutMs = 120000, onReady } = {}) {
  const onStderr = (err) => {
    if (onReady && /loadgen: ready:/.test(err)) {
      const f = onReady;
      onReady = null;
      f();
    }
  };
  const { code, signal, stderr: err, result } = await runJsonProcess(LOADGEN, [...args, '--json'], { cpu, timeoutMs, onStderr });
  if (code === 0 && result) return { ok: true, result, stderr: err };
  const errorLine = /loadgen: error: (.*)/.exec(err);
  const why = errorLine ? errorLine[1] : signal ? `loadgen killed by ${signal} (timeout?)` : `loadgen exited ${code}: ${tail(err)}`;
  return { ok: false, error: why, stderr: err };
}

export function readRssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
