// Hostile peers: while one good client keeps echoing (every reply verified), throw garbage, resets,
// half-finished handshakes, abandoned connections, absurd lengths and a client that never reads at the
// server. Afterwards the server must be alive, the good client must have seen every echo, and the
// server's open fd count must return to its baseline.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { spawnServer } from '../helpers/spawn-server.mjs';
import { sleep } from '../helpers/timeout.mjs';
import { RawClient, OP, buildRequest, encodeFrame, encodeLarge, patternBytes } from '../helpers/raw-ws.mjs';

/** For Promise.race deadlines: does not keep the process alive. */
const timeLimit = (ms) => new Promise((r) => setTimeout(r, ms).unref());
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** Resolves when the socket is closed by the peer (or errors), rejects after ms. */
function waitClosed(socket, ms) {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readableEnded) { resolve(); return; }
    const t = setTimeout(() => reject(new Error(`server did not close the connection within ${ms} ms`)), ms);
    const done = () => { clearTimeout(t); resolve(); };
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
    socket.resume();
  });
}

function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => { s.destroy(); reject(new Error('connect timeout')); }, 5000);
    s.once('connect', () => { clearTimeout(t); resolve(s); });
    s.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

/** A client that echoes forever (bounded) and verifies every reply. */
function goodClient(url) {
  const state = { sent: 0, verified: 0, errors: [], stop: false, ws: null, done: null };
  state.done = (async () => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    state.ws = ws;
    ws.on('error', (e) => state.errors.push(`error: ${e.message}`));
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('good client open timeout')), 5000);
      ws.once('open', () => { clearTimeout(t); resolve(); });
      ws.once('error', (e) => { clearTimeout(t); reject(e); });
    });
    const deadline = Date.now() + 120_000;
    while (!state.stop && Date.now() < deadline && state.sent < 1_000_000) {
      const i = state.sent++;
      const binary = i % 2 === 1;
      const payload = binary ? patternBytes(64 + (i % 2000), i) : `good ${i} ${'z'.repeat(i % 300)}`;
      const reply = new Promise((resolve, reject) => {
        const t = setTimeout(() => { ws.off('message', on); reject(new Error(`echo ${i} did not arrive within 5 s`)); }, 5000);
        const on = (d, isBinary) => { clearTimeout(t); resolve({ d, isBinary }); };
        ws.once('message', on);
      });
      ws.send(payload);
      try {
        const { d, isBinary } = await reply;
        const ok = isBinary === binary && (binary ? Buffer.from(d).equals(payload) : d.toString() === payload);
        if (!ok) state.errors.push(`echo ${i} differs`);
        else state.verified++;
      } catch (e) {
        state.errors.push(e.message);
        break;
      }
      await sleep(2);
    }
    const closed = new Promise((r) => ws.once('close', r));
    ws.close(1000);
    await Promise.race([closed, timeLimit(3000)]);
    ws.terminate();
  })().catch((e) => state.errors.push(`good client: ${e.message}`));
  return state;
}

describe('hostile peers', { timeout: 150_000 }, () => {
  let srv;
  let good;
  let baseline;
  const sockets = new Set();
  const track = (s) => { sockets.add(s); return s; };

  before(async () => {
    srv = await spawnServer();
    // Warm up one connection so lazily created fds count in the baseline.
    const warm = await RawClient.open({ port: srv.port });
    warm.sendFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe8]) });
    await warm.readUntilClose(3000);
    warm.destroy();
    await sleep(300);
    baseline = fdCount(srv.pid);
    good = goodClient(srv.url);
    await sleep(200);
  });

  after(async () => {
    if (good) { good.stop = true; await Promise.race([good.done, timeLimit(10_000)]); good.ws?.terminate(); }
    for (const s of sockets) s.destroy();
    if (srv) await srv.stop();
  });

  it('survives garbage bytes instead of a handshake', { timeout: 20_000 }, async () => {
    const conns = await Promise.all(Array.from({ length: 20 }, () => rawConnect(srv.port).then(track)));
    conns.forEach((s, i) => s.write(Buffer.concat([crypto.randomBytes(100 + i * 50), Buffer.from('\r\n\r\n')])));
    await Promise.all(conns.map((s) => waitClosed(s, 5000)));
  });

  it('survives a handshake followed by garbage frames', { timeout: 20_000 }, async () => {
    for (let i = 0; i < 20; i++) {
      const c = await RawClient.open({ port: srv.port });
      track(c.socket);
      // 0xF3: FIN + RSV1-3 + reserved opcode 3, so the very first header is a violation.
      c.write(Buffer.concat([Buffer.from([0xf3, 0x85]), crypto.randomBytes(500 + i * 100)]));
      await c.waitEnd(5000);
    }
  });

  it('survives RST in the middle of a frame', { timeout: 20_000 }, async () => {
    for (let i = 0; i < 20; i++) {
      const c = await RawClient.open({ port: srv.port });
      const frame = encodeLarge({ payload: patternBytes(100_000, i) });
      await new Promise((r) => c.socket.write(frame.subarray(0, 1000 + i * 2000), r));
      await sleep(5);
      c.socket.resetAndDestroy();
    }
  });

  it('survives FIN in the middle of the handshake', { timeout: 20_000 }, async () => {
    const { text } = buildRequest({ port: srv.port });
    for (let i = 0; i < 20; i++) {
      const s = track(await rawConnect(srv.port));
      s.end(text.slice(0, 5 + i * 5));
      await waitClosed(s, 5000);
    }
  });

  it('survives 200 connections opened and abandoned', { timeout: 30_000 }, async () => {
    const { text } = buildRequest({ port: srv.port });
    const conns = [];
    for (let batch = 0; batch < 4; batch++) {
      conns.push(...await Promise.all(Array.from({ length: 50 }, () => rawConnect(srv.port).then(track))));
    }
    conns.forEach((s, i) => {
      if (i % 4 === 1) s.write(text.slice(0, 30)); // partial head
      else if (i % 4 === 2) s.write(text); // complete handshake, then silence
      else if (i % 4 === 3) s.write(text + encodeFrame({ opcode: OP.TEXT, fin: false, payload: 'half a message' }).toString('latin1'));
    });
    await sleep(500);
    for (const s of conns) s.destroy();
  });

  it('fails a 2^63-1 length header without trying to allocate it', { timeout: 20_000 }, async () => {
    const c = await RawClient.open({ port: srv.port });
    track(c.socket);
    c.write(encodeFrame({ opcode: OP.BINARY, rawLength64: 0x7fffffffffffffffn, headerOnly: true }));
    const r = await c.readUntilClose(5000);
    assert.ok([1009, 1002].includes(r.closeCode), `expected close 1009 (or 1002), got ${r.closeCode}`);
    assert.ok(r.tcpClosed, 'TCP not closed');
  });

  it('survives a client that never reads while the server echoes 8 MiB to it', { timeout: 30_000 }, async () => {
    const c = await RawClient.open({ port: srv.port });
    track(c.socket);
    c.socket.pause(); // stop reading: the echo backs up in the kernel and the server's queue
    c.socket.removeAllListeners('data');
    const before = good.verified;
    c.write(encodeLarge({ payload: patternBytes(8 * 1024 * 1024, 8) }));
    await sleep(1500);
    assert.ok(good.verified > before, 'the good client stalled while another client did not read');
    c.socket.destroy();
  });

  it('after all that: server alive, every echo verified, fds back to baseline', { timeout: 30_000 }, async () => {
    const before = good.verified;
    await sleep(500);
    assert.ok(good.verified > before, 'good client is not progressing');
    good.stop = true;
    await Promise.race([good.done, timeLimit(10_000)]);
    for (const s of sockets) s.destroy();
    assert.deepEqual(good.errors, [], 'good client saw errors');
    assert.equal(good.verified, good.sent, 'every sent message must have been echoed and verified');
    assert.ok(good.verified > 50, `good client echoed only ${good.verified} messages`);
    assert.ok(srv.alive(), `server process died; output:\n${srv.output()}`);
    let n = fdCount(srv.pid);
    const deadline = Date.now() + 8000;
    while (n > baseline && Date.now() < deadline) {
      await sleep(100);
      n = fdCount(srv.pid);
    }
    assert.ok(n <= baseline, `server fd count ${n} did not return to baseline ${baseline} within 8 s`);
    // And it still serves.
    const c = await RawClient.open({ port: srv.port });
    track(c.socket);
    c.send('still here');
    assert.equal((await c.nextMessage()).data.toString(), 'still here');
  });
});
