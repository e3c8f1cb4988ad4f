// worker_threads: the addon is context-aware, so each Worker runs its own server and reactor.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { createHarness, nextEvent, nextMessage, withTimeout } from '../helpers/api-harness.mjs';

const h = createHarness();
const entry = new URL('../../dist/index.mjs', import.meta.url).href;

// The worker starts an echo server on port 0, posts its port, and closes the server when told;
// it then has nothing left to do and must exit on its own (no process.exit).
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.entry).then(({ WebSocketServer }) => {
  const server = new WebSocketServer({ port: workerData.port ?? 0, host: '127.0.0.1', reusePort: !!workerData.reusePort });
  server.on('error', (e) => parentPort.postMessage({ type: 'error', message: e.message }));
  server.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(Buffer.concat([Buffer.from(workerData.tag + ':'), data]), { binary: isBinary }));
  });
  server.on('listening', () => parentPort.postMessage({ type: 'port', port: server.address().port }));
  parentPort.on('message', (m) => {
    if (m !== 'stop') return;
    for (const c of server.clients) c.terminate();
    server.close(() => {
      parentPort.postMessage({ type: 'closed' });
      parentPort.close();
    });
  });
});
`;

function startWorker(tag, extra = {}) {
  const worker = new Worker(workerSource, { eval: true, workerData: { entry, tag, ...extra } });
  const messages = [];
  const waiters = [];
  worker.on('message', (m) => {
    messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  const errors = [];
  worker.on('error', (e) => errors.push(e));
  const exited = once(worker, 'exit');
  async function waitFor(type, ms = 10_000) {
    return withTimeout((async () => {
      for (;;) {
        const found = messages.find((m) => m.type === type || m.type === 'error');
        if (found) {
          if (found.type === 'error') throw new Error(`worker ${tag}: ${found.message}`);
          return found;
        }
        await new Promise((r) => waiters.push(r));
      }
    })(), ms, `worker ${tag} '${type}'`);
  }
  return { worker, waitFor, exited, errors };
}

const workers = new Set();

describe('api: worker_threads', { timeout: 60_000 }, () => {
  afterEach(async () => {
    await h.cleanup();
    for (const w of workers) await w.terminate();
    workers.clear();
  });

  it('a Worker serves on its own port and exits cleanly after close', { timeout: 20_000 }, async () => {
    const w = startWorker('w1');
    workers.add(w.worker);
    const { port } = await w.waitFor('port');
    assert.ok(port > 0);
    const ws = await h.connect(`ws://127.0.0.1:${port}/`);
    ws.send('hello');
    const m = await nextMessage(ws);
    assert.equal(m.data.toString(), 'w1:hello');
    assert.equal(m.isBinary, false);
    ws.send(Buffer.from([1, 2, 3]));
    const b = await nextMessage(ws);
    assert.equal(b.isBinary, true);
    assert.deepEqual([...b.data], [...Buffer.from('w1:'), 1, 2, 3]);
    const clientClosed = nextEvent(ws, 'close');
    w.worker.postMessage('stop');
    await w.waitFor('closed');
    await clientClosed;
    const [code] = await withTimeout(w.exited, 10_000, 'the worker to exit by itself');
    assert.equal(code, 0);
    assert.deepEqual(w.errors, []);
    workers.delete(w.worker);
  });

  it('two Workers at once, on different ports, each echoing', { timeout: 30_000 }, async () => {
    const a = startWorker('A');
    const b = startWorker('B');
    workers.add(a.worker);
    workers.add(b.worker);
    const [{ port: pa }, { port: pb }] = await Promise.all([a.waitFor('port'), b.waitFor('port')]);
    assert.notEqual(pa, pb);
    const [wa, wb] = await Promise.all([h.connect(`ws://127.0.0.1:${pa}/`), h.connect(`ws://127.0.0.1:${pb}/`)]);
    for (let i = 0; i < 20; i++) {
      const ma = nextMessage(wa);
      const mb = nextMessage(wb);
      wa.send(`a${i}`);
      wb.send(`b${i}`);
      assert.equal((await ma).data.toString(), `A:a${i}`);
      assert.equal((await mb).data.toString(), `B:b${i}`);
    }
    a.worker.postMessage('stop');
    b.worker.postMessage('stop');
    const [[ca], [cb]] = await withTimeout(Promise.all([a.exited, b.exited]), 10_000, 'both workers to exit');
    assert.equal(ca, 0);
    assert.equal(cb, 0);
    workers.clear();
  });

  it('reusePort: two Workers share one port and both get connections', { timeout: 30_000 }, async () => {
    const a = startWorker('A', { reusePort: true });
    workers.add(a.worker);
    const { port } = await a.waitFor('port');
    const b = startWorker('B', { port, reusePort: true });
    workers.add(b.worker);
    assert.equal((await b.waitFor('port')).port, port);
    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const ws = await h.connect(`ws://127.0.0.1:${port}/`);
      ws.send('who');
      seen.add((await nextMessage(ws)).data.toString());
      ws.terminate();
    }
    assert.deepEqual([...seen].sort(), ['A:who', 'B:who']);
    a.worker.postMessage('stop');
    b.worker.postMessage('stop');
    await withTimeout(Promise.all([a.exited, b.exited]), 10_000, 'both workers to exit');
    workers.clear();
  });

  it('without reusePort a second Worker on the same port gets EADDRINUSE', { timeout: 20_000 }, async () => {
    const a = startWorker('A');
    workers.add(a.worker);
    const { port } = await a.waitFor('port');
    const b = startWorker('B', { port });
    workers.add(b.worker);
    await assert.rejects(b.waitFor('port'), /EADDRINUSE/);
  });

  it('a Worker terminated with a live server and client does not take the process down', { timeout: 20_000 }, async () => {
    const w = startWorker('T');
    workers.add(w.worker);
    const { port } = await w.waitFor('port');
    const ws = await h.connect(`ws://127.0.0.1:${port}/`);
    ws.send('x');
    await nextMessage(ws);
    const clientClosed = nextEvent(ws, 'close', 10_000);
    await w.worker.terminate();
    workers.delete(w.worker);
    const [code] = await clientClosed;
    assert.equal(code, 1006);
  });
});
