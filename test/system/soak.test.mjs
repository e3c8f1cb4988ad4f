// A shortened chaos soak (scripts/soak/run.mjs, 12 s, 300 clients in 2 processes) as part of npm test:
// hostile clients of every kind next to well-behaved ones that verify every echo byte, on the ws://
// port and (a quarter of them) on the wss:// port of a second server with the `tls` option in the
// same process; afterwards the server's fds are exactly back to the baseline, every connection
// either server opened has closed, nothing well-behaved was lost or corrupted, and both ports
// still echo. The full run is `npm run soak` (120 s, 2000 clients).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { ROOT } from '../helpers/proc.mjs';

it('survives a short chaos soak with no lost echo and no leaked fd', { timeout: 120_000 }, async (t) => {
  // RSS is reported, not asserted: after the chaos glibc keeps freed native buffers mapped (measured
  // +66 MiB over a 48 MiB baseline after a full GC and the trailing trim, from fragmentation, not
  // leaks; see docs/SCALE.md). What a leak would hold is asserted instead: external memory (every
  // message Buffer, every native allocation V8 is told of) after a full GC.
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'soak', 'run.mjs'), '--seconds', '12', '--clients', '300',
    '--workers', '2', '--json', '--rss-slack-mib', 'none'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  const [code] = await once(child, 'exit');
  clearTimeout(killer);
  const line = out.trim().split('\n').pop();
  let r;
  try { r = JSON.parse(line); } catch { assert.fail(`no JSON summary (exit ${code}):\n${out}\n${err}`); }
  const s = r.server;
  t.diagnostic(`fds ${s.fds.baseline} -> peak ${s.fds.peak} -> ${s.fds.after}; RSS ${s.rssMiB.baseline} -> peak ${s.rssMiB.peak} -> ${s.rssMiB.after} MiB; ` +
    `${r.good.verified}/${r.good.sent} echoes verified (wss ${r.goodTls.verified}/${r.goodTls.sent}); ` +
    `server saw ${s.connections?.opened} connections (TLS ${s.tlsConnections?.opened})`);
  for (const [name, outcomes] of Object.entries(r.chaos)) if (name.startsWith('tls')) t.diagnostic(`${name} ${JSON.stringify(outcomes)}`);
  assert.deepEqual(r.violations, []);
  assert.equal(code, 0);
  assert.equal(s.fds.after, s.fds.baseline);
  assert.equal(r.good.verified, r.good.sent);
  assert.ok(r.good.sent > 100, `only ${r.good.sent} well-behaved messages`);
  assert.ok(s.connections.opened > 300, `only ${s.connections.opened} connections reached the server`);
  assert.equal(s.connections.opened, s.connections.closed);
  assert.equal(r.goodTls.verified, r.goodTls.sent);
  assert.ok(r.goodTls.sent > 20, `only ${r.goodTls.sent} well-behaved wss messages`);
  assert.ok(s.tlsConnections.opened > 20, `only ${s.tlsConnections.opened} connections reached the TLS server`);
  assert.equal(s.tlsConnections.opened, s.tlsConnections.closed);
  for (const name of ['rstMidFrame', 'finMidHandshake', 'garbage', 'oversize', 'pingFlood', 'neverReads', 'slowloris', 'badFrames',
    'tlsHelloStall', 'tlsGarbage', 'tlsRstMidRecord', 'tlsTruncatedFin', 'tlsPlaintext', 'tlsNeverReads']) {
    assert.ok(r.chaos[name], `behaviour ${name} never ran`);
  }
  assert.ok(r.finalEcho);
  assert.ok(r.finalEchoTls);
  // 300 idle clients' worth of nothing: every connection has closed, so what stays external after
  // a full GC is the addon's fixed buffers (2.3 MiB measured); 8 MiB leaves room for V8's own.
  const external = s.serverMemoryMiB?.afterGc?.external;
  assert.ok(external !== undefined, 'the server reported its memory after a full GC');
  assert.ok(external <= 8, `external memory after a full GC is ${external} MiB (a leak of message Buffers or native memory)`);
});
