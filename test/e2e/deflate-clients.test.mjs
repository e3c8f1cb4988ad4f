// permessage-deflate end to end with independent clients, against the echo server with --deflate:
// the `ws` client (perMessageDeflate), Python `websockets` (offers it by default) and headless
// Chromium (offers it by default). Each must negotiate the extension and echo text and binary
// from 0 B to 16 MiB intact. (That frames really are compressed is checked byte by byte in
// test/conformance/deflate.test.mjs.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { spawnServer } from '../helpers/spawn-server.mjs';
import { launchChromium } from '../helpers/chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY = process.env.EPOLLWS_TEST_PYTHON || '/usr/bin/python3';
const SIZES = [0, 1, 1000, 65536, 1 << 20, 16 << 20];

function jsonText(n) {
  let out = '';
  for (let i = 0; out.length < n; i++) out += `{"user":"u${i % 977}","text":"hello there ${(i * 7919) % 10007}","ts":${i}},`;
  return out.slice(0, n);
}

function skipOrFail(t, missing) {
  if (process.env.CI === 'true') assert.fail(`${missing} but CI=true`);
  t.skip(missing);
}

describe('e2e: permessage-deflate with real clients', { timeout: 300_000 }, () => {
  let srv;
  before(async () => { srv = await spawnServer({ args: ['--deflate'] }); });
  after(async () => {
    if (!srv) return;
    const alive = srv.alive();
    await srv.stop();
    assert.ok(alive, 'server died during the suite');
  });

  it('ws client with perMessageDeflate: negotiates, echoes text and binary 0 B to 16 MiB', { timeout: 120_000 }, async () => {
    const ws = new WebSocket(srv.url, { perMessageDeflate: { threshold: 0 }, maxPayload: 64 * 1024 * 1024 });
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    try {
      assert.equal(ws.extensions, 'permessage-deflate');
      for (const n of SIZES) {
        for (const binary of [false, true]) {
          const text = jsonText(n);
          const sent = binary ? Buffer.from(text) : text;
          const echoed = new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
          ws.send(sent);
          const m = await echoed;
          assert.equal(m.isBinary, binary);
          assert.ok(Buffer.from(m.data).equals(Buffer.from(text)), `${n} B ${binary ? 'binary' : 'text'} echo differs`);
        }
      }
    } finally {
      ws.terminate();
    }
  });

  it('python websockets (deflate by default): negotiates, echoes 0 B to 16 MiB', { timeout: 200_000 }, async (t) => {
    const probe = spawnSync(PY, ['-c', 'import websockets'], { timeout: 10_000 });
    if (probe.status !== 0) return skipOrFail(t, `python3-websockets not installed (${PY})`);
    const child = spawn(PY, [path.join(HERE, 'python_deflate_client.py'), srv.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 190_000);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    let res = null;
    try { res = JSON.parse(out.trim().split('\n').pop()); } catch { /* reported below */ }
    assert.ok(res, `python client printed no JSON (exit ${code}):\n${out}\n${err}`);
    assert.equal(res.extensions, 'permessage-deflate', JSON.stringify(res));
    assert.deepEqual({ echo: res.echo, close_code: res.close_code, ok: res.ok }, { echo: true, close_code: 4003, ok: true }, `${JSON.stringify(res)}\n${err}`);
    assert.equal(code, 0);
  });

  it('headless chromium (deflate by default): negotiates, echoes 0 B to 16 MiB', { timeout: 200_000 }, async (t) => {
    const browser = await launchChromium(t);
    if (!browser) return;
    const html = fs.readFileSync(path.join(HERE, 'fixtures', 'deflate-page.html'));
    const web = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(html);
    });
    await new Promise((r) => web.listen(0, '127.0.0.1', r));
    try {
      const page = await browser.page();
      await page.goto(`http://127.0.0.1:${web.address().port}/?ws=${encodeURIComponent(srv.url)}`, { timeout: 15_000 });
      await page.waitForFunction(() => window.__results !== undefined, null, { timeout: 180_000, polling: 250 });
      const res = await page.evaluate(() => window.__results);
      assert.deepEqual(res, { extensions: 'permessage-deflate', echo: true, close_code: 4004 }, `chromium results: ${JSON.stringify(res)}`);
    } finally {
      await browser.close();
      await new Promise((r) => web.close(r));
    }
  });
});
