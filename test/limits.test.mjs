// Limits, liveness and hostile clients, with real sockets and small limits so each case takes
// about a second: handshake timeout against slowloris, idle timeout with pings, half-open peers,
// maxConnections / maxHeaderSize / maxFragments, both backpressure policies, ping floods, absurd
// frame lengths (server RSS read from /proc), graceful close() / terminate(), and fds after close.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import WsClient from 'ws';
import { WebSocketServer } from '../dist/index.mjs';
import { RawClient, OP, buildRequest, encodeFrame, requestStatus, closePayload } from './helpers/raw-ws.mjs';
import { startServer, memKiB, ROOT } from '../scripts/soak/proc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

const servers = new Set();
const sockets = new Set();
const children = new Set();

async function server(options) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  servers.add(wss);
  await withTimeout(once(wss, 'listening'), 5000, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
  });
  return wss;
}
const portOf = (wss) => wss.address().port;

async function wsClient(port, options = {}) {
  const ws = new WsClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, ...options });
  sockets.add(ws);
  ws.on('error', () => {});
  await withTimeout(once(ws, 'open'), 5000, 'ws open');
  return ws;
}

async function raw(port) {
  const c = await RawClient.open({ port });
  sockets.add(c);
  return c;
}

/** The next server-side 'connection' socket. */
function nextConnection(wss) {
  return withTimeout(once(wss, 'connection').then(([s]) => s), 5000, "'connection'");
}

/** Echoes on `ws` every 50 ms until stop(); counts verified replies. */
function echoLoop(ws) {
  const state = { ok: 0, bad: 0, stop: false };
  state.done = (async () => {
    for (let i = 0; !state.stop && i < 1000; i++) {
      const text = `ping ${i}`;
      const reply = withTimeout(once(ws, 'message'), 2000, `echo ${i}`);
      ws.send(text);
      const [d] = await reply;
      if (d.toString() === text) state.ok++; else state.bad++;
      await sleep(50);
    }
  })();
  return state;
}

after(async () => {
  for (const s of sockets) { try { (s.terminate ?? s.destroy).call(s); } catch { /* gone */ } }
  for (const wss of servers) { try { await withTimeout(wss.terminate(), 5000, 'terminate'); } catch { /* ignore */ } }
  for (const c of children) await c.stop('SIGKILL');
});

describe('handshake timeout', () => {
  it('drops a slowloris client at handshakeTimeout while a good client keeps echoing', async () => {
    const wss = await server({ handshakeTimeout: 500 });
    const good = await wsClient(portOf(wss));
    const loop = echoLoop(good);
    const slow = await RawClient.connect({ port: portOf(wss) });
    sockets.add(slow);
    const { text } = buildRequest({ port: portOf(wss) });
    const t0 = Date.now();
    let sent = 0;
    for (; sent < 40 && !slow.ended; sent++) {
      slow.write(text[sent]);
      await sleep(200);
    }
    const elapsed = Date.now() - t0;
    assert.ok(slow.ended, `slowloris still connected after ${elapsed} ms`);
    assert.ok(elapsed >= 400 && elapsed < 2000, `dropped after ${elapsed} ms (handshakeTimeout 500)`);
    loop.stop = true;
    await loop.done;
    assert.ok(loop.ok >= 5, `good client echoed ${loop.ok}`);
    assert.equal(loop.bad, 0);
  });
});

describe('idle timeout and pings', () => {
  it('keeps a client that answers pings past 3x idleTimeout and drops one that never answers', async () => {
    const wss = await server({ idleTimeout: 600, sendPings: true });
    const port = portOf(wss);
    const firstConn = nextConnection(wss);
    const live = await wsClient(port);
    const liveServer = await firstConn;
    let pings = 0;
    live.on('ping', () => pings++);

    const secondConn = nextConnection(wss);
    const silent = await raw(port); // never answers the server's pings
    const silentServer = await secondConn;
    const t0 = Date.now();
    const [code] = await withTimeout(once(silentServer, 'close'), 3000, 'close of the silent client');
    const elapsed = Date.now() - t0;
    assert.equal(code, 1006);
    assert.ok(elapsed >= 450 && elapsed < 2000, `silent client dropped after ${elapsed} ms (idleTimeout 600)`);
    assert.ok(silent.frames.some((f) => f.opcode === OP.PING), 'the silent client was pinged first');

    await sleep(Math.max(0, 3 * 600 + 200 - (Date.now() - t0)));
    assert.equal(liveServer.readyState, 1, 'the ponging client is still open');
    assert.equal(live.readyState, 1);
    assert.ok(pings >= 2, `server pinged the live client ${pings} times`);
  });

  it('detects a half-open peer (stops reading and sending)', async () => {
    const wss = await server({ idleTimeout: 600, sendPings: true });
    const conn = nextConnection(wss);
    const c = await raw(portOf(wss));
    const s = await conn;
    c.socket.pause(); // never reads again, never writes
    const t0 = Date.now();
    const [code] = await withTimeout(once(s, 'close'), 3000, 'close of the half-open peer');
    assert.equal(code, 1006);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(wss.clients.size, 0);
  });
});

describe('admission limits', () => {
  it('answers 503 beyond maxConnections and accepts again once one leaves', async () => {
    const wss = await server({ maxConnections: 2 });
    const port = portOf(wss);
    const a = await wsClient(port);
    await wsClient(port);
    const { text } = buildRequest({ port });
    const r = await requestStatus({ port, data: text });
    assert.equal(r.status, 503);
    a.close();
    await withTimeout(once(a, 'close'), 3000, 'close');
    await sleep(50);
    await wsClient(port);
  });

  it('answers 431 to a request head over maxHeaderSize', async () => {
    const wss = await server({ maxHeaderSize: 1024 });
    const port = portOf(wss);
    const { text } = buildRequest({ port, headers: { 'X-Pad': 'a'.repeat(2000) } });
    const r = await requestStatus({ port, data: text });
    assert.equal(r.status, 431);
    const ok = buildRequest({ port, headers: { 'X-Pad': 'a'.repeat(500) } });
    assert.equal((await requestStatus({ port, data: ok.text })).status, 101);
  });

  it('closes with 1009 on a flood of 1-byte fragments beyond maxFragments', async () => {
    const wss = await server({ maxFragments: 10 });
    const conn = nextConnection(wss);
    const c = await raw(portOf(wss));
    const s = await conn;
    let messages = 0;
    s.on('message', () => messages++);
    const frames = [encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'a' })];
    for (let i = 0; i < 2000; i++) frames.push(encodeFrame({ opcode: OP.CONT, fin: false, payload: 'a' }));
    c.write(Buffer.concat(frames));
    const r = await c.readUntilClose(3000);
    assert.equal(r.closeCode, 1009);
    assert.equal(messages, 0);
    // Exactly maxFragments frames are fine.
    const c2 = await raw(portOf(wss));
    const parts = [encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'b' })];
    for (let i = 0; i < 8; i++) parts.push(encodeFrame({ opcode: OP.CONT, fin: false, payload: 'b' }));
    parts.push(encodeFrame({ opcode: OP.CONT, fin: true, payload: 'b' }));
    c2.write(Buffer.concat(parts));
    const m = await c2.nextMessage(3000);
    assert.equal(m.data.toString(), 'b'.repeat(10));
  });
});

describe('backpressure', () => {
  it("policy 'drop': refuses over the limit, exact bufferedAmount, 'drain' once the client reads", async () => {
    const limit = 64 * 1024;
    const size = 10_000; // framed: 4-byte header + payload (server frames are not masked)
    const wss = await server({ maxBackpressure: limit, backpressurePolicy: 'drop' });
    const conn = nextConnection(wss);
    const c = await raw(portOf(wss));
    const s = await conn;
    c.socket.pause();
    // Sends are corked until the tick ends: inside this synchronous loop nothing reaches the kernel,
    // so bufferedAmount must be exactly the framed bytes accepted so far.
    const results = [];
    const errors = new Array(20).fill(undefined);
    for (let i = 0; i < 20; i++) {
      results.push(s.send(Buffer.alloc(size, i), (e) => { errors[i] = e ?? null; }));
    }
    assert.ok(results.indexOf(false) > 0, `send never returned false: ${results}`);
    await sleep(50);
    assert.ok(errors.every((e) => e !== undefined), 'every send callback ran');
    const dropped = errors.filter((e) => e);
    assert.ok(dropped.length > 0, 'no send callback got an error');
    for (const e of dropped) {
      assert.equal(e.code, 'EPOLLWS_BACKPRESSURE');
      assert.equal(e.name, 'BackpressureError');
    }
    const acceptedIdx = [...errors.keys()].filter((i) => errors[i] === null);
    const acceptedCount = acceptedIdx.length;
    assert.ok(acceptedCount * (size + 4) <= limit + size + 4, `queued ${acceptedCount} messages over the limit`);
    // What the kernel has not taken is still queued; nothing dropped is counted.
    const buffered = s.bufferedAmount;
    assert.ok(buffered <= acceptedCount * (size + 4), `bufferedAmount ${buffered} > framed bytes accepted`);
    assert.ok(buffered <= limit + size + 4, `bufferedAmount ${buffered} unbounded`);

    // Exactness, without the kernel in the way: a second server's socket, measured in the same tick.
    const wss2 = await server({ maxBackpressure: limit, backpressurePolicy: 'drop' });
    const conn2 = nextConnection(wss2);
    const c2 = await raw(portOf(wss2));
    const s2 = await conn2;
    c2.socket.pause();
    let expected = 0;
    for (let i = 0; i < 20; i++) {
      const before = s2.bufferedAmount;
      const ok = s2.send(Buffer.alloc(size, i));
      const afterAmount = s2.bufferedAmount;
      if (afterAmount > before) {
        expected += size + 4;
        assert.equal(afterAmount, expected, `bufferedAmount after send ${i}`);
      } else {
        assert.equal(ok, false, `send ${i} was dropped but returned true`);
        assert.equal(afterAmount, before);
      }
    }
    assert.ok(expected <= limit + size + 4);

    // 'drain' fires once the client reads; every accepted message arrives whole and in order.
    const drained = withTimeout(once(s, 'drain'), 5000, "'drain'");
    c.socket.resume();
    await drained;
    assert.equal(s.bufferedAmount, 0);
    const got = [];
    for (let i = 0; i < acceptedCount; i++) got.push(await c.nextMessage(3000));
    assert.deepEqual(got.map((m) => m.data.length), new Array(acceptedCount).fill(size));
    assert.deepEqual(got.map((m) => m.data[0]), acceptedIdx);
    assert.equal(s.send('after drain'), true);
    assert.equal((await c.nextMessage(3000)).data.toString(), 'after drain');
  });

  it("policy 'close': a reader that never reads is dropped, the queue stays bounded", async () => {
    const limit = 256 * 1024;
    const size = 16 * 1024;
    const wss = await server({ maxBackpressure: limit, backpressurePolicy: 'close' });
    const conn = nextConnection(wss);
    const c = await raw(portOf(wss));
    const s = await conn;
    c.socket.pause();
    const closed = once(s, 'close');
    let maxBuffered = 0;
    let sent = 0;
    const deadline = Date.now() + 5000;
    while (s.readyState === 1 && Date.now() < deadline && sent < 100_000) {
      s.send(Buffer.alloc(size, 7));
      sent++;
      maxBuffered = Math.max(maxBuffered, s.bufferedAmount);
      if (sent % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    const [code] = await withTimeout(closed, 3000, "'close'");
    assert.ok(code === 1006 || code === 1008 || code === 1011, `close code ${code}`);
    assert.ok(maxBuffered <= limit + size + 14, `bufferedAmount reached ${maxBuffered}`);
    assert.ok(sent * size < 64 * 1024 * 1024, `sent ${sent} messages before the drop`);
  });
});

describe('hostile frames (server in a child process, RSS from /proc)', () => {
  it('a ping flood from a client that never reads stays bounded', async () => {
    const srv = await startServer({ options: { maxBackpressure: 1024 * 1024 }, events: true, maxSeconds: 60 });
    children.add(srv);
    const before = memKiB(srv.pid).rss;
    const c = await raw(srv.port);
    c.socket.pause(); // never reads the pongs
    const ping = encodeFrame({ opcode: OP.PING, payload: Buffer.alloc(125, 1) });
    const batch = Buffer.concat(new Array(512).fill(ping)); // 67 KiB of pings per write
    let written = 0;
    let peak = before;
    const deadline = Date.now() + 4000;
    while (!c.ended && Date.now() < deadline && written < 64 * 1024 * 1024) {
      if (!c.socket.write(batch)) {
        await Promise.race([once(c.socket, 'drain'), sleep(100)]);
      }
      written += batch.length;
      peak = Math.max(peak, memKiB(srv.pid).rss);
      if (written % (batch.length * 16) === 0) await sleep(1);
    }
    await sleep(300);
    peak = Math.max(peak, memKiB(srv.pid).rss);
    assert.ok(srv.alive(), 'server alive');
    assert.ok(peak - before < 48 * 1024, `server RSS grew ${peak - before} KiB during the ping flood (${written} bytes of pings sent)`);
    const good = await raw(srv.port);
    good.send('still here');
    assert.equal((await good.nextMessage(3000)).data.toString(), 'still here');
  });

  it('a 2^63-1 length header closes with 1009/1002 without allocating', async () => {
    const srv = await startServer({ events: true, maxSeconds: 60 });
    children.add(srv);
    const before = memKiB(srv.pid).rss;
    for (const opcode of [OP.BINARY, OP.TEXT]) {
      const c = await raw(srv.port);
      c.write(encodeFrame({ opcode, rawLength64: (1n << 63n) - 1n, headerOnly: true }));
      c.write(Buffer.alloc(4096, 0x55));
      const r = await c.readUntilClose(3000);
      assert.ok(r.closeCode === 1009 || r.closeCode === 1002, `close code ${r.closeCode}`);
      assert.ok(r.tcpClosed);
    }
    // The top bit set (2^64-1) is a protocol error.
    const c = await raw(srv.port);
    c.write(encodeFrame({ opcode: OP.BINARY, rawLength64: (1n << 64n) - 1n, headerOnly: true }));
    const r = await c.readUntilClose(3000);
    assert.ok(r.closeCode === 1002 || r.closeCode === 1009, `close code ${r.closeCode}`);
    const afterKiB = memKiB(srv.pid).rss;
    assert.ok(afterKiB - before < 8 * 1024, `server RSS went from ${before} to ${afterKiB} KiB`);
  });
});

describe('shutdown', () => {
  it('close() delivers queued sends, then 1001 to every client, and resolves after the handshakes', async () => {
    const wss = await server({ closeTimeout: 5000 });
    const port = portOf(wss);
    const clients = [];
    const serverSockets = [];
    for (let i = 0; i < 3; i++) {
      const conn = nextConnection(wss);
      clients.push(await wsClient(port));
      serverSockets.push(await conn);
    }
    const seen = clients.map((ws) => {
      const log = [];
      ws.on('message', (d) => log.push(d.toString()));
      ws.on('close', (code) => log.push(`close ${code}`));
      return log;
    });
    for (const s of serverSockets) { s.send('last 1'); s.send('last 2'); }
    const serverCloses = serverSockets.map((s) => once(s, 'close'));
    const t0 = Date.now();
    let closeEvent = false;
    wss.once('close', () => { closeEvent = true; });
    await withTimeout(wss.close(), 4000, 'close()');
    const elapsed = Date.now() - t0;
    assert.ok(closeEvent, "'close' emitted");
    assert.ok(elapsed < 2000, `close() took ${elapsed} ms with cooperative clients`);
    for (const [code] of await Promise.all(serverCloses)) assert.equal(code, 1001);
    await sleep(100);
    for (const log of seen) assert.deepEqual(log, ['last 1', 'last 2', 'close 1001']);
    assert.equal(wss.clients.size, 0);
    await assert.rejects(RawClient.connect({ port, timeoutMs: 1000 }), 'no longer listening');
  });

  it('close() resolves after closeTimeout when a client never answers the close frame', async () => {
    const wss = await server({ closeTimeout: 600 });
    const port = portOf(wss);
    const c = await raw(port);
    c.socket.pause();
    const good = await wsClient(port);
    const goodClosed = once(good, 'close');
    await sleep(50);
    const t0 = Date.now();
    await withTimeout(wss.close(), 5000, 'close()');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 450 && elapsed < 2500, `close() resolved after ${elapsed} ms (closeTimeout 600)`);
    assert.equal((await goodClosed)[0], 1001);
    c.socket.resume();
    const r = await c.readUntilClose(2000);
    assert.equal(r.closeCode, 1001);
    assert.ok(r.tcpClosed);
  });

  it('terminate() drops everyone at once', async () => {
    const wss = await server({ closeTimeout: 30_000 });
    const port = portOf(wss);
    const a = await wsClient(port);
    const c = await raw(port);
    c.socket.pause();
    const aClosed = once(a, 'close');
    const t0 = Date.now();
    await withTimeout(wss.terminate(), 3000, 'terminate()');
    assert.ok(Date.now() - t0 < 1000);
    assert.equal((await withTimeout(aClosed, 3000, 'client close'))[0], 1006);
    c.socket.resume();
    await c.waitEnd(2000);
  });

  it('leaves no fd open after close() resolves (counted in a child process)', async () => {
    const code = `
      import fs from 'node:fs';
      import net from 'node:net';
      const { WebSocketServer } = await import(${JSON.stringify(new URL('../dist/index.mjs', import.meta.url).href)});
      const { default: WsClient } = await import(${JSON.stringify(path.join(ROOT, 'node_modules', 'ws', 'index.js'))});
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      // Warm up the pieces a first use opens (libuv's threadpool, the addon) so they are in the baseline.
      { const w = new WebSocketServer({ port: 0, host: '127.0.0.1' }); await new Promise((r) => w.once('listening', r)); await w.close(); await sleep(50); }
      const base = fds();
      const wss = new WebSocketServer({ port: [0, 0], host: '127.0.0.1', closeTimeout: 500 });
      await new Promise((r) => wss.once('listening', r));
      wss.on('connection', (s) => s.on('message', (d) => s.send(d)));
      const listening = fds();
      // Clients in a grandchild process, so their fds do not count here.
      const { spawn } = await import('node:child_process');
      const port = wss.address().port;
      const script = "const W=require(" + JSON.stringify(${JSON.stringify(path.join(ROOT, 'node_modules', 'ws', 'index.js'))}) + ");" +
        "let n=0;for(let i=0;i<20;i++){const w=new W('ws://127.0.0.1:" + port + "');w.on('open',()=>w.send('x'));" +
        "w.on('message',()=>{if(++n===20)console.log('ready')});w.on('error',()=>{});}setTimeout(()=>process.exit(0),10000);";
      const kid = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((r) => kid.stdout.once('data', r));
      const open = fds();
      await wss.close();
      const afterClose = fds();
      await sleep(200);
      const later = fds();
      kid.kill();
      console.log(JSON.stringify({ base, listening, open, afterClose, later }));
      process.exit(0);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const [exitCode] = await withTimeout(once(child, 'exit'), 15_000, 'the fd child');
    assert.equal(exitCode, 0, err);
    const r = JSON.parse(out.trim().split('\n').pop());
    assert.ok(r.open >= r.listening + 20, `20 connections open: ${JSON.stringify(r)}`);
    assert.equal(r.later, r.base, `fds after close settled: ${JSON.stringify(r)}`);
    assert.equal(r.afterClose, r.base, `fds when close() resolved: ${JSON.stringify(r)}`);
  });
});
