// End to end with an independent client: Python `websockets` (Debian python3-websockets) via /usr/bin/python3.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServer } from '../helpers/spawn-server.mjs';
import { certFor, TEST_TLS } from '../helpers/tls-certs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY = process.env.EPOLLWS_TEST_PYTHON || '/usr/bin/python3';

function pythonWebsocketsVersion() {
  const r = spawnSync(PY, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function runPython(args, ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(PY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); }, ms);
    child.on('error', (e) => { clearTimeout(t); reject(e); });
    child.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, out, err }); });
  });
}

describe('e2e: python websockets client', { timeout: 90_000 }, () => {
  const version = pythonWebsocketsVersion();
  let srv;
  before(async () => { if (version) srv = await spawnServer(); });
  after(async () => { if (srv) await srv.stop(); });

  it('echoes text, binary, 1 MiB and round-trips a close code', { timeout: 70_000 }, async (t) => {
    if (!version) {
      if (process.env.CI === 'true') assert.fail(`python3-websockets not installed (${PY}) but CI=true`);
      t.skip(`python3-websockets not installed (${PY} -c "import websockets" failed)`);
      return;
    }
    // EPOLLWS_TEST_TLS: wss://, an SSL context that trusts the test CA only.
    const tlsArgs = TEST_TLS ? [certFor('localhost').caFile] : [];
    const r = await runPython([path.join(HERE, 'python_echo_client.py'), srv.url, ...tlsArgs], 65_000);
    let res;
    try { res = JSON.parse(r.out.trim().split('\n').pop()); } catch { res = null; }
    assert.ok(res, `python client printed no JSON (exit ${r.code} ${r.signal}):\n${r.out}\n${r.err}`);
    assert.deepEqual(
      { ...res, close_reason: undefined },
      { text: true, binary: true, binary_1mib: true, text_1mib: true, ping: true, close_code: 4001, close_reason: undefined, ok: true },
      `python websockets ${version} results: ${JSON.stringify(res)}\n${r.err}`,
    );
    assert.equal(r.code, 0);
    assert.ok(srv.alive(), 'server died');
  });
});
