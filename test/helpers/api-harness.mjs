// Shared glue for the API tests (test/api, and any suite that starts a WebSocketServer in-process).
// Importing this file has no side effects (`node --test test/` also runs every .mjs under test/).
import { once } from 'node:events';
import net from 'node:net';
import WsClient from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { withTimeout } from './timeout.mjs';

export { WsClient };

/** Rejects after `ms` with a message naming what was awaited. */
export { withTimeout };

/** The arguments of the next `event` on `emitter`, bounded by `ms`. */
export function nextEvent(emitter, event, ms = 5000) {
  return withTimeout(once(emitter, event), ms, `'${event}'`);
}

/** Collects the first `n` emissions of `event` (argument arrays), bounded by `ms`. */
export function collect(emitter, event, n, ms = 5000) {
  const got = [];
  let listener;
  const done = new Promise((resolve) => {
    listener = (...args) => {
      got.push(args);
      if (got.length === n) resolve(got);
    };
    emitter.on(event, listener);
  });
  return withTimeout(done, ms, `${n} '${event}' events (got ${got.length})`).then(
    (v) => { emitter.off(event, listener); return v; },
    (e) => { emitter.off(event, listener); e.message += ` (got ${got.length}: ${JSON.stringify(got.slice(0, 5).map((a) => String(a[0])))})`; throw e; },
  );
}

export { sleep as delay } from './timeout.mjs';

/**
 * Per-file bookkeeping: every server and client made through it is torn down by `cleanup()`,
 * which the file calls from an `after`/`afterEach` hook.
 */
export function createHarness() {
  const servers = new Set();
  const clients = new Set();
  const rawSockets = new Set();

  async function startServer(options = {}) {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
    servers.add(server);
    const listening = once(server, 'listening');
    const failed = once(server, 'error').then(([e]) => { throw e; });
    await withTimeout(Promise.race([listening, failed]), 5000, 'listening');
    return server;
  }

  function url(server, path = '/', index = 0) {
    const a = server.addresses()[index];
    const host = a.family === 'IPv6' && a.address !== '::' ? `[${a.address}]` : a.address === '::' ? '127.0.0.1' : a.address;
    return `ws://${host}:${a.port}${path}`;
  }

  /** Opens a `ws` client; resolves once open. */
  async function connect(target, options = {}, protocols) {
    const ws = new WsClient(target, protocols, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...options });
    clients.add(ws);
    const opened = once(ws, 'open');
    const failed = once(ws, 'error').then(([e]) => { throw e; });
    const refused = once(ws, 'unexpected-response').then(([, res]) => {
      throw new Error(`unexpected response ${res.statusCode}`);
    });
    await withTimeout(Promise.race([opened, failed, refused]), 5000, `open of ${target}`);
    return ws;
  }

  /**
   * Opens a `ws` client expected to be refused. Resolves { statusCode, headers, body }.
   */
  async function refusal(target, options = {}, protocols) {
    const ws = new WsClient(target, protocols, { perMessageDeflate: false, ...options });
    clients.add(ws);
    ws.on('error', () => {}); // ws reports the aborted request as an error too
    const opened = once(ws, 'open').then(() => { throw new Error(`${target} was accepted; a refusal was expected`); });
    const response = once(ws, 'unexpected-response').then(([req, res]) => new Promise((resolve, reject) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('close', () => resolve({ statusCode: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      void req;
    }));
    return withTimeout(Promise.race([opened, response]), 5000, `refusal of ${target}`);
  }

  /** A raw TCP connection (for garbage and for clients that vanish mid-handshake). */
  async function rawConnect(port, host = '127.0.0.1') {
    const socket = net.connect({ port, host });
    rawSockets.add(socket);
    socket.on('error', () => {});
    await withTimeout(once(socket, 'connect'), 5000, 'raw connect');
    return socket;
  }

  /**
   * A server, a `ws` client connected to it, and the server's socket for that client.
   * silenceErrors gives the server's socket an empty 'error' listener, for tests that do not check errors.
   */
  async function pair(options, { silenceErrors = true } = {}) {
    const server = await startServer(options);
    const connection = nextEvent(server, 'connection');
    const ws = await connect(url(server));
    const [socket] = await connection;
    if (silenceErrors) socket.on('error', () => {});
    return { server, ws, socket };
  }

  /** An echo handler: every message goes back with the same type. */
  function echo(server) {
    server.on('connection', (socket) => {
      socket.on('error', () => {});
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    });
    return server;
  }

  async function closeServer(server) {
    if (server.clients) for (const s of server.clients) s.terminate();
    await withTimeout(new Promise((resolve) => server.close(() => resolve())), 5000, 'server close').catch(() => {});
  }

  async function cleanup() {
    for (const ws of clients) ws.terminate();
    clients.clear();
    for (const s of rawSockets) s.destroy();
    rawSockets.clear();
    const list = [...servers];
    servers.clear();
    await Promise.all(list.map(closeServer));
  }

  return { startServer, url, connect, pair, refusal, rawConnect, echo, closeServer, cleanup, servers, clients };
}

/** The next message on a `ws` client as { data, isBinary }. */
export async function nextMessage(ws, ms = 5000) {
  const [data, isBinary] = await nextEvent(ws, 'message', ms);
  return { data, isBinary };
}

/** Deterministic bytes, so that a corrupted copy never passes by chance (raw-ws's generator). */
export { patternBytes as pattern } from './raw-ws.mjs';
