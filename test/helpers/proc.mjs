// Process helpers shared by the system tests (server limits, EMFILE) and the soak script: spawn
// scripts/soak/server.mjs (optionally under a lowered fd limit), read /proc figures of a pid.
// Importing this file has no side effects.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_SCRIPT = path.join(ROOT, 'scripts', 'soak', 'server.mjs');

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/** VmRSS / VmHWM of a process in KiB (from /proc/PID/status). */
export function memKiB(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text) ?? [])[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

/** Open fds of a process. */
export function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
export function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Starts scripts/soak/server.mjs (`extraArgs` appended to its arguments, e.g. --tls-cert/--tls-key).
 * `fdLimit` runs it under `ulimit -n`. Resolves once it prints its
 * listening line. The returned object collects every stdout line (`lines`), lets callers wait for
 * a line matching a regexp, and stops the process (SIGTERM, then SIGKILL).
 */
export function startServer({ options = {}, host = '127.0.0.1', port = 0, events = false, errorListener = false,
  fdLimit = 0, maxSeconds = 900, nodeArgs = [], timeoutMs = 10_000, script = SERVER_SCRIPT, scriptArgs, extraArgs = [] } = {}) {
  const args = scriptArgs ?? ['--port', String(port), '--host', host, '--options', JSON.stringify(options),
    '--max-seconds', String(maxSeconds), ...(events ? ['--events'] : []), ...(errorListener ? ['--error-listener'] : []), ...extraArgs];
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const argv = [process.execPath, ...nodeArgs, script, ...args];
  const child = fdLimit
    ? spawn('bash', ['-c', `ulimit -n ${fdLimit} && exec "$@"`, 'bash', ...argv], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const lines = [];
  let stderr = '';
  let exited = false;
  const waiters = new Set();
  const exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => {
    exited = true;
    live.delete(child);
    for (const w of [...waiters]) w();
    resolve({ code, signal });
  }));
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const l of parts) if (lines.length < 100_000) lines.push(l);
    for (const w of [...waiters]) w();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { if (stderr.length < 65536) stderr += d; });

  /** Waits for a stdout line matching re at index >= from; resolves with its match. */
  const waitLine = (re, ms, from = 0) => new Promise((resolve, reject) => {
    const check = () => {
      for (let i = from; i < lines.length; i++) {
        const m = re.exec(lines[i]);
        if (m) { done(); resolve(m); return; }
      }
      if (exited) { done(); reject(new Error(`server exited before printing ${re}; stderr:\n${stderr}`)); }
    };
    const t = setTimeout(() => { done(); reject(new Error(`no line ${re} within ${ms} ms; stdout:\n${lines.slice(-20).join('\n')}\nstderr:\n${stderr}`)); }, ms);
    const done = () => { clearTimeout(t); waiters.delete(check); };
    waiters.add(check);
    check();
  });

  const stop = async (signal = 'SIGTERM', graceMs = 5000) => {
    if (exited) return exitPromise;
    try { child.kill(signal); } catch { /* gone */ }
    const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    const r = await exitPromise;
    clearTimeout(t);
    return r;
  };

  return waitLine(/listening on ws:\/\/(\S+):(\d+)/, timeoutMs).then((m) => ({
    pid: child.pid,
    port: Number(m[2]),
    host,
    url: `ws://${host}:${m[2]}`,
    lines,
    stderr: () => stderr,
    waitLine,
    alive: () => !exited,
    exited: exitPromise,
    stop,
  }), async (e) => { await stop('SIGKILL'); throw e; });
}
