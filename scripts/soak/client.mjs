#!/usr/bin/env node
// One soak client process: --clients N concurrent actors against ws://HOST:PORT for --seconds S;
// with --tls-port P --ca FILE, a --tls-share of them go to wss://HOST:P instead (well-behaved wss
// clients that verify the same way, and the TLS hostile behaviours of tls-chaos.mjs).
// A share of them (--good-share) are well-behaved clients (the `ws` package) that verify every echo
// byte: text and binary, random sizes up to 256 KiB, fragmented or not, a few in flight, half of them
// with permessage-deflate (the server offers it). The others loop over hostile behaviours on fresh
// raw TCP connections, compressed variants included (corrupt deflate data, an inflate past
// maxPayload, RSV1 without the extension). At the end the good clients stop
// sending, wait for their last echoes and close with 1000; every socket is gone before exit.
// Prints one line: `report {JSON}` (`good` for ws://, `goodTls` for wss://, `chaos` by behaviour).
import fs from 'node:fs';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import net from 'node:net';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../test/helpers/timeout.mjs';
import { encodeFrame } from '../../test/helpers/raw-ws.mjs';
import { tlsBehaviours } from './tls-chaos.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WebSocket = createRequire(path.join(root, 'package.json'))('ws');

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    clients: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '30' },
    'good-share': { type: 'string', default: '0.25' },
    'max-payload': { type: 'string', default: String(16 * 1024 * 1024 + 64 * 1024) },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' }, // comma-separated hostile behaviours (for investigating one of them)
    'tls-port': { type: 'string' },
    ca: { type: 'string' }, // PEM file of the CA that signed the TLS port's certificate
    'tls-share': { type: 'string', default: '0' },
  },
});
const HOST = values.host;
const PORT = Number(values.port);
const CLIENTS = Number(values.clients);
const SECONDS = Number(values.seconds);
const MAX_PAYLOAD = Number(values['max-payload']);
const TLS_PORT = values['tls-port'] === undefined ? 0 : Number(values['tls-port']);
const CA = TLS_PORT ? fs.readFileSync(values.ca) : undefined;
// Actors [0, PLAIN) use ws://, [PLAIN, CLIENTS) wss://; each group starts with its well-behaved share.
const TLS_CLIENTS = TLS_PORT ? Math.round(CLIENTS * Number(values['tls-share'])) : 0;
const PLAIN = CLIENTS - TLS_CLIENTS;
const goodOf = (n) => (n > 0 ? Math.max(1, Math.round(n * Number(values['good-share']))) : 0);
const GOOD = goodOf(PLAIN);
const GOOD_TLS = goodOf(TLS_CLIENTS);
const deadline = Date.now() + SECONDS * 1000;
const rand = (n) => Math.floor(Math.random() * n);

const goodReport = (clients) => ({ clients, sent: 0, verified: 0, bytes: 0, fragmented: 0, errors: [], unexpectedCloses: 0, openFailures: 0 });
const report = { good: goodReport(GOOD), goodTls: goodReport(GOOD_TLS), chaos: {}, loopDelayMaxMs: 0 };
// A busy client process sees the server's answers late: outcomes like 'timeout' mean little
// when this is seconds (the summary shows it).
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const goodError = (r, msg) => { if (r.errors.length < 50) r.errors.push(msg); };
const live = new Set(); // every raw socket, destroyed at the end

// ---- frames (the test helpers' one client-frame encoder) ----
const frame = (opcode, payload, { fin = true, mask = true, declaredLength, rsv1 = false } = {}) =>
  encodeFrame({ opcode, payload, fin, mask, declaredLength, rsv1 });
// A compressed message that inflates to one byte more than the server's maxPayload (~16 KiB).
let bomb = null;
const deflateBomb = () => (bomb ??= zlib.deflateRawSync(Buffer.alloc(MAX_PAYLOAD + 1)));
/** Resolves on 'drain' or after ms, whichever comes first (no listener left behind). */
function drainOrTimeout(s, ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(t); s.off('drain', done); s.off('close', done); resolve(); };
    const t = setTimeout(done, ms);
    s.once('drain', done);
    s.once('close', done);
  });
}
const request = (deflate = false) => `GET / HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
  (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') + '\r\n';

/** A raw TCP connection; resolves once connected (or null on failure). */
// Writes `bytes` over and over for `ms` (pausing `pauseMs` between writes, waiting for drain at
// most 100 ms) to a socket that never reads: 'dropped' if the server closed it, else 'gave-up'.
async function writeUntilDropped(s, bytes, ms, pauseMs) {
  const end = Date.now() + ms;
  let dropped = false;
  s.once('close', () => { dropped = true; });
  while (Date.now() < end && !dropped) {
    if (!s.write(bytes)) await drainOrTimeout(s, 100);
    await sleep(pauseMs);
  }
  s.destroy();
  return dropped ? 'dropped' : 'gave-up';
}

function connect() {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port: PORT });
    live.add(s);
    s.on('error', () => {});
    s.on('close', () => live.delete(s));
    const t = setTimeout(() => { s.destroy(); resolve(null); }, 5000);
    s.once('connect', () => { clearTimeout(t); resolve(s); });
    s.once('close', () => { clearTimeout(t); resolve(null); });
  });
}
/** Raw connection with a completed handshake (response head consumed), or null. */
async function handshake(deflate = false) {
  const s = await connect();
  if (!s) return null;
  s.write(request(deflate));
  const ok = await new Promise((resolve) => {
    let buf = '';
    const t = setTimeout(() => done(false), 5000);
    const onData = (d) => { buf += d.toString('latin1'); if (buf.includes('\r\n\r\n')) done(buf.startsWith('HTTP/1.1 101')); };
    const done = (v) => { clearTimeout(t); s.off('data', onData); s.off('close', onClose); resolve(v); };
    const onClose = () => done(false);
    s.on('data', onData);
    s.once('close', onClose);
  });
  if (!ok) { s.destroy(); return null; }
  return s;
}
/** Waits until the server closes s, or ms pass; returns true if the server closed it. */
function closedWithin(s, ms) {
  return new Promise((resolve) => {
    if (s.destroyed) { resolve(true); return; }
    const t = setTimeout(() => { s.off('close', on); resolve(false); }, ms);
    const on = () => { clearTimeout(t); resolve(true); };
    s.once('close', on);
    s.once('end', () => s.destroy());
  });
}

// ---- hostile behaviours: each returns a short outcome name ----
const behaviours = {
  async rstMidFrame() {
    const s = await handshake(); if (!s) return 'no-handshake';
    s.resume();
    const f = frame(2, crypto.randomBytes(1000 + rand(50_000)));
    s.write(f.subarray(0, 1 + rand(f.length - 1)));
    await sleep(rand(50));
    s.resetAndDestroy();
    return 'reset';
  },
  async finMidHandshake() {
    const s = await connect(); if (!s) return 'no-connect';
    s.resume();
    const r = request();
    s.end(r.slice(0, 1 + rand(r.length - 2)));
    return (await closedWithin(s, 3000)) ? 'closed' : (s.destroy(), 'timeout');
  },
  async garbage() {
    const s = rand(2) ? await handshake() : await connect(); if (!s) return 'no-connect';
    s.resume();
    s.write(crypto.randomBytes(1 + rand(4096)));
    return (await closedWithin(s, 4000)) ? 'closed' : (s.destroy(), 'timeout');
  },
  async oversize() {
    const s = await handshake(); if (!s) return 'no-handshake';
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]).subarray(0, 64); });
    s.write(frame(2, Buffer.alloc(0), { declaredLength: MAX_PAYLOAD + 1 + rand(1 << 30) }).subarray(0, 14));
    s.write(crypto.randomBytes(1024));
    const closed = await closedWithin(s, 3000);
    s.destroy();
    if (!closed) return 'timeout';
    return got.length >= 4 && got[0] === 0x88 && got.readUInt16BE(2) === 1009 ? 'closed-1009' : 'closed-other';
  },
  async pingFlood() {
    const s = await handshake(); if (!s) return 'no-handshake';
    s.pause(); // never reads the pongs
    const ping = frame(9, crypto.randomBytes(125));
    return writeUntilDropped(s, Buffer.concat(new Array(256).fill(ping)), 500 + rand(1500), 1);
  },
  async neverReads() {
    const s = await handshake(); if (!s) return 'no-handshake';
    s.pause(); // echoes pile up in the server
    return writeUntilDropped(s, frame(2, crypto.randomBytes(64 * 1024)), 1000 + rand(2000), 2);
  },
  async slowloris() {
    const s = await connect(); if (!s) return 'no-connect';
    s.resume();
    const r = request();
    let dropped = false;
    s.once('close', () => { dropped = true; });
    for (let i = 0; i < r.length - 2 && !dropped && Date.now() < deadline + 2000; i++) {
      s.write(r[i]);
      await sleep(150);
    }
    s.destroy();
    return dropped ? 'dropped' : 'gave-up';
  },
  async badFrames() {
    const s = await handshake(); if (!s) return 'no-handshake';
    s.resume();
    const kinds = [
      () => frame(1, 'unmasked', { mask: false }),
      () => Buffer.concat([Buffer.from([0x83, 0x80]), crypto.randomBytes(4)]), // reserved opcode
      () => frame(1, Buffer.from([0xc3, 0x28, 0xa0])), // invalid UTF-8
      () => frame(9, Buffer.alloc(0), { fin: false }), // fragmented control
      () => frame(0, 'continuation first'),
      () => frame(8, Buffer.from([0x03, 0xed])), // close code 1005 on the wire
    ];
    s.write(kinds[rand(kinds.length)]());
    return (await closedWithin(s, 3000)) ? 'closed' : (s.destroy(), 'timeout');
  },
  async abandon() {
    const s = await connect(); if (!s) return 'no-connect';
    s.resume();
    return (await closedWithin(s, 1000 + rand(3000))) ? 'closed' : (s.destroy(), 'left');
  },
  async corruptDeflate() {
    const s = await handshake(true); if (!s) return 'no-handshake';
    s.resume();
    s.write(frame(rand(2) ? 1 : 2, Buffer.concat([Buffer.from([0xff]), crypto.randomBytes(rand(2000))]), { rsv1: true }));
    return (await closedWithin(s, 3000)) ? 'closed' : (s.destroy(), 'timeout');
  },
  async inflateBomb() {
    const s = await handshake(true); if (!s) return 'no-handshake';
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]).subarray(0, 64); });
    s.write(frame(2, deflateBomb(), { rsv1: true }));
    const closed = await closedWithin(s, 5000);
    s.destroy();
    if (!closed) return 'timeout';
    return got.length >= 4 && got[0] === 0x88 && got.readUInt16BE(2) === 1009 ? 'closed-1009' : 'closed-other';
  },
  async rsv1Undeclared() {
    const s = await handshake(false); if (!s) return 'no-handshake';
    s.resume();
    s.write(frame(1, zlib.deflateRawSync('not negotiated'), { rsv1: true }));
    return (await closedWithin(s, 3000)) ? 'closed' : (s.destroy(), 'timeout');
  },
  async shortValid() {
    const s = await handshake(); if (!s) return 'no-handshake';
    s.resume();
    s.write(frame(1, 'hello'));
    s.write(frame(8, Buffer.from([0x03, 0xe8])));
    return (await closedWithin(s, 3000)) ? 'closed' : (s.destroy(), 'timeout');
  },
};
const tls = TLS_PORT ? tlsBehaviours({ host: HOST, port: TLS_PORT, ca: CA, live, rand, request, frame, closedWithin, writeUntilDropped }) : {};
const only = values.only?.split(',');
for (const n of only ?? []) {
  if (!behaviours[n] && !tls[n]) throw new Error(`unknown behaviour ${n}; known: ${[...Object.keys(behaviours), ...Object.keys(tls)].join(', ')}`);
}
const pick = (set) => (only ? only.filter((n) => set[n]) : Object.keys(set));
const names = pick(behaviours);
const tlsNames = pick(tls);

async function chaosActor(set, names) {
  while (Date.now() < deadline && names.length) {
    const name = names[rand(names.length)];
    let outcome;
    try { outcome = await set[name](); } catch (e) { outcome = `threw:${e.code ?? e.message}`; }
    const r = (report.chaos[name] ??= {});
    r[outcome] = (r[outcome] ?? 0) + 1;
    await sleep(rand(100));
  }
}

// ---- well-behaved, verifying clients ----
function payloadFor(seq) {
  const r = Math.random();
  const size = r < 0.6 ? rand(200) : r < 0.9 ? rand(16 * 1024) : rand(256 * 1024 + 1);
  if (Math.random() < 0.5) {
    // Text: mostly ASCII, some multi-byte characters, never split inside a character below.
    const unit = ['a', 'b', 'é', '€', '😀', `${seq}`];
    const parts = [];
    for (let bytes = 0; bytes < size;) {
      const u = unit[rand(unit.length)];
      parts.push(u);
      bytes += Buffer.byteLength(u);
    }
    return { binary: false, data: parts.join('') };
  }
  return { binary: true, data: crypto.randomBytes(size) };
}

/** r: the report it counts into (report.good or report.goodTls); secure: wss:// on the TLS port. */
async function goodClient(id, r, secure) {
  // Half the good clients compress (and get compressed echoes): both paths carry the same checks.
  const url = secure ? `wss://${HOST}:${TLS_PORT}/` : `ws://${HOST}:${PORT}/`;
  const ws = new WebSocket(url, { perMessageDeflate: id % 2 === 1, maxPayload: 0, ...(secure ? { ca: CA } : {}) });
  const expected = [];
  let closedByUs = false;
  let failed = false;
  const opened = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 15_000);
    ws.once('open', () => { clearTimeout(t); resolve(true); });
    ws.once('error', () => { clearTimeout(t); resolve(false); });
  });
  ws.on('error', (e) => { if (!closedByUs) goodError(r, `client ${id}: ${e.message}`); });
  if (!opened) { r.openFailures++; ws.terminate(); return; }
  let wake = null;
  ws.on('message', (data, isBinary) => {
    const exp = expected.shift();
    if (!exp) { goodError(r, `client ${id}: unexpected message`); failed = true; return; }
    const ok = exp.binary === isBinary && (isBinary ? Buffer.from(data).equals(exp.data) : data.toString() === exp.data);
    if (ok) { r.verified++; r.bytes += data.length; }
    else { goodError(r, `client ${id}: echo ${exp.seq} differs (${isBinary ? 'binary' : 'text'} ${data.length} vs ${Buffer.byteLength(exp.data)} bytes)`); failed = true; }
    wake?.();
  });
  ws.on('close', (code) => {
    if (!closedByUs) { r.unexpectedCloses++; goodError(r, `client ${id}: closed by the server with ${code}`); failed = true; }
    wake?.();
  });
  const waitFor = async (pred, ms) => {
    const end = Date.now() + ms;
    while (!pred() && Date.now() < end && ws.readyState === 1) {
      await new Promise((r) => { wake = r; setTimeout(r, 50); });
      wake = null;
    }
    return pred();
  };
  let seq = 0;
  const inflight = 1 + rand(4);
  while (Date.now() < deadline && !failed && ws.readyState === 1) {
    const p = payloadFor(seq);
    expected.push({ ...p, seq });
    r.sent++;
    const bytes = p.binary ? p.data : Buffer.from(p.data);
    if (bytes.length > 16 && Math.random() < 0.25) {
      // Fragmented: cut on byte boundaries (the server validates UTF-8 across fragments).
      r.fragmented++;
      const cuts = [...new Set(Array.from({ length: 1 + rand(5) }, () => 1 + rand(bytes.length - 1)))].sort((a, b) => a - b);
      let start = 0;
      for (const c of cuts) { ws.send(bytes.subarray(start, c), { binary: p.binary, fin: false }); start = c; }
      ws.send(bytes.subarray(start), { binary: p.binary, fin: true });
    } else {
      ws.send(p.binary ? p.data : p.data, { binary: p.binary });
    }
    seq++;
    if (!(await waitFor(() => expected.length < inflight, 20_000))) {
      if (ws.readyState === 1) { goodError(r, `client ${id}: no echo for 20 s (${expected.length} outstanding)`); failed = true; }
      break;
    }
    await sleep(rand(150));
  }
  if (!failed && !(await waitFor(() => expected.length === 0, 20_000))) {
    goodError(r, `client ${id}: ${expected.length} echoes missing at the end`);
  }
  closedByUs = true;
  if (ws.readyState === 1) {
    ws.close(1000);
    await new Promise((r) => { const t = setTimeout(r, 5000); ws.once('close', () => { clearTimeout(t); r(); }); });
  }
  ws.terminate();
}

const actors = [];
for (let i = 0; i < CLIENTS; i++) {
  // Spread the starts over the first second.
  const tlsActor = i >= PLAIN;
  const good = tlsActor ? i - PLAIN < GOOD_TLS : i < GOOD;
  actors.push(sleep(rand(1000)).then(() => (good ? goodClient(i, tlsActor ? report.goodTls : report.good, tlsActor)
    : tlsActor ? chaosActor(tls, tlsNames) : chaosActor(behaviours, names))));
}
const hardStop = setTimeout(() => {
  goodError(report.good, 'hard stop: actors still running 60 s after the deadline');
  finish();
}, SECONDS * 1000 + 60_000);
await Promise.allSettled(actors);
finish();

function finish() {
  clearTimeout(hardStop);
  report.loopDelayMaxMs = Math.round(loopDelay.max / 1e6);
  for (const s of live) s.destroy();
  process.stdout.write(`report ${JSON.stringify(report)}\n`, () => process.exit(0));
}
