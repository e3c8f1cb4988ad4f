// Tests of record for issue #10 §2: output queued for clients that do not read is bounded in memory.
// (a) A request/response client that pushes 100 MiB of echo requests at the example echo server and
//     never reads: the server stops reading it once its queue is over maxBackpressure, so the server
//     grows by at most maxBackpressure + 1 MiB, the connection survives, and once the client reads it
//     gets every echo, intact and in order.
// (b) maxTotalBackpressure: 1,000 clients that never read, 100 of them sent far more than the kernel
//     takes (the rest less). The sum of queued output stays within the bound plus one round of
//     sends, the server's memory with it, and the policy reaches the sockets holding the most.
// Loopback only; about 2,000 fds in all (the limit here is 20,000).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { RawClient, OP, encodeFrame, patternBytes } from '../helpers/raw-ws.mjs';
import { startServer, ROOT } from '../helpers/proc.mjs';
import { withTimeout, sleep } from '../helpers/timeout.mjs';

const MiB = 1024 * 1024;
const KiB = 1024;

/** Server RSS in KiB after a GC and the addon's trailing trim (test/helpers/memory-probe.cjs). */
async function settledRssKiB(srv) {
  const from = srv.lines.length;
  process.kill(srv.pid, 'SIGUSR2');
  const m = await srv.waitLine(/^memory (\{.*\})$/, 10_000, from);
  const memory = JSON.parse(m[1]);
  assert.ok(memory.gc, 'the server runs with --expose-gc');
  return memory.rssKiB;
}

/**
 * Waits until the client's socket stops handing bytes to the kernel: the server has read all it is
 * going to read for now (or everything was sent). The bound on the measurement, not an assertion.
 */
async function whenWritesStall(socket, total) {
  // bytesWritten counts what is still in the socket's own buffer too.
  const sent = () => socket.bytesWritten - socket.writableLength;
  let last = -1;
  let still = 0;
  while (still < 5 && sent() < total && !socket.destroyed) {
    still = sent() === last ? still + 1 : 0;
    last = sent();
    await sleep(200);
  }
}

describe('system: a request/response client that never reads (maxBackpressure 8 MiB)', { timeout: 240_000 }, () => {
  const MAX_BACKPRESSURE = 8 * MiB;
  const MESSAGE = 64 * KiB;
  const COUNT = (100 * MiB) / MESSAGE; // 1,600 messages, 100 MiB
  let srv;
  after(() => srv?.stop('SIGKILL'));

  it('the server grows by at most maxBackpressure + 1 MiB, keeps the connection, then echoes all in order', { timeout: 200_000 }, async () => {
    srv = await startServer({
      script: path.join(ROOT, 'examples', 'echo-server.js'),
      scriptArgs: ['--port', '0', '--host', '127.0.0.1', '--max-backpressure', String(MAX_BACKPRESSURE)],
      nodeArgs: ['--expose-gc', '--require', path.join(ROOT, 'test', 'helpers', 'memory-probe.cjs')],
    });
    const c = await RawClient.open({ port: srv.port });
    // Warm the path (first message, first batch) before the baseline.
    c.write(encodeFrame({ opcode: OP.BINARY, payload: Buffer.from('warm-up') }));
    assert.equal((await c.nextMessage(5000)).data.toString(), 'warm-up');
    const before = await settledRssKiB(srv);

    // From here the client reads nothing: node stops reading its socket once 16 KiB are buffered.
    c.socket.pause();
    const frames = [];
    for (let i = 0; i < COUNT; i++) frames.push(encodeFrame({ opcode: OP.BINARY, payload: patternBytes(MESSAGE, i + 1) }));
    const total = frames.reduce((n, f) => n + f.length, 0);
    for (const f of frames) c.socket.write(f);
    frames.length = 0;
    await whenWritesStall(c.socket, total);
    const during = await settledRssKiB(srv);
    const grewMiB = (during - before) / 1024;
    assert.ok(!c.ended, 'the connection is still open while the client does not read');
    assert.ok(grewMiB <= (MAX_BACKPRESSURE + MiB) / MiB,
      `the server grew by ${grewMiB.toFixed(1)} MiB with ${((c.socket.bytesWritten - c.socket.writableLength) / MiB).toFixed(1)} MiB handed to the kernel; ` +
      `the bound is maxBackpressure + 1 MiB = ${(MAX_BACKPRESSURE + MiB) / MiB} MiB`);

    // Now read: every echo, intact and in order, and the connection still open after the last.
    c.socket.resume();
    for (let i = 0; i < COUNT; i++) {
      const m = await c.nextMessage(60_000);
      assert.equal(m.opcode, OP.BINARY);
      if (!m.data.equals(patternBytes(MESSAGE, i + 1))) assert.fail(`echo ${i} of ${COUNT} differs (${m.data.length} bytes)`);
    }
    assert.ok(!c.ended, 'the connection survived');
    c.write(encodeFrame({ opcode: OP.TEXT, payload: 'still here' }));
    assert.equal((await c.nextMessage(10_000)).data.toString(), 'still here');
    c.destroy();
  });
});

/** Opens `n` raw clients that complete the handshake and then never read. */
async function openNonReaders(port, n) {
  const clients = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => RawClient.open({ port, timeoutMs: 20_000 })));
    for (const c of batch) c.socket.pause();
    clients.push(...batch);
  }
  return clients;
}

function request(child, message, type, ms) {
  const reply = new Promise((resolve) => {
    const on = (m) => { if (m.type === type) { child.off('message', on); resolve(m); } };
    child.on('message', on);
  });
  child.send(message);
  return withTimeout(reply, ms, `'${type}' from the server`);
}

for (const policy of ['close', 'drop']) {
  describe(`system: maxTotalBackpressure 64 MiB, 1,000 clients that never read (policy '${policy}')`, { timeout: 300_000 }, () => {
    const BOUND = 64 * MiB;
    const CLIENTS = 1000;
    const HEAVY = 100;
    const SIZE = 16 * KiB;
    let child;
    let clients = [];
    after(async () => {
      for (const c of clients) c.destroy();
      child?.kill('SIGKILL');
    });

    it('queued output stays within the bound plus one round; the sockets holding the most get the policy', { timeout: 240_000 }, async () => {
      child = fork(path.join(ROOT, 'test', 'helpers', 'fanout-server.mjs'),
        [JSON.stringify({ maxTotalBackpressure: BOUND, backpressurePolicy: policy })],
        { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const [listening] = await withTimeout(once(child, 'message'), 10_000, 'the server to listen');
      clients = await openNonReaders(listening.port, CLIENTS);
      assert.equal((await request(child, { cmd: 'count' }, 'count', 10_000)).clients, CLIENTS);
      const baseline = (await request(child, { cmd: 'push', targets: 'heavy', heavy: HEAVY, rounds: 0, size: SIZE }, 'pushed', 10_000)).rssKiB;

      // On loopback the kernel takes about 3-4 MiB per connection that does not read (the autotuned
      // send buffer) before anything queues in the server. So all 1,000 get 256 KiB (taken by the
      // kernel: no queue), then the first 100 get 8 MiB each, 64 KiB per round: about 400 MiB would
      // queue in the server without the bound. Kernel socket memory stays near 650 MiB, under
      // tcp_mem's pressure line, so other processes' TCP is not disturbed.
      const light = await request(child, { cmd: 'push', targets: 'all', heavy: HEAVY, rounds: 16, size: SIZE }, 'pushed', 60_000);
      const heavy = await request(child, { cmd: 'push', targets: 'heavy', heavy: HEAVY, rounds: 128, size: 64 * KiB }, 'pushed', 180_000);
      const maxQueued = Math.max(light.maxQueued, heavy.maxQueued);
      const limit = BOUND + Math.max(light.roundBytes, heavy.roundBytes);
      assert.ok(maxQueued <= limit,
        `queued output reached ${(maxQueued / MiB).toFixed(1)} MiB; bound ${BOUND / MiB} MiB + one round ${(heavy.roundBytes / MiB).toFixed(1)} MiB`);
      assert.equal(light.hits, 0, 'nothing queued in the server while the kernel took it all');
      assert.ok(heavy.hits > 0, 'the policy reached some sockets');
      assert.ok(heavy.firstPolicyHit.every((h) => h.heavy),
        `the first sockets the policy reached hold the most (indices < ${HEAVY}): ${JSON.stringify(heavy.firstPolicyHit.slice(0, 10))}`);
      assert.ok(heavy.heavyHits === heavy.hits, `only sockets holding queued output were reached (${heavy.hits - heavy.heavyHits} light ones were)`);
      // Memory follows the queue: peak RSS over the baseline is within the bound, one round and
      // 32 MiB for the JS heap and the per-turn buffers.
      const grewMiB = (heavy.hwmKiB - baseline) / 1024;
      assert.ok(grewMiB <= (limit + 32 * MiB) / MiB,
        `the server's peak RSS grew by ${grewMiB.toFixed(1)} MiB over ${(baseline / 1024).toFixed(1)} MiB`);
    });
  });
}
