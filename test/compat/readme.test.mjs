// ws drop-in proof: the server examples of ws's README, run on epollws.
//
// Each test/compat/<example>.mjs is the README's code block with one change: the module it
// imports ('ws' -> '../../dist/index.mjs'). The first suite checks that against the README in
// node_modules/ws, line by line. The "External HTTP/S server" example is the README's https one: it
// runs with a throwaway certificate (test/helpers/tls-certs.mjs) and a client that trusts its CA.
//
// The other suites run every example twice, on epollws and on ws itself (the same file with the
// import pointed back at ws), and drive both with the ws client, so every assertion is checked
// against the reference too. To run an example from a test, a copy goes to a temporary directory
// with the port 8080 replaced by 0 (and the heartbeat's 30 s by a short interval), and a few lines
// are appended that print the port, define the README's deliberately undefined authenticate(), and
// close the servers on SIGUSR2. The example code itself is unchanged.
//
// These .mjs files are examples, not tests: they listen on a port when run. Run the suites with
// scripts/run-tests.mjs (which takes *.test.mjs only), not `node --test test/`.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { WebSocketServer as EpollwsServer } from '../../dist/index.mjs';
import { withTimeout, sleep as delay } from '../helpers/timeout.mjs';
import { caCert, certFor } from '../helpers/tls-certs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const require = createRequire(import.meta.url);
const EPOLLWS_IMPORT = "'../../dist/index.mjs'";
const IMPLS = {
  epollws: pathToFileURL(path.join(ROOT, 'dist', 'index.mjs')).href,
  ws: pathToFileURL(path.join(path.dirname(require.resolve('ws/package.json')), 'wrapper.mjs')).href,
};
const HEARTBEAT_MS = 200;
const LOOPBACK = '(127\\.0\\.0\\.1|::ffff:127\\.0\\.0\\.1)';

// name -> [README heading, index of the code block under it]
const EXAMPLES = {
  'simple-server': ['Simple server', 0],
  'external-http-server': ['External HTTP/S server', 0],
  'multiple-servers': ['Multiple servers sharing a single HTTP/S server', 0],
  'client-authentication': ['Client authentication', 0],
  'server-broadcast': ['Server broadcast', 0],
  'server-broadcast-others': ['Server broadcast', 1],
  heartbeat: ['How to detect and close broken connections?', 0],
  'client-ip': ['How to get the IP address of the client?', 0],
};



// ---------------------------------------------------------------------------------------------
// The files are the README's code with only the import changed.

function readmeBlock(readme, heading, index) {
  const start = readme.indexOf(`\n### ${heading}\n`);
  assert.ok(start >= 0, `heading "${heading}" not found in ws's README`);
  const rest = readme.slice(start + heading.length + 6);
  const section = rest.slice(0, rest.search(/\n##+ /));
  const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks[index] !== undefined, `code block ${index} under "${heading}" not found`);
  return blocks[index];
}

/** Lines only in `a` and lines only in `b`, by longest common subsequence. */
function lineDiff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  const lcs = Array.from({ length: x.length + 1 }, () => new Array(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const removed = [];
  const added = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) { i++; j++; }
    else if (j < y.length && (i === x.length || lcs[i][j + 1] >= lcs[i + 1][j])) added.push(y[j++]);
    else removed.push(x[i++]);
  }
  return { removed, added };
}

describe('ws-compat: the examples are ws README code with only the import changed', () => {
  const readmePath = path.join(path.dirname(require.resolve('ws/package.json')), 'README.md');
  const readme = fs.existsSync(readmePath) ? fs.readFileSync(readmePath, 'utf8') : null;

  for (const [name, [heading, index]] of Object.entries(EXAMPLES)) {
    it(`${name}.mjs vs README "${heading}"${index ? ` (block ${index + 1})` : ''}`, (t) => {
      if (!readme) {
        t.skip(`${readmePath} is missing`);
        return;
      }
      const original = readmeBlock(readme, heading, index);
      const ours = fs.readFileSync(path.join(HERE, `${name}.mjs`), 'utf8');
      const { removed, added } = lineDiff(original, ours);
      const importLine = removed.find((line) => / from 'ws';$/.test(line));
      assert.ok(importLine, `the README block imports ws: ${JSON.stringify(removed)}`);
      const expected = {
        removed: [importLine],
        added: [importLine.replace("'ws'", EPOLLWS_IMPORT)],
      };
      assert.deepEqual({ removed, added }, expected);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Running the examples.

const HARNESS = `
// ---- appended by test/compat/readme.test.mjs; not part of the example ----
const __servers = [typeof wss !== 'undefined' && wss, typeof wss1 !== 'undefined' && wss1, typeof wss2 !== 'undefined' && wss2].filter(Boolean);
const __listener = typeof server !== 'undefined' ? server : __servers[0];
__listener.on('listening', () => console.log('HARNESS listening ' + __listener.address().port));
__servers.forEach((s, i) => s.on('connection', (ws, request) => console.log('HARNESS connection ' + i + ' ' + request.url + ' ' + request.socket.remoteAddress)));
__servers.forEach((s, i) => s.on('close', () => console.log('HARNESS close ' + i)));
process.on('SIGUSR2', () => {
  __servers.forEach((s) => s.close());
  if (typeof server !== 'undefined') server.close();
});
// The README leaves authenticate() to the reader: here a user is a ?user= in the URL, and the
// password (?token=) is the name reversed. It answers asynchronously, as a real lookup would.
function authenticate(request, next) {
  const url = new URL(request.url, 'ws://base.url');
  const user = url.searchParams.get('user');
  setTimeout(() => {
    if (user && url.searchParams.get('token') === [...user].reverse().join('')) next(null, user);
    else next(new Error('bad token'));
  }, 20);
}
`;

let tmpDir;
const children = new Set();

/** Copies an example with its test-only adjustments and runs it on `impl`. */
async function runExample(name, impl) {
  tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'epollws-ws-compat-'));
  let code = fs.readFileSync(path.join(HERE, `${name}.mjs`), 'utf8');
  assert.ok(code.includes(EPOLLWS_IMPORT));
  code = code.replace(EPOLLWS_IMPORT, `'${IMPLS[impl]}'`)
    .replace('{ port: 8080 }', '{ port: 0 }')
    .replace('server.listen(8080);', 'server.listen(0);')
    .replace('}, 30000);', `}, ${HEARTBEAT_MS});`)
    .replace("'/path/to/cert.pem'", JSON.stringify(certFor('localhost').certFile))
    .replace("'/path/to/key.pem'", JSON.stringify(certFor('localhost').keyFile));
  assert.ok(!code.includes('8080'), 'every port was replaced');
  const file = path.join(tmpDir, `${name}.${impl}.mjs`);
  fs.writeFileSync(file, code + HARNESS);

  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = once(child, 'exit');
  exited.then(() => children.delete(child));
  const lines = [];
  const waiters = [];
  const onLine = (line) => {
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    output += d;
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    parts.forEach(onLine);
  });
  child.stderr.setEncoding('utf8').on('data', (d) => { output += d; });

  const proc = {
    child,
    lines,
    output: () => output,
    /** The first stdout line (past or future) matching `re`. */
    waitFor(re, ms = 5000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return withTimeout(new Promise((resolve) => waiters.push({ re, resolve })), ms, `${re} from ${name} on ${impl}; output:\n${output}`);
    },
    /** SIGUSR2 closes the servers; the process must then exit by itself. */
    async closeAndExit(ms = 5000) {
      child.kill('SIGUSR2');
      const [codeOrNull] = await withTimeout(exited, ms, `${name} on ${impl} to exit after closing; output:\n${output}`);
      assert.equal(codeOrNull, 0, output);
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  const [, port] = (await Promise.race([
    proc.waitFor(/^HARNESS listening \d+$/),
    exited.then(() => { throw new Error(`${name} on ${impl} exited early:\n${output}`); }),
  ])).split('listening ');
  proc.url = code.includes("from 'https'") ? `wss://127.0.0.1:${port}` : `ws://127.0.0.1:${port}`;
  return proc;
}

/** A ws client that records what it receives. */
function client(url, options) {
  const ws = new WebSocket(url, options);
  ws.received = [];
  ws.on('message', (data, isBinary) => ws.received.push({ data: isBinary ? data : data.toString(), isBinary }));
  ws.opened = withTimeout(once(ws, 'open'), 5000, `open ${url}`);
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  return ws;
}

async function nextMessage(ws, ms = 5000) {
  const count = ws.received.length;
  const [data, isBinary] = await withTimeout(once(ws, 'message'), ms, 'a message');
  return ws.received[count] ?? { data: isBinary ? data : data.toString(), isBinary };
}

async function closeAll(clients) {
  await Promise.all(clients.map((ws) => {
    if (ws.readyState === WebSocket.CLOSED) return undefined;
    ws.close();
    return withTimeout(ws.closed, 5000, 'client close');
  }));
}

/** How an upgrade ended: 'open', the HTTP status of a refusal, or 'error: ...'. */
function upgradeOutcome(url, options) {
  return withTimeout(new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => { resolve('open'); ws.terminate(); });
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.once('error', (error) => resolve(`error: ${error.message}`));
  }), 5000, `the upgrade of ${url}`);
}

after(() => {
  for (const child of children) child.kill('SIGKILL');
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

for (const impl of Object.keys(IMPLS)) {
  describe(`ws README examples on ${impl}`, { timeout: 60_000 }, () => {
    let proc;
    const clients = [];
    const track = (ws) => { clients.push(ws); return ws; };

    after(() => {
      for (const ws of clients) ws.terminate();
      proc?.kill();
    });

    it('Simple server: sends "something" on connection and logs what it receives', async () => {
      proc = await runExample('simple-server', impl);
      const ws = track(client(proc.url));
      const first = nextMessage(ws);
      await ws.opened;
      assert.deepEqual(await first, { data: 'something', isBinary: false });
      ws.send('hello');
      await proc.waitFor(/^received: hello$/);
      await closeAll([ws]);
      await proc.closeAndExit();
    });

    it('External HTTPS server: the same over TLS on an https.Server\'s port', async () => {
      proc = await runExample('external-http-server', impl);
      assert.match(proc.url, /^wss:/);
      const ws = track(client(proc.url, { ca: caCert() }));
      const first = nextMessage(ws);
      await ws.opened;
      assert.deepEqual(await first, { data: 'something', isBinary: false });
      await proc.waitFor(new RegExp(`^HARNESS connection 0 / ${LOOPBACK}$`));
      ws.send('over https');
      await proc.waitFor(/^received: over https$/);
      await closeAll([ws]);
      await proc.closeAndExit();
    });

    it('How to get the IP address of the client: req.socket.remoteAddress in "connection"', async () => {
      proc = await runExample('client-ip', impl);
      const ws = track(client(proc.url, { headers: { 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' } }));
      await ws.opened;
      await proc.waitFor(new RegExp(`^HARNESS connection 0 / ${LOOPBACK}$`));
      await closeAll([ws]);
      await proc.closeAndExit();
    });

    it('Multiple servers sharing a single HTTP server: routed by pathname, others destroyed', async () => {
      proc = await runExample('multiple-servers', impl);
      const foo = track(client(`${proc.url}/foo`));
      const bar = track(client(`${proc.url}/bar?x=1`));
      await Promise.all([foo.opened, bar.opened]);
      // req.socket.remoteAddress (ws's FAQ) in the 'connection' handler, on a shared port too.
      await proc.waitFor(new RegExp(`^HARNESS connection 0 /foo ${LOOPBACK}$`));
      await proc.waitFor(new RegExp(`^HARNESS connection 1 /bar\\?x=1 ${LOOPBACK}$`));
      assert.match(await upgradeOutcome(`${proc.url}/baz`), /^error: /); // socket.destroy()
      assert.equal(proc.lines.filter((l) => l.startsWith('HARNESS connection')).length, 2);
      await closeAll([foo, bar]);
      await proc.closeAndExit();
    });

    it('Client authentication: accepted users reach "connection" with their client, others get 401', async () => {
      proc = await runExample('client-authentication', impl);
      assert.equal(await upgradeOutcome(`${proc.url}/?user=mallory&token=wrong`), 401);
      assert.equal(await upgradeOutcome(`${proc.url}/`), 401);
      const alice = track(client(`${proc.url}/?user=alice&token=ecila`));
      const bob = track(client(`${proc.url}/?user=bob&token=bob`));
      await Promise.all([alice.opened, bob.opened]);
      alice.send('hi');
      bob.send('yo');
      await proc.waitFor(/^Received message hi from user alice$/);
      await proc.waitFor(/^Received message yo from user bob$/);
      await proc.waitFor(new RegExp(`^HARNESS connection 0 /\\?user=alice&token=ecila ${LOOPBACK}$`));
      assert.equal(await upgradeOutcome(`${proc.url}/?user=eve&token=bob`), 401);
      await closeAll([alice, bob]);
      await proc.closeAndExit();
    });

    it('Server broadcast: a message reaches every client, the sender included, text and binary', async () => {
      proc = await runExample('server-broadcast', impl);
      const group = [0, 1, 2].map(() => track(client(proc.url)));
      await Promise.all(group.map((ws) => ws.opened));
      let got = group.map((ws) => nextMessage(ws));
      group[0].send('hello all');
      assert.deepEqual(await Promise.all(got), group.map(() => ({ data: 'hello all', isBinary: false })));
      got = group.map((ws) => nextMessage(ws));
      group[2].send(Buffer.from([1, 2, 3]));
      assert.deepEqual(await Promise.all(got), group.map(() => ({ data: Buffer.from([1, 2, 3]), isBinary: true })));
      // A client that left is no longer in wss.clients: the rest still get everything.
      await closeAll([group[1]]);
      got = [group[0], group[2]].map((ws) => nextMessage(ws));
      group[0].send('after one left');
      assert.deepEqual((await Promise.all(got)).map((m) => m.data), ['after one left', 'after one left']);
      await closeAll(group);
      await proc.closeAndExit();
    });

    it('Server broadcast (excluding the sender): everyone else gets it, the sender does not', async () => {
      proc = await runExample('server-broadcast-others', impl);
      const [a, b, c] = [0, 1, 2].map(() => track(client(proc.url)));
      await Promise.all([a, b, c].map((ws) => ws.opened));
      const got = [b, c].map((ws) => nextMessage(ws));
      a.send('from a');
      assert.deepEqual((await Promise.all(got)).map((m) => m.data), ['from a', 'from a']);
      // Per-connection order: had a received its own message, it would come before this one.
      const marker = nextMessage(a);
      c.send('marker');
      assert.deepEqual((await marker).data, 'marker');
      assert.deepEqual(a.received.map((m) => m.data), ['marker']);
      await closeAll([a, b, c]);
      await proc.closeAndExit();
    });

    it('Heartbeat: terminates a client that stops answering pings, keeps the others', async () => {
      proc = await runExample('heartbeat', impl);
      const silent = track(client(proc.url, { autoPong: false }));
      const alive = track(client(proc.url));
      let pings = 0;
      alive.on('ping', () => { pings++; });
      await Promise.all([silent.opened, alive.opened]);
      // Pinged at the first tick, found dead at the second: gone within about two intervals.
      const { code } = await withTimeout(silent.closed, 10 * HEARTBEAT_MS + 2000, 'the silent client to be terminated');
      assert.equal(code, 1006);
      await delay(3 * HEARTBEAT_MS);
      assert.equal(alive.readyState, WebSocket.OPEN);
      assert.ok(pings >= 3, `the live client was pinged ${pings} times`);

      // wss.on('close', clearInterval) lets the process end once the server is closed.
      proc.child.kill('SIGUSR2');
      if (impl === 'epollws') {
        // epollws's close() closes open connections with 1001 (ws 8 leaves them open).
        const closed = await withTimeout(alive.closed, 5000, 'close 1001');
        assert.equal(closed.code, 1001);
      } else {
        await delay(3 * HEARTBEAT_MS);
        assert.equal(alive.readyState, WebSocket.OPEN, 'ws leaves the connection open');
        await closeAll([alive]);
      }
      await proc.waitFor(/^HARNESS close 0$/);
      const [exitCode] = await withTimeout(once(proc.child, 'exit'), 5000, `exit; output:\n${proc.output()}`);
      assert.equal(exitCode, 0);
    });
  });
}

describe('ws-compat: the documented differences', () => {
  it("the default export's OPEN is WebSocket.OPEN, as the broadcast example relies on", async () => {
    const epollws = await import('../../dist/index.mjs');
    assert.equal(epollws.default.OPEN, epollws.WebSocket.OPEN);
    assert.equal(epollws.default.OPEN, WebSocket.OPEN);
  });
});
