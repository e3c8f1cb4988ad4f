// Shared glue for test/conformance/*.test.mjs: one server per file, clients destroyed after each test.
import { before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnServer, IS_REFERENCE, SERVER_NAME } from './spawn-server.mjs';
import { RawClient, OP, describeClose } from './raw-ws.mjs';

export { IS_REFERENCE, SERVER_NAME };

/** Registers before/after hooks; the returned object gets host/port/pid once the server is up. */
export function useServer(opts = {}) {
  const srv = { clients: new Set() };
  before(async () => {
    Object.assign(srv, await spawnServer(opts));
  });
  afterEach(() => {
    for (const c of srv.clients) c.destroy();
    srv.clients.clear();
  });
  after(async () => {
    for (const c of srv.clients) c.destroy();
    if (srv.stop) {
      const alive = srv.alive();
      await srv.stop();
      assert.ok(alive, `server process died during the suite; output:\n${srv.output()}`);
    }
  });
  srv.open = async (o = {}) => {
    const c = await RawClient.open({ host: srv.host, port: srv.port, ...o });
    srv.clients.add(c);
    return c;
  };
  srv.connect = async () => {
    const c = await RawClient.connect({ host: srv.host, port: srv.port });
    srv.clients.add(c);
    return c;
  };
  return srv;
}

/**
 * Reads until the server closes and asserts the close code (and that TCP was closed by the server).
 * `dataFrames` (default 0) is how many data frames may arrive before the close.
 */
export async function expectClose(c, code, { ms = 5000, dataFrames = 0, what = '' } = {}) {
  const r = await c.readUntilClose(ms);
  const closes = r.frames.filter((f) => f.opcode === OP.CLOSE);
  const got = closes.length ? describeClose(closes[0].payload) : 'no close frame';
  assert.equal(r.closeCode, code, `${what} expected close ${code}, got ${got}; frames: ${summary(r.frames)}; tcpClosed=${r.tcpClosed}`);
  assert.ok(r.tcpClosed, `${what} server sent close ${code} but did not close TCP within ${ms} ms`);
  const data = r.frames.filter((f) => f.opcode < 8);
  assert.equal(data.length, dataFrames, `${what} expected ${dataFrames} data frames before the close, got ${summary(r.frames)}`);
  return r;
}

export function summary(frames) {
  return '[' + frames.map((f) => `op${f.opcode}${f.fin ? '' : '(nofin)'}:${f.payload.length}B`).join(', ') + ']';
}

export async function echoOnce(c, payload, { binary = false, ms = 5000 } = {}) {
  c.send(payload, { binary });
  const m = await c.nextMessage(ms);
  const want = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  assert.equal(m.opcode, binary ? OP.BINARY : OP.TEXT, 'echo has the wrong opcode');
  assert.equal(m.data.length, want.length, 'echo has the wrong length');
  assert.ok(m.data.equals(want), 'echo payload differs');
  return m;
}

export { sleep } from './timeout.mjs';
