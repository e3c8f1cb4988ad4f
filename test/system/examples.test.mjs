// examples/express.js, examples/fastify.js and examples/no-server.js: each shares one port between
// plain HTTP and epollws. Every example is spawned with --port 0; the test checks plain HTTP, the
// WebSocket echo, that HTTP still works while and after WebSockets are open on the same port, that
// other upgrade paths are refused, and that SIGTERM closes the open WebSockets with 1001.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { withTimeout } from '../helpers/timeout.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

function resolvable(name) {
  try {
    require.resolve(name, { paths: [ROOT] });
    return true;
  } catch {
    return false;
  }
}


/** Spawns an example with --port 0 and resolves once it prints `listening on http://host:port`. */
function startExample(script) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [path.join(ROOT, script), '--port', '0'], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = once(child, 'exit');
  child.stderr.setEncoding('utf8').on('data', (d) => { output += d; });
  const listening = new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      output += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(output);
      if (m) resolve({ base: m[1], port: Number(m[2]) });
    });
    exited.then(([code, signal]) => reject(new Error(`${script} exited early (${code}, ${signal}): ${output}`)));
  });
  return {
    child,
    exited,
    output: () => output,
    listening: withTimeout(listening, 10_000, `${script} to listen`),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** GET over a keep-alive agent, so the same port serves HTTP before, between and after upgrades. */
function get(agent, url) {
  return withTimeout(new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    }).on('error', reject);
  }), 5000, `GET ${url}`);
}

function connect(url) {
  const ws = new WebSocket(url);
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  }), 5000, `open ${url}`);
}

/** Sends one message and waits for the next one. */
function roundTrip(ws, data) {
  return withTimeout(new Promise((resolve) => {
    ws.once('message', (reply, isBinary) => resolve({ reply, isBinary }));
    ws.send(data);
  }), 5000, 'a reply');
}

/** Resolves with the HTTP status a refused upgrade got (or the error when the socket was dropped). */
function refusedStatus(url) {
  const ws = new WebSocket(url);
  return withTimeout(new Promise((resolve) => {
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode);
      req.destroy();
    });
    ws.once('open', () => {
      resolve('open');
      ws.terminate();
    });
    ws.once('error', (error) => resolve(error.message));
  }), 5000, `refusal of ${url}`);
}

function closeClient(ws) {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  const closed = once(ws, 'close');
  ws.close();
  return withTimeout(closed, 5000, 'client close');
}

const EXAMPLES = [
  { script: 'examples/express.js', greeting: /Express/, paths: { '/ws': (s) => s }, refused: { path: '/other', status: 404 }, needs: 'express' },
  { script: 'examples/fastify.js', greeting: /Fastify/, paths: { '/ws': (s) => s }, refused: { path: '/other', status: 404 }, needs: 'fastify' },
  {
    script: 'examples/no-server.js',
    greeting: /HTTP/,
    paths: { '/echo': (s) => s, '/shout': (s) => s.toUpperCase() },
    refused: { path: '/other', status: 404 },
  },
];

for (const example of EXAMPLES) {
  describe(example.script, { timeout: 60_000 }, () => {
    const missing = example.needs && !resolvable(example.needs) ? `${example.needs} is not installed` : null;
    let server;
    let agent;
    let base;
    let wsBase;
    const clients = new Set();

    before(async () => {
      if (missing) return;
      agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      server = startExample(example.script);
      ({ base } = await server.listening);
      wsBase = base.replace('http:', 'ws:');
    });

    after(async () => {
      for (const ws of clients) ws.terminate();
      agent?.destroy();
      await server?.stop();
    });

    const test = (name, fn) => it(name, { timeout: 20_000 }, async (t) => {
      if (missing) {
        if (process.env.CI === 'true') assert.fail(`${missing} but CI=true`);
        t.skip(missing);
        return;
      }
      await fn();
    });

    test('serves plain HTTP', async () => {
      const res = await get(agent, `${base}/`);
      assert.equal(res.status, 200);
      assert.match(res.type, /^text\/plain/);
      assert.match(res.body, example.greeting);
    });

    test('echoes text and binary on its WebSocket path(s), with HTTP working in between', async () => {
      for (const [wsPath, expect] of Object.entries(example.paths)) {
        const ws = await connect(`${wsBase}${wsPath}`);
        clients.add(ws);
        const text = await roundTrip(ws, 'hello epollws');
        assert.equal(text.isBinary, false);
        assert.equal(text.reply.toString(), expect('hello epollws'));
        const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
        const binary = await roundTrip(ws, bytes);
        assert.equal(binary.isBinary, true);
        assert.deepEqual(binary.reply, bytes);
        // HTTP on the same port while the WebSocket is open...
        assert.equal((await get(agent, `${base}/`)).status, 200);
        // ...and the WebSocket still works after that.
        assert.equal((await roundTrip(ws, 'again')).reply.toString(), expect('again'));
        await closeClient(ws);
        clients.delete(ws);
      }
    });

    test('keeps serving HTTP and new WebSockets after WebSocket traffic', async () => {
      const sockets = await Promise.all(Array.from({ length: 5 }, () => connect(`${wsBase}${Object.keys(example.paths)[0]}`)));
      for (const ws of sockets) clients.add(ws);
      const replies = await Promise.all(sockets.map((ws, i) => roundTrip(ws, `m${i}`)));
      assert.deepEqual(replies.map((r) => r.reply.toString()), sockets.map((_, i) => `m${i}`));
      // A fresh HTTP connection and the kept-alive one both work.
      const fresh = await get(undefined, `${base}/`);
      assert.equal(fresh.status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await get(agent, `${base}/`)).status, 200);
      await Promise.all(sockets.map(closeClient));
      for (const ws of sockets) clients.delete(ws);
      assert.equal((await get(agent, `${base}/`)).status, 200);
    });

    test(`refuses upgrades on other paths with ${example.refused.status}`, async () => {
      assert.equal(await refusedStatus(`${wsBase}${example.refused.path}`), example.refused.status);
      assert.equal((await get(agent, `${base}/`)).status, 200);
    });

    test('SIGTERM closes open WebSockets with 1001 and exits', async () => {
      const ws = await connect(`${wsBase}${Object.keys(example.paths)[0]}`);
      clients.add(ws);
      const closed = once(ws, 'close');
      server.child.kill('SIGTERM');
      const [code] = await withTimeout(closed, 5000, 'close on SIGTERM');
      assert.equal(code, 1001);
      const [exitCode] = await withTimeout(server.exited, 5000, 'exit on SIGTERM');
      assert.equal(exitCode, 0, server.output());
    });
  });
}
