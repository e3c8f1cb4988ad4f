// The soak's hostile behaviours against the server's TLS port (client.mjs runs them next to the
// plain ones). Each connection is a real node:tls client whose encrypted bytes go through a
// pipe this file controls before they reach the TCP socket, so a behaviour can stop the handshake
// after the ClientHello, cut a record in the middle and then reset or FIN, or write raw bytes
// outside any record after a complete handshake. Every behaviour returns a short outcome name;
// 'timeout' / 'gave-up' mean the server kept a connection it should have closed.
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';

/**
 * behaviours({ host, port, ca, live, rand, request, frame, closedWithin, writeUntilDropped }):
 * the plain client's helpers (request head, frame encoder, waits) are reused over the TLS stream.
 */
export function tlsBehaviours({ host, port, ca, live, rand, request, frame, closedWithin, writeUntilDropped }) {
  /**
   * A TCP connection with a node:tls client on top. `tap(chunk, conn)` sees each encrypted chunk
   * the client writes and returns what goes to TCP (the chunk, a part of it, or null for nothing);
   * once `conn.held`, nothing more goes either way. Resolves { raw, sec, conn } once TCP connects.
   */
  function connectTls(tap = (chunk) => chunk) {
    return new Promise((resolve) => {
      const raw = net.connect({ host, port });
      live.add(raw);
      raw.on('error', () => {});
      raw.on('close', () => live.delete(raw));
      const t = setTimeout(() => { raw.destroy(); resolve(null); }, 5000);
      raw.once('close', () => { clearTimeout(t); resolve(null); });
      raw.once('connect', () => {
        clearTimeout(t);
        const conn = { held: false, tap, raw };
        const pipe = new Duplex({
          read() {},
          write(chunk, _encoding, callback) {
            const out = conn.held ? null : conn.tap(chunk, conn);
            // The callback waits for TCP to take the bytes, so a client that writes a lot sees backpressure.
            if (out && out.length && !raw.destroyed) raw.write(out, () => callback());
            else callback();
          },
        });
        pipe.on('error', () => {});
        raw.on('data', (d) => { if (!conn.held) pipe.push(d); });
        raw.once('end', () => pipe.push(null));
        raw.once('close', () => pipe.destroy());
        const sec = tls.connect({ socket: pipe, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
        sec.on('error', () => {});
        raw.once('close', () => sec.destroy());
        resolve({ raw, sec, conn });
      });
    });
  }
  /** Resolves true once the TLS handshake completed, false on failure or after 5 s. */
  function secured(sec) {
    return new Promise((resolve) => {
      const done = (v) => { clearTimeout(t); sec.off('secureConnect', ok); sec.off('close', fail); resolve(v); };
      const ok = () => done(true);
      const fail = () => done(false);
      const t = setTimeout(fail, 5000);
      sec.once('secureConnect', ok);
      sec.once('close', fail);
    });
  }
  /** A completed TLS handshake and, with upgrade, a completed WebSocket handshake over it. */
  async function session({ upgrade, tap } = {}) {
    const c = await connectTls(tap);
    if (!c) return null;
    if (!(await secured(c.sec))) { c.raw.destroy(); return null; }
    if (upgrade) {
      c.sec.write(request());
      const ok = await new Promise((resolve) => {
        let head = '';
        const t = setTimeout(() => done(false), 5000);
        const onData = (d) => { head += d.toString('latin1'); if (head.includes('\r\n\r\n')) done(head.startsWith('HTTP/1.1 101')); };
        const done = (v) => { clearTimeout(t); c.sec.off('data', onData); c.sec.off('close', onClose); resolve(v); };
        const onClose = () => done(false);
        c.sec.on('data', onData);
        c.sec.once('close', onClose);
      });
      if (!ok) { c.raw.destroy(); return null; }
    }
    return c;
  }
  /** The next encrypted chunk the client writes goes out cut short, then `then(raw)` runs. */
  function cutNext(c, then) {
    c.conn.tap = cut(then);
  }
  /** A tap that lets a random prefix of the chunk out, holds everything after it, then runs `then(raw)`. */
  function cut(then) {
    return (chunk, conn) => {
      conn.held = true;
      conn.raw.write(chunk.subarray(0, 1 + rand(Math.max(1, chunk.length - 1))), () => then(conn.raw));
      return null;
    };
  }
  /** Cuts a record short, at a random stage: the ClientHello, the first record after the handshake, or a frame's record. */
  async function cutRecord(then) {
    const stage = ['hello', 'secured', 'frame'][rand(3)];
    if (stage === 'hello') {
      const c = await connectTls(cut(then));
      return c ? { c, stage } : null;
    }
    const c = await session({ upgrade: stage === 'frame' });
    if (!c) return null;
    c.raw.resume();
    cutNext(c, then);
    c.sec.write(stage === 'frame' ? frame(2, crypto.randomBytes(1000 + rand(40_000))) : request());
    return { c, stage };
  }

  return {
    /** A complete (or partial) ClientHello, then nothing: the handshake timeout must close it. */
    async tlsHelloStall() {
      const whole = rand(2) === 0;
      const c = await connectTls((chunk, conn) => {
        conn.held = true;
        return whole ? chunk : chunk.subarray(0, 1 + rand(chunk.length - 1));
      });
      if (!c) return 'no-connect';
      c.raw.resume();
      return (await closedWithin(c.raw, 8000)) ? 'dropped' : (c.raw.destroy(), 'timeout');
    },
    /** After a complete handshake: bytes outside any record, a forged record, or encrypted non-HTTP. */
    async tlsGarbage() {
      const c = await session(); if (!c) return 'no-handshake';
      c.raw.resume();
      const kind = rand(3);
      const junk = crypto.randomBytes(1 + rand(4096));
      if (kind === 0) c.raw.write(junk);
      else if (kind === 1) c.raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, junk.length >> 8, junk.length & 0xff]), junk]));
      else c.sec.write(junk);
      return (await closedWithin(c.raw, 4000)) ? 'closed' : (c.raw.destroy(), 'timeout');
    },
    /** TCP reset in the middle of a record. */
    async tlsRstMidRecord() {
      const r = await cutRecord((raw) => raw.resetAndDestroy());
      if (!r) return 'no-handshake';
      await closedWithin(r.c.raw, 3000);
      r.c.raw.destroy();
      return `reset-${r.stage}`;
    },
    /** A record cut short, then FIN: the server must close its side too. */
    async tlsTruncatedFin() {
      const r = await cutRecord((raw) => raw.end());
      if (!r) return 'no-handshake';
      r.c.raw.resume();
      return (await closedWithin(r.c.raw, 8000)) ? `closed-${r.stage}` : (r.c.raw.destroy(), `timeout-${r.stage}`);
    },
    /** A plaintext WebSocket upgrade sent to the TLS port. */
    async tlsPlaintext() {
      const s = net.connect({ host, port });
      live.add(s);
      s.on('error', () => {});
      s.on('close', () => live.delete(s));
      let first = null;
      s.on('data', (d) => { first ??= d[0]; });
      const connected = await new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), 5000);
        s.once('connect', () => { clearTimeout(t); resolve(true); });
        s.once('close', () => { clearTimeout(t); resolve(false); });
      });
      if (!connected) { s.destroy(); return 'no-connect'; }
      s.write(request());
      const closed = await closedWithin(s, 8000);
      s.destroy();
      if (!closed) return 'timeout';
      return first === null ? 'closed' : first === 0x15 ? 'closed-alert' : first === 0x48 ? 'closed-http' : 'closed-other';
    },
    /** Writes frames over TLS and never reads the echoes: maxBackpressure must drop it. */
    async tlsNeverReads() {
      const c = await session({ upgrade: true }); if (!c) return 'no-handshake';
      c.raw.pause();
      return writeUntilDropped(c.sec, frame(2, crypto.randomBytes(64 * 1024)), 1000 + rand(2000), 2)
        .finally(() => c.raw.destroy());
    },
    /** A short valid session over TLS: one message and a close handshake. */
    async tlsShortValid() {
      const c = await session({ upgrade: true }); if (!c) return 'no-handshake';
      c.sec.resume();
      c.sec.write(frame(1, 'hello'));
      c.sec.write(frame(8, Buffer.from([0x03, 0xe8])));
      return (await closedWithin(c.raw, 3000)) ? 'closed' : (c.raw.destroy(), 'timeout');
    },
  };
}
