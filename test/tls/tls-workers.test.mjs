// Native TLS in several reactors at once: each worker_threads Worker runs its own TLS server, so
// OpenSSL's table and BIO method (made once per process) are first used from several threads at
// the same time, and each reactor's shared BIO and record buffers must stay its own. Clients on
// every worker echo concurrently; the workers then close and exit on their own.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { caCert, certFor } from '../helpers/tls-certs.mjs';
import { patternBytes } from '../helpers/raw-ws.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

const entry = new URL('../../dist/index.mjs', import.meta.url).href;
const localhost = certFor('localhost');
const workers = new Set();
after(async () => {
  for (const worker of workers) await worker.terminate();
});

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.entry).then(({ WebSocketServer }) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 4 << 20, tls: { key: workerData.key, cert: workerData.cert } });
  server.on('error', (e) => parentPort.postMessage({ type: 'error', message: e.message }));
  server.on('connection', (socket, request) => {
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    parentPort.postMessage({ type: 'tls', protocol: request.socket.getProtocol() });
  });
  server.on('listening', () => parentPort.postMessage({ type: 'port', port: server.address().port }));
  parentPort.on('message', () => server.close(() => parentPort.close()));
});
`;

function startWorker() {
  const worker = new Worker(workerSource, { eval: true, workerData: { entry, key: localhost.key, cert: localhost.cert } });
  workers.add(worker);
  const protocols = [];
  const port = new Promise((resolve, reject) => {
    worker.on('message', (m) => {
      if (m.type === 'port') resolve(m.port);
      if (m.type === 'error') reject(new Error(m.message));
      if (m.type === 'tls') protocols.push(m.protocol);
    });
    worker.once('error', reject);
  });
  return { worker, port, protocols, exited: once(worker, 'exit') };
}

async function client(port, index) {
  const ws = new WebSocket(`wss://127.0.0.1:${port}`, { ca: caCert(), maxPayload: 4 << 20 });
  await withTimeout(once(ws, 'open'), 10_000, 'open');
  const messages = [patternBytes(10, index), patternBytes(70_000, index + 1), patternBytes(1 << 20, index + 2)];
  const received = [];
  const done = new Promise((resolve) => ws.on('message', (data) => {
    received.push(data);
    if (received.length === messages.length) resolve();
  }));
  for (const message of messages) ws.send(message);
  await withTimeout(done, 30_000, `echoes on port ${port}`);
  messages.forEach((message, i) => assert.ok(received[i].equals(message), `client ${index}, echo ${i}`));
  ws.close(1000);
  await withTimeout(once(ws, 'close'), 5000, 'close');
}

describe('native TLS in worker_threads', { timeout: 120_000 }, () => {
  it('three workers, each its own TLS reactor: concurrent clients echo, then every worker exits', async () => {
    const started = [startWorker(), startWorker(), startWorker()];
    const ports = await withTimeout(Promise.all(started.map((w) => w.port)), 20_000, 'the workers listening');
    await Promise.all(ports.flatMap((port, w) => Array.from({ length: 8 }, (_, i) => client(port, w * 10 + i))));
    for (const w of started) {
      assert.equal(w.protocols.length, 8);
      assert.ok(w.protocols.every((p) => p === 'TLSv1.3'));
      w.worker.postMessage('stop');
    }
    const codes = await withTimeout(Promise.all(started.map((w) => w.exited)), 20_000, 'the workers exiting');
    assert.deepEqual(codes.map(([code]) => code), [0, 0, 0]);
    for (const w of started) workers.delete(w.worker);
  });
});
