// Limits, liveness and hostile clients, with real sockets and small limits so each case takes
// about a second: handshake timeout against slowloris, idle timeout with pings, half-open peers,
// maxConnections / maxHeaderSize / maxFragments, both backpressure policies, ping floods, absurd
// frame lengths (server RSS read from /proc), graceful close() / terminate(), and fds after close.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import path from 'node:path';
import WsClient from 'ws';
import { WebSocketServer } from '../../dist/index.mjs';
import { RawClient, OP, buildRequest, encodeFrame, requestStatus } from '../helpers/raw-ws.mjs';
import { startServer, memKiB, ROOT } from '../helpers/proc.mjs';
import { withTimeout, sleep } from '../helpers/timeout.mjs';


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
  it("policy 'drop': exact bufferedAmount, refuses over the limit with BackpressureError, 'drain' once the client reads", async () => {
    const limit = 64 * 1024;
    const size = 10_000; // framed: 4-byte header + payload (server frames are not masked)
    const wss = await server({ maxBackpressure: limit, backpressurePolicy: 'drop' });
    const conn = nextConnection(wss);
    const c = await raw(portOf(wss));
    const s = await conn;
    c.socket.pause();
    const payload = (seq) => { const b = Buffer.alloc(size, seq & 0xff); b.writeUInt32BE(seq, 0); return b; };

    // 1. Sends are corked until the tick ends: inside one synchronous loop nothing reaches the
    // kernel, so bufferedAmount is exactly the framed bytes accepted, and the drops are not counted.
    let seq = 0;
    const accepted = [];
    const errors = new Map();
    let expected = 0;
    let sawFalse = false;
    for (let i = 0; i < 20; i++, seq++) {
      const before = s.bufferedAmount;
      const n = seq;
      const ok = s.send(payload(n), (e) => errors.set(n, e ?? null));
      const now = s.bufferedAmount;
      if (now > before) {
        expected += size + 4;
        accepted.push(n);
        assert.equal(now, expected, `bufferedAmount after send ${i}`);
      } else {
        assert.equal(ok, false, `send ${i} was dropped but returned true`);
        assert.equal(now, before, `a dropped send changed bufferedAmount`);
      }
      if (!ok) sawFalse = true;
    }
    assert.ok(sawFalse, 'send never returned false');
    assert.ok(accepted.length < 20, 'nothing was dropped');
    assert.ok(expected <= limit + size + 4, `queued ${expected} bytes with maxBackpressure ${limit}`);

    // 2. Fill the kernel's buffers (the client does not read) until output stays queued, tick after tick.
    let stuck = 0;
    for (let tick = 0; tick < 5000 && stuck < 3; tick++) {
      for (let k = 0; k < 8; k++, seq++) {
        const n = seq;
        const before = s.bufferedAmount;
        s.send(payload(n), (e) => errors.set(n, e ?? null));
        if (s.bufferedAmount > before) accepted.push(n);
        assert.ok(s.bufferedAmount <= limit + size + 4, `bufferedAmount ${s.bufferedAmount} over the bound`);
      }
      await new Promise((r) => setImmediate(r));
      stuck = s.bufferedAmount > 0 ? stuck + 1 : 0;
    }
    assert.ok(stuck >= 3, 'the kernel never pushed back');
    await sleep(50);
    // Every refused send has called back with its error; an accepted one calls back once the
    // kernel has taken its bytes (ws's rule), so those still queued have not yet.
    const dropped = [...errors.values()].filter((e) => e);
    assert.ok(dropped.length > 0);
    assert.equal(dropped.length, seq - accepted.length, 'every refused send called back');
    for (const e of dropped) {
      assert.equal(e.code, 'EPOLLWS_BACKPRESSURE');
      assert.equal(e.name, 'BackpressureError');
    }
    const written = [...errors.keys()].filter((n) => errors.get(n) === null);
    assert.ok(written.length < accepted.length, 'callbacks of messages still queued wait for the kernel');
    const queued = s.bufferedAmount;
    assert.ok(queued > 0 && queued <= limit + size + 4, `bufferedAmount ${queued}`);

    // 3. 'drain' once the client reads; every accepted message arrives whole, in order.
    const drained = withTimeout(once(s, 'drain'), 5000, "'drain'");
    c.socket.resume();
    await drained;
    assert.ok(s.bufferedAmount < queued);
    const got = [];
    for (let i = 0; i < accepted.length; i++) {
      const m = await c.nextMessage(3000);
      assert.equal(m.data.length, size);
      got.push(m.data.readUInt32BE(0));
    }
    assert.deepEqual(got, accepted);
    await withTimeout((async () => { while (errors.size < seq) await sleep(5); })(), 5000, 'every send callback once the client read');
    assert.deepEqual([...errors.keys()].filter((n) => errors.get(n) === null).sort((x, y) => x - y), accepted);
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
  it('a ping flood from a client that never reads stays bounded', async (t) => {
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
        await Promise.race([once(c.socket, 'drain').catch(() => {}), sleep(100)]);
      }
      written += batch.length;
      peak = Math.max(peak, memKiB(srv.pid).rss);
      if (written % (batch.length * 16) === 0) await sleep(1);
    }
    await sleep(300);
    peak = Math.max(peak, memKiB(srv.pid).rss);
    t.diagnostic(`ping flood: ${written} bytes of pings written, client dropped: ${c.ended}, server RSS ${before} -> peak ${peak} KiB`);
    assert.ok(srv.alive(), 'server alive');
    assert.ok(peak - before < 48 * 1024, `server RSS grew ${peak - before} KiB during the ping flood (${written} bytes of pings sent)`);
    const good = await raw(srv.port);
    good.send('still here');
    assert.equal((await good.nextMessage(3000)).data.toString(), 'still here');
  });

  it('a 2^63-1 length header closes with 1009 (2^64-1: 1002) without allocating', async (t) => {
    const srv = await startServer({ events: true, maxSeconds: 60 });
    children.add(srv);
    const before = memKiB(srv.pid).rss;
    for (const opcode of [OP.BINARY, OP.TEXT]) {
      const c = await raw(srv.port);
      c.write(encodeFrame({ opcode, rawLength64: (1n << 63n) - 1n, headerOnly: true }));
      c.write(Buffer.alloc(4096, 0x55));
      const r = await c.readUntilClose(3000);
      assert.equal(r.closeCode, 1009, 'a valid length over maxPayload');
      assert.ok(r.tcpClosed);
    }
    // The top bit set (2^64-1) is a protocol error.
    const c = await raw(srv.port);
    c.write(encodeFrame({ opcode: OP.BINARY, rawLength64: (1n << 64n) - 1n, headerOnly: true }));
    const r = await c.readUntilClose(3000);
    assert.equal(r.closeCode, 1002, 'the most significant bit must be 0');
    const afterKiB = memKiB(srv.pid).rss;
    t.diagnostic(`2^63-1 header: 1009, 2^64-1: ${r.closeCode}, server RSS ${before} -> ${afterKiB} KiB`);
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

  // The server lives in a child process that counts its own /proc/self/fd (the test runner's fds
  // would blur the count); the clients are here. The child answers on stdout, takes orders on stdin.
  async function fdChild() {
    const code = `
      import fs from 'node:fs';
      import readline from 'node:readline';
      const { WebSocketServer } = await import(${JSON.stringify(new URL('../../dist/index.mjs', import.meta.url).href)});
      const fds = () => fs.readdirSync('/proc/self/fd').length;
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      // Warm up what a first use opens for good (the addon, libuv's pieces) so it is in the baseline.
      { const w = new WebSocketServer({ port: 0, host: '127.0.0.1' }); await new Promise((r) => w.once('listening', r)); await w.close(); await sleep(100); }
      const lines = readline.createInterface({ input: process.stdin }); // opens an fd of its own: before the baseline
      const base = fds();
      const wss = new WebSocketServer({ port: [0, 0], host: '127.0.0.1', closeTimeout: 500 });
      await new Promise((r) => wss.once('listening', r));
      wss.on('connection', (s) => s.on('message', (d) => s.send(d)));
      const listening = fds();
      console.log(JSON.stringify({ port: wss.address().port }));
      for await (const line of lines) {
        if (line !== 'close') continue;
        const open = fds();
        await wss.close();
        const afterClose = fds();
        await sleep(200);
        const later = fds();
        console.log(JSON.stringify({ base, listening, open, afterClose, later }));
        process.exit(0);
      }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add({ stop: async () => { child.kill('SIGKILL'); } });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const first = await withTimeout(new Promise((resolve) => child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
    })), 10_000, 'the fd child');
    const clients = [];
    for (let i = 0; i < 20; i++) clients.push(await wsClient(first.port));
    for (const ws of clients) {
      const echo = withTimeout(once(ws, 'message'), 3000, 'echo');
      ws.send('x');
      await echo;
    }
    child.stdin.write('close\n');
    const [exitCode] = await withTimeout(once(child, 'exit'), 10_000, 'the fd child to exit');
    assert.equal(exitCode, 0, err);
    return JSON.parse(out.trim().split('\n').pop());
  }

  let fdResult;
  it('leaves no fd open once close() has resolved and the loop turned (counted in a child process)', async () => {
    fdResult = await fdChild();
    const r = fdResult;
    assert.ok(r.listening > r.base, JSON.stringify(r));
    assert.ok(r.open >= r.listening + 20, `20 connections open: ${JSON.stringify(r)}`);
    assert.equal(r.later, r.base, `fds 200 ms after close() resolved: ${JSON.stringify(r)}`);
  });

  // close() resolves only once the native core is destroyed: the epoll fd, the eventfd and the
  // reserve fd are closed by then.
  it('leaves no fd open at the moment close() resolves', () => {
    assert.ok(fdResult, 'the previous test ran');
    assert.equal(fdResult.afterClose, fdResult.base, `fds when close() resolved: ${JSON.stringify(fdResult)}`);
  });
});
