// A raw WebSocket client for conformance tests: handshake over net.Socket, a frame encoder that can
// craft any header (bad bits, reserved opcodes, lying lengths, unmasked frames), an incremental frame
// decoder, and helpers that read until the server closes.
//
// Importing this file has no side effects (node --test test/ runs every .mjs under test/).
import net from 'node:net';
import tls from 'node:tls';
import crypto from 'node:crypto';
import { caCert, TEST_TLS } from './tls-certs.mjs';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

export function computeAccept(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

export function makeKey() {
  return crypto.randomBytes(16).toString('base64');
}

/**
 * Builds a handshake request. `headers` replaces or adds headers (a value of null removes one).
 * @returns {{text: string, key: string}}
 */
export function buildRequest({ host = '127.0.0.1', port, path = '/', method = 'GET', key = makeKey(),
  headers = {}, httpVersion = '1.1' } = {}) {
  const base = {
    Host: port ? `${host.includes(':') ? `[${host}]` : host}:${port}` : host,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  const merged = { ...base };
  for (const [k, v] of Object.entries(headers)) {
    const existing = Object.keys(merged).find((x) => x.toLowerCase() === k.toLowerCase());
    if (existing) delete merged[existing];
    if (v !== null && v !== undefined) merged[k] = v;
  }
  let text = `${method} ${path} HTTP/${httpVersion}\r\n`;
  for (const [k, v] of Object.entries(merged)) text += `${k}: ${v}\r\n`;
  return { text: text + '\r\n', key };
}

/**
 * Encodes one frame. Everything can be forced:
 *  fin (default true), rsv1/rsv2/rsv3, opcode, payload (Buffer|string), mask (default true),
 *  maskKey (4 bytes), lengthMode 'auto'|7|16|64, declaredLength (written into the header instead of the
 *  real length; with headerOnly the payload is left off), rawLength64 (a BigInt for the 64-bit field).
 */
export function encodeFrame({ fin = true, rsv1 = false, rsv2 = false, rsv3 = false, opcode = OP.TEXT,
  payload = Buffer.alloc(0), mask = true, maskKey, lengthMode = 'auto', declaredLength, rawLength64,
  headerOnly = false } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = declaredLength ?? data.length;
  let mode = lengthMode;
  if (rawLength64 !== undefined) mode = 64;
  if (mode === 'auto') mode = len < 126 ? 7 : len < 65536 ? 16 : 64;
  const headLen = 2 + (mode === 16 ? 2 : mode === 64 ? 8 : 0) + (mask ? 4 : 0);
  const head = Buffer.alloc(headLen);
  head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0) | (opcode & 0x0f);
  let off = 2;
  if (mode === 7) {
    if (len > 125) throw new RangeError('7-bit length > 125');
    head[1] = len;
  } else if (mode === 16) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
    off = 4;
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(rawLength64 !== undefined ? BigInt(rawLength64) : BigInt(len), 2);
    off = 10;
  }
  if (headerOnly) {
    if (mask) {
      head[1] |= 0x80;
      (maskKey ? Buffer.from(maskKey) : crypto.randomBytes(4)).copy(head, off);
    }
    return head;
  }
  if (!mask) return Buffer.concat([head, data]);
  head[1] |= 0x80;
  const key = maskKey ? Buffer.from(maskKey) : crypto.randomBytes(4);
  key.copy(head, off);
  return Buffer.concat([head, masked(data, key)]);
}

/** `data` XOR the 4-byte `key`, four bytes at a time (large payloads are common in the tests). */
function masked(data, key) {
  const len = data.length;
  const body = Buffer.allocUnsafe(len);
  const k32 = key.readUInt32LE(0);
  let i = 0;
  for (; i + 4 <= len; i += 4) body.writeUInt32LE((data.readUInt32LE(i) ^ k32) >>> 0, i);
  for (; i < len; i++) body[i] = data[i] ^ key[i & 3];
  return body;
}

/** A close frame payload: code (2 bytes) + reason. */
export function closePayload(code, reason = '') {
  const r = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : Buffer.from(reason);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Incremental decoder for frames (masked or not). push() returns the frames completed so far. */
export class FrameDecoder {
  constructor({ maxFrame = 64 * 1024 * 1024 } = {}) {
    this.chunks = [];
    this.length = 0;
    this.maxFrame = maxFrame;
  }

  _peek(n) {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (o === n) break;
    }
    return out;
  }

  _take(n) {
    if (n === 0) return Buffer.alloc(0);
    const out = this.chunks[0].length >= n ? null : Buffer.allocUnsafe(n);
    if (!out) {
      const c = this.chunks[0];
      const r = c.subarray(0, n);
      if (c.length === n) this.chunks.shift(); else this.chunks[0] = c.subarray(n);
      this.length -= n;
      return r;
    }
    let o = 0;
    while (o < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.chunks.shift(); else this.chunks[0] = c.subarray(k);
    }
    this.length -= n;
    return out;
  }

  push(buf) {
    if (buf && buf.length) {
      this.chunks.push(buf);
      this.length += buf.length;
    }
    const frames = [];
    for (;;) {
      if (this.length < 2) break;
      const h = this._peek(2);
      const masked = (h[1] & 0x80) !== 0;
      let len = h[1] & 0x7f;
      let hl = 2;
      if (len === 126) hl = 4; else if (len === 127) hl = 10;
      if (masked) hl += 4;
      if (this.length < hl) break;
      const head = this._peek(hl);
      if (len === 126) len = head.readUInt16BE(2);
      else if (len === 127) {
        const big = head.readBigUInt64BE(2);
        if (big > BigInt(this.maxFrame)) throw new Error(`frame length ${big} too large for the test decoder`);
        len = Number(big);
      }
      if (this.length < hl + len) break;
      this._take(hl);
      let payload = Buffer.from(this._take(len));
      if (masked) {
        const key = head.subarray(hl - 4, hl);
        for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      }
      frames.push({
        fin: (h[0] & 0x80) !== 0,
        rsv: (h[0] >> 4) & 0x7,
        opcode: h[0] & 0x0f,
        masked,
        payload,
      });
    }
    return frames;
  }
}

function timeoutError(ms, what) {
  const e = new Error(`timed out after ${ms} ms waiting for ${what}`);
  e.code = 'ETIMEDOUT_TEST';
  return e;
}

/**
 * A raw connection. Bytes are buffered; the first bytes are read as an HTTP head by readHead(),
 * everything after it goes to the frame decoder.
 */
export class RawClient {
  constructor(socket) {
    this.socket = socket;
    this.decoder = new FrameDecoder();
    this.frames = [];
    this.headBuf = Buffer.alloc(0);
    this.headDone = false;
    this.head = null;
    this.ended = false; // FIN or close seen
    this.closed = false; // 'close' event seen
    this.error = null;
    this.waiters = new Set();
    socket.on('data', (d) => this._onData(d));
    socket.on('end', () => { this.ended = true; this._wake(); });
    socket.on('close', () => { this.ended = true; this.closed = true; this._wake(); });
    socket.on('error', (e) => { this.error = e; this._wake(); });
  }

  static connect({ host = '127.0.0.1', port, timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      // EPOLLWS_TEST_TLS: the same bytes inside TLS, trusting the test CA (spawn-server.mjs).
      const socket = TEST_TLS ? tls.connect({ host, port, ca: caCert(), servername: 'localhost' }) : net.connect({ host, port });
      socket.setNoDelay(true);
      const t = setTimeout(() => { socket.destroy(); reject(timeoutError(timeoutMs, 'connect')); }, timeoutMs);
      socket.once(TEST_TLS ? 'secureConnect' : 'connect', () => { clearTimeout(t); resolve(new RawClient(socket)); });
      socket.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  /** Connects and completes a valid handshake; checks 101 and the accept key. */
  static async open({ host = '127.0.0.1', port, path = '/', headers = {}, timeoutMs = 5000 } = {}) {
    const c = await RawClient.connect({ host, port, timeoutMs });
    try {
      const { text, key } = buildRequest({ host, port, path, headers });
      c.write(text);
      const head = await c.readHead(timeoutMs);
      if (head.status !== 101) throw new Error(`expected 101, got ${head.status}: ${head.statusLine}`);
      if (head.headers['sec-websocket-accept'] !== computeAccept(key)) {
        throw new Error(`bad Sec-WebSocket-Accept ${head.headers['sec-websocket-accept']}`);
      }
      return c;
    } catch (e) {
      c.destroy();
      throw e;
    }
  }

  _onData(d) {
    if (!this.headDone) {
      this.headBuf = Buffer.concat([this.headBuf, d]);
      const i = this.headBuf.indexOf('\r\n\r\n');
      if (i < 0) { this._wake(); return; }
      this.headDone = true;
      this.head = parseHead(this.headBuf.subarray(0, i).toString('latin1'));
      this.head.rest = Buffer.from(this.headBuf.subarray(i + 4));
      d = this.head.rest;
      this.headBuf = null;
      if (this.head.status !== 101) { this.head.body = d; this._wake(); return; }
    } else if (this.head && this.head.status !== 101) {
      this.head.body = Buffer.concat([this.head.body, d]);
      this._wake();
      return;
    }
    try {
      for (const f of this.decoder.push(d)) this.frames.push(f);
    } catch (e) {
      this.error = e;
    }
    this._wake();
  }

  _wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until pred() is true (re-checked on every event), or rejects after ms. */
  waitFor(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try { v = pred(); } catch (e) { done(); reject(e); return; }
        if (v) { done(); resolve(v); }
      };
      const t = setTimeout(() => { done(); reject(timeoutError(ms, what)); }, ms);
      const done = () => { clearTimeout(t); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  write(data) {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Writes data in pieces of `size` bytes, one write (and one event-loop turn) each. */
  async writeChopped(data, size = 1, delayEvery = 1) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    let n = 0;
    for (let i = 0; i < buf.length; i += size) {
      if (this.socket.destroyed) return;
      await new Promise((r) => this.socket.write(buf.subarray(i, i + size), r));
      if (++n % delayEvery === 0) await new Promise((r) => setImmediate(r));
    }
  }

  sendFrame(opts) {
    this.write(encodeFrame(opts));
  }

  send(payload, { binary = false } = {}) {
    this.sendFrame({ opcode: binary ? OP.BINARY : OP.TEXT, payload });
  }

  /** Resolves with the parsed HTTP head: {status, statusLine, headers (lowercased), raw}. */
  async readHead(ms = 5000) {
    await this.waitFor(() => this.headDone || this.ended, ms, 'HTTP response head');
    if (!this.headDone) throw new Error('connection closed before the HTTP response head');
    return this.head;
  }

  /** Waits for the response head, or for the connection to end (returns null then). */
  async readHeadOrEnd(ms = 5000) {
    await this.waitFor(() => this.headDone || this.ended, ms, 'HTTP response head or close');
    return this.headDone ? this.head : null;
  }

  /** Next frame (any opcode). */
  async nextFrame(ms = 5000) {
    await this.waitFor(() => this.frames.length > 0 || this.ended || this.error, ms, 'a frame');
    if (this.frames.length) return this.frames.shift();
    throw new Error(`connection ended before a frame arrived${this.error ? `: ${this.error.message}` : ''}`);
  }

  /**
   * Next complete data message (fragments joined); control frames are collected in `controls`.
   * @returns {Promise<{opcode: number, data: Buffer, frames: number}>}
   */
  async nextMessage(ms = 5000, controls = []) {
    const deadline = Date.now() + ms;
    const parts = [];
    let opcode = null;
    let count = 0;
    for (;;) {
      const f = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (f.opcode >= 8) {
        controls.push(f);
        if (f.opcode === OP.CLOSE) {
          throw new Error(`got close ${describeClose(f.payload)} while waiting for a message`);
        }
        continue;
      }
      count++;
      if (opcode === null) opcode = f.opcode;
      parts.push(f.payload);
      if (f.fin) return { opcode, data: Buffer.concat(parts), frames: count };
    }
  }

  /**
   * Reads frames until the server's close frame and the TCP close. When replyClose is set, a close frame
   * with the same code is sent back (as a normal client would).
   * @returns {Promise<{frames: object[], closeCode: number|null, closeReason: Buffer|null,
   *   closePayload: Buffer|null, tcpClosed: boolean}>}
   */
  async readUntilClose(ms = 5000, { replyClose = false } = {}) {
    const deadline = Date.now() + ms;
    const frames = [];
    let close = null;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        await this.waitFor(() => this.frames.length > 0 || this.ended || this.error, left, 'a frame');
      } catch { break; }
      if (!this.frames.length) break;
      const f = this.frames.shift();
      frames.push(f);
      if (f.opcode === OP.CLOSE) { close = f; break; }
    }
    if (close && replyClose && !this.socket.destroyed) {
      try { this.sendFrame({ opcode: OP.CLOSE, payload: close.payload.subarray(0, 2) }); } catch { /* closed */ }
    }
    let tcpClosed = this.ended;
    if (!tcpClosed) {
      try {
        await this.waitFor(() => this.ended, Math.max(1, deadline - Date.now()), 'TCP close');
        tcpClosed = true;
      } catch { tcpClosed = false; }
    }
    return {
      frames,
      closeCode: close ? (close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005) : null,
      closeReason: close && close.payload.length > 2 ? close.payload.subarray(2) : null,
      closePayload: close ? close.payload : null,
      tcpClosed,
    };
  }

  /** Waits until the server ends or resets the connection. */
  async waitEnd(ms = 5000) {
    await this.waitFor(() => this.ended, ms, 'the connection to end');
  }

  destroy() {
    this.socket.destroy();
  }
}

export function describeClose(payload) {
  if (payload.length < 2) return `(empty, ${payload.length} bytes)`;
  return `${payload.readUInt16BE(0)} "${payload.subarray(2).toString('utf8')}"`;
}

export function parseHead(text) {
  const lines = text.split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) {
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    }
  }
  return { status: m ? Number(m[1]) : NaN, statusLine, headers, raw: text };
}

/** Sends a raw request and returns the HTTP status (or null when closed without an answer). */
export async function requestStatus({ host = '127.0.0.1', port, data, chopped = false, ms = 5000 }) {
  const c = await RawClient.connect({ host, port });
  try {
    if (chopped) await c.writeChopped(data, 1); else c.write(data);
    const head = await c.readHeadOrEnd(ms);
    let endedAfter = false;
    if (head) {
      try { await c.waitEnd(ms); endedAfter = true; } catch { endedAfter = false; }
    }
    return { head, status: head ? head.status : null, endedAfter };
  } finally {
    c.destroy();
  }
}

/** Deterministic pseudo-random bytes (xorshift), for verifiable large payloads. */
export function patternBytes(n, seed = 1) {
  const b = Buffer.allocUnsafe(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  for (; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

/** A masked binary (by default) frame for a large payload: encodeFrame with the common defaults. */
export function encodeLarge({ opcode = OP.BINARY, payload, fin = true }) {
  return encodeFrame({ opcode, payload, fin });
}
