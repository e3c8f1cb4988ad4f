// Fixtures for the node:http takeover tests (test/api/http-takeover*.test.mjs): a WebSocketServer
// reached through a node:http server, in each of the three ways a request can reach the core, and
// gates that hold an async decision open until the test lets it go.
import http from 'node:http';
import { once } from 'node:events';
import { WebSocketServer } from '../../dist/index.mjs';
import { RawClient, buildRequest, encodeFrame, OP } from './raw-ws.mjs';
import { withTimeout } from './timeout.mjs';

/**
 * How the upgrade reaches the core:
 *  server        `new WebSocketServer({ server })`: node:http parses, lib takes the socket over;
 *  handleUpgrade `{ noServer: true }` and the application calls `wss.handleUpgrade` itself;
 *  listener      `{ port }`: the core's own listener parses the request.
 */
export const MODES = ['server', 'handleUpgrade', 'listener'];
export const HTTP_MODES = ['server', 'handleUpgrade'];

/**
 * Starts a WebSocketServer in `mode` with `options`. `onUpgrade(request, socket, head, go)` (handleUpgrade
 * mode only) may delay the call to handleUpgrade: it is called with `go()`, which performs it.
 * Resolves { wss, port, connections, close }: `connections` collects [webSocket, request] pairs.
 */
export async function startTakeover(mode, options = {}, { onUpgrade } = {}) {
  const connections = [];
  let wss;
  let httpServer;
  if (mode === 'listener') {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
    await withTimeout(once(wss, 'listening'), 5000, 'listening');
  } else {
    httpServer = http.createServer((req, res) => res.writeHead(426).end());
    if (mode === 'server') {
      wss = new WebSocketServer({ server: httpServer, ...options });
    } else {
      wss = new WebSocketServer({ noServer: true, ...options });
      httpServer.on('upgrade', (request, socket, head) => {
        const go = () => wss.handleUpgrade(request, socket, head, (ws, req) => wss.emit('connection', ws, req));
        if (onUpgrade) onUpgrade(request, socket, head, go); else go();
      });
    }
    httpServer.listen(0, '127.0.0.1');
    await withTimeout(once(httpServer, 'listening'), 5000, 'http listening');
  }
  wss.on('connection', (ws, request) => {
    ws.on('error', () => {});
    connections.push([ws, request]);
  });
  const port = mode === 'listener' ? wss.addresses()[0].port : httpServer.address().port;
  const close = async () => {
    for (const ws of wss.clients ?? []) ws.terminate();
    await withTimeout(wss.close(), 5000, 'wss.close').catch(() => {});
    if (httpServer) {
      httpServer.closeAllConnections?.();
      await withTimeout(new Promise((resolve) => httpServer.close(() => resolve())), 5000, 'http close').catch(() => {});
    }
  };
  return { wss, port, connections, close };
}

/** A decision held open: `reached` resolves when the server asks, `open(v)` answers it. */
export function gate() {
  let reachedResolve;
  let openResolve;
  const reached = new Promise((resolve) => { reachedResolve = resolve; });
  const opened = new Promise((resolve) => { openResolve = resolve; });
  return { reached, opened, arrive: (v) => reachedResolve(v), open: (v) => openResolve(v) };
}

/** Sends a raw upgrade request for `path` (with `headers` changed) and resolves the RawClient. */
export async function rawUpgrade(port, { path = '/', headers = {}, extra } = {}) {
  const c = await RawClient.connect({ port });
  const { text, key } = buildRequest({ port, path, headers });
  c.write(extra ? Buffer.concat([Buffer.from(text, 'latin1'), extra]) : text);
  c.key = key;
  return c;
}

/**
 * An event-loop barrier through the server: a fresh client opens `path`, has one message echoed
 * and leaves. Everything the server's loop had been told before (a FIN, a decision) has been
 * through at least one reactor turn by the time this resolves.
 */
export async function probeEcho(port, path = '/probe') {
  const c = await RawClient.open({ port, path });
  try {
    c.write(encodeFrame({ opcode: OP.TEXT, payload: 'probe' }));
    const m = await c.nextMessage(5000);
    if (m.data.toString() !== 'probe') throw new Error(`probe echo was ${JSON.stringify(m.data.toString())}`);
  } finally {
    c.destroy();
  }
}

/** Echo on every connection (for the probes and the frame tests). */
export function echoAll(wss) {
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
}
