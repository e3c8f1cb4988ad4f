// Out of file descriptors: a server under `ulimit -n 64` gets far more connections than it has
// fds. It must not spin on the readable listener (its CPU time over 2 s stays low), must keep
// serving the connections it has, must say so once (not once per refused connection), and must
// accept again once fds are free.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { RawClient } from '../helpers/raw-ws.mjs';
import { sleep } from '../helpers/timeout.mjs';
import { startServer, cpuTicks, fdCount, ROOT } from '../helpers/proc.mjs';

const FD_LIMIT = 64;
const ATTEMPTS = 100;

const servers = new Set();
const sockets = new Set();
after(async () => {
  for (const s of sockets) s.destroy();
  for (const srv of servers) await srv.stop('SIGKILL');
});

/** Tries a full handshake; resolves with the open RawClient or null when refused / dropped. */
async function tryOpen(port) {
  try {
    const c = await RawClient.open({ port, timeoutMs: 3000 });
    sockets.add(c.socket);
    return c;
  } catch {
    return null;
  }
}

async function echo(c, text) {
  c.send(text);
  const m = await c.nextMessage(3000);
  return m.data.toString();
}

async function exercise(srv, t) {
  // 100 connections, 10 at a time, against ~40 free fds.
  const open = [];
  let refused = 0;
  for (let i = 0; i < ATTEMPTS; i += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, () => tryOpen(srv.port)));
    for (const c of batch) if (c) open.push(c); else refused++;
  }
  // Some more left pending in the backlog while we measure (plain TCP, never accepted for good).
  const pending = [];
  for (let i = 0; i < 20; i++) {
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    s.on('error', () => {});
    sockets.add(s);
    pending.push(s);
  }
  t.diagnostic(`opened ${open.length} of ${ATTEMPTS}, refused ${refused}; server fds ${fdCount(srv.pid)} (limit ${FD_LIMIT})`);
  assert.ok(open.length > 10, `only ${open.length} connections opened`);
  assert.ok(refused > 0, 'the fd limit was never reached');
  assert.ok(srv.alive(), `server exited: ${srv.stderr()}`);

  // No spin: CPU time of the server over 2 s while out of fds.
  const c0 = cpuTicks(srv.pid);
  const start = Date.now();
  // Meanwhile the open connections keep echoing.
  let echoed = 0;
  while (Date.now() - start < 2000) {
    const c = open[echoed % open.length];
    assert.equal(await echo(c, `still ${echoed}`), `still ${echoed}`);
    echoed++;
    await sleep(20);
  }
  const ticks = cpuTicks(srv.pid) - c0;
  const elapsed = Date.now() - start;
  t.diagnostic(`server CPU over ${elapsed} ms out of fds: ${ticks * 10} ms (${echoed} echoes meanwhile)`);
  assert.ok(ticks * 10 < elapsed * 0.3, `server used ${ticks * 10} ms of CPU in ${elapsed} ms: spinning?`);

  // Said once.
  // Reported on stdout by the soak server script (Node also prints its warning on stderr), on
  // stderr alone by examples/echo-server.js: count the stdout reports, else the stderr ones.
  const isReport = (l) => /EMFILE|ENFILE|too many open files/i.test(l);
  const said = srv.lines.some(isReport) ? srv.lines : srv.stderr().split('\n').filter((l) => !l.startsWith('(Use `node'));
  const told = said.filter(isReport);
  t.diagnostic(`server said: ${JSON.stringify(told)}`);
  assert.equal(told.length, 1, `expected one EMFILE report, got:\n${said.join('\n')}`);

  // Free fds; it accepts again and a new client echoes.
  for (const s of pending) s.destroy();
  for (const c of open.splice(0, 15)) c.destroy();
  await sleep(300);
  let fresh = null;
  for (let i = 0; i < 20 && !fresh; i++) {
    fresh = await tryOpen(srv.port);
    if (!fresh) await sleep(100);
  }
  assert.ok(fresh, 'no new connection accepted after fds were freed');
  assert.equal(await echo(fresh, 'fresh'), 'fresh');
  for (const c of open.slice(0, 5)) assert.equal(await echo(c, 'old'), 'old');
  for (const c of open) c.destroy();
  fresh.destroy();
}

describe(`EMFILE (ulimit -n ${FD_LIMIT})`, () => {
  it('scripts/soak/server.mjs (no error listener): warns once, no spin, keeps serving, recovers', async (t) => {
    const srv = await startServer({ fdLimit: FD_LIMIT, maxSeconds: 60 });
    servers.add(srv);
    await exercise(srv, t);
    assert.ok(srv.alive());
  });

  it("with an 'error' listener that keeps running: one 'error' event, no spin, recovers", async (t) => {
    const srv = await startServer({ fdLimit: FD_LIMIT, errorListener: true, maxSeconds: 60 });
    servers.add(srv);
    await exercise(srv, t);
    assert.ok(srv.alive());
  });

  // The example echo server treats accept failures as transient (only a failed listen is fatal).
  it('examples/echo-server.js survives running out of fds', async (t) => {
    const srv = await startServer({ fdLimit: FD_LIMIT, script: path.join(ROOT, 'examples', 'echo-server.js'),
      scriptArgs: ['--port', '0', '--host', '127.0.0.1'] });
    servers.add(srv);
    await exercise(srv, t);
  });
});
