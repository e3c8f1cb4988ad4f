// Test of record for issue #10 §3: a client that leaves (half-closes, or closes outright) while its
// upgrade is being decided asynchronously never produces 'connection' and never gets a 101, on the
// node:http path ({ server } and handleUpgrade) and on the core's own listener. ws drops such a
// client (websocket-server.js completeUpgrade: `!socket.readable || !socket.writable`).
//
// Ordering without timers: after the client leaves, a probe connection completes a handshake and an
// echo, so the server's loop has seen the leaving client's FIN before the decision is released; a
// second probe after the release lets any accept the decision caused run before the assertions.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { MODES, startTakeover, gate, rawUpgrade, probeEcho, echoAll } from '../helpers/http-takeover.mjs';
import { withTimeout } from '../helpers/timeout.mjs';

let running = [];
afterEach(async () => {
  const list = running;
  running = [];
  await Promise.all(list.map((s) => s.close()));
});

// The two async deciders; only requests for /leave wait for the test.
const DECIDERS = {
  verifyClient: (decision) => ({
    verifyClient: (info, cb) => {
      if (info.req.url !== '/leave') { cb(true); return; }
      decision.arrive();
      decision.opened.then(() => cb(true));
    },
  }),
  'upgrade hook': (decision) => ({
    upgrade: async (request) => {
      if (request.url !== '/leave') return undefined;
      decision.arrive();
      await decision.opened;
      return { action: 'accept' };
    },
  }),
};

const LEAVES = {
  'half-closes': (c) => c.socket.end(),
  'closes': (c) => c.socket.destroy(),
};

for (const mode of MODES) {
  describe(`api: a client leaving during an async upgrade decision (${mode})`, { timeout: 60_000 }, () => {
    for (const [deciderName, decider] of Object.entries(DECIDERS)) {
      for (const [leaveName, leave] of Object.entries(LEAVES)) {
        it(`a client that ${leaveName} during the ${deciderName} never produces 'connection'`, { timeout: 15_000 }, async () => {
          const decision = gate();
          const s = await startTakeover(mode, decider(decision));
          running.push(s);
          echoAll(s.wss);
          const c = await rawUpgrade(s.port, { path: '/leave' });
          const received = [];
          c.socket.on('data', (d) => received.push(d));
          await withTimeout(decision.reached, 5000, `the ${deciderName} to be asked`);
          leave(c);
          await probeEcho(s.port); // the server's loop has now been past the FIN
          decision.open();
          await probeEcho(s.port); // and past whatever the late "yes" set off
          const leaving = s.connections.filter(([, request]) => request.url === '/leave');
          const answer = Buffer.concat(received).toString('latin1');
          assert.equal(leaving.length, 0, `'connection' was emitted for a client that ${leaveName} before the decision`);
          assert.ok(!answer.startsWith('HTTP/1.1 101'), `the client that ${leaveName} got a 101: ${JSON.stringify(answer.slice(0, 80))}`);
          assert.equal(s.connections.length, 2, 'the two probes were served');
          c.destroy();
        });
      }
    }
  });
}
