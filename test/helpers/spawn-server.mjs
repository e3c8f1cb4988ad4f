// Starts the echo server under test with --port 0 and waits for `listening on ws://<addr>:<port>`.
//
// Which server: env EPOLLWS_TEST_SERVER
//   unset / ""            -> node examples/echo-server.js (the real thing)
//   "ws-reference"        -> node test/helpers/reference-echo-server.mjs (ws-based stand-in)
//   "path/to/script.js"   -> node path/to/script.js
//   "some command args"   -> run as given (split on spaces)
// The server gets `--port 0 --host <host>` (and any extra args) appended; with EPOLLWS_TEST_TLS=1
// also `--tls-cert FILE --tls-key FILE` (a throwaway localhost certificate), and it must print
// `listening on wss://...`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { certFor, TEST_TLS } from './tls-certs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');

const SERVER_SPEC = (process.env.EPOLLWS_TEST_SERVER || '').trim();
export const SERVER_NAME = SERVER_SPEC === '' ? 'examples/echo-server.js' : SERVER_SPEC;
/** True when the suites run against the ws-based reference: a few strict assertions are relaxed. */
export const IS_REFERENCE = SERVER_SPEC === 'ws-reference';

/**
 * Largest message the server accepts: examples/echo-server.js allows 16 MiB + 64 KiB, the reference
 * 16 MiB + 1 KiB; env EPOLLWS_TEST_MAX_PAYLOAD overrides. Tests declare MAX_PAYLOAD + 1 to get 1009.
 */
export const MAX_PAYLOAD = Number(process.env.EPOLLWS_TEST_MAX_PAYLOAD ||
  (IS_REFERENCE ? 16 * 1024 * 1024 + 1024 : 16 * 1024 * 1024 + 64 * 1024));

export function serverCommand() {
  if (SERVER_SPEC === '') return [process.execPath, path.join(REPO_ROOT, 'examples', 'echo-server.js')];
  if (SERVER_SPEC === 'ws-reference') return [process.execPath, path.join(HERE, 'reference-echo-server.mjs')];
  const parts = SERVER_SPEC.split(/\s+/);
  if (/\.(c|m)?js$/.test(parts[0])) return [process.execPath, path.resolve(REPO_ROOT, parts[0]), ...parts.slice(1)];
  return parts;
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * @param {{host?: string, args?: string[], timeoutMs?: number}} [opts]
 * @returns {Promise<{host: string, port: number, pid: number, url: string, name: string,
 *   output: () => string, alive: () => boolean, stop: () => Promise<void>}>}
 */
export function spawnServer({ host = '127.0.0.1', args = [], timeoutMs = 10_000 } = {}) {
  const [cmd, ...baseArgs] = serverCommand();
  if (cmd === process.execPath && baseArgs[0] && !fs.existsSync(baseArgs[0])) {
    return Promise.reject(new Error(`server script not found: ${baseArgs[0]} (EPOLLWS_TEST_SERVER=${SERVER_SPEC || '<unset>'})`));
  }
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // the server is not a test file
  const tlsArgs = TEST_TLS ? ['--tls-cert', certFor('localhost').certFile, '--tls-key', certFor('localhost').keyFile] : [];
  const child = spawn(cmd, [...baseArgs, '--port', '0', '--host', host, ...tlsArgs, ...args], {
    cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let exited = false;
  const exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => {
    exited = true;
    live.delete(child);
    resolve({ code, signal });
  }));
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { if (out.length < 65536) out += d; });

  const stop = async () => {
    if (exited) return;
    try { child.kill('SIGTERM'); } catch { /* gone */ }
    const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, 3000);
    await exitPromise;
    clearTimeout(t);
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop().finally(() => reject(new Error(`server did not print its listening line within ${timeoutMs} ms; output:\n${out}`)));
    }, timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); live.delete(child); reject(err); });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}); output:\n${out}`));
    });
    let line = '';
    child.stdout.on('data', (d) => {
      if (out.length < 65536) out += d;
      line += d;
      const m = (TEST_TLS ? /listening on wss:\/\/(\S+):(\d+)/ : /listening on ws:\/\/(\S+):(\d+)/).exec(line);
      if (!m) return;
      clearTimeout(timer);
      line = '';
      const port = Number(m[2]);
      const urlHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        host, port, pid: child.pid, name: SERVER_NAME,
        url: `${TEST_TLS ? 'wss' : 'ws'}://${urlHost}:${port}`,
        output: () => out,
        alive: () => !exited && child.exitCode === null && child.signalCode === null,
        stop,
      });
    });
  });
}
