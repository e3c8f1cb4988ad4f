// A throwing listener: the error reaches 'uncaughtException', and the other events of the same
// batch are still delivered. Runs in a child process, which owns its uncaughtException handler.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '../helpers/api-harness.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const children = new Set();

// The client writes several frames in ONE write, so that the server reads them in one turn
// (one batch); the listener throws on 'boom'.
const script = `
import { WebSocketServer } from './dist/index.mjs';
import { encodeFrame, OP } from './test/helpers/raw-ws.mjs';
import WebSocket from 'ws';

const uncaught = [];
process.on('uncaughtException', (e) => uncaught.push(e.message));
const received = [];
const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
server.on('connection', (socket) => {
  socket.on('message', (data) => {
    const text = data.toString();
    received.push(text);
    if (text.startsWith('boom')) throw new Error('listener threw on ' + text);
    if (text === 'after') socket.send('ack after');
  });
});
server.on('listening', () => {
  const ws = new WebSocket('ws://127.0.0.1:' + server.address().port + '/');
  ws.on('open', () => {
    const frames = ['a', 'boom1', 'b', 'boom2', 'c'].map((t) => encodeFrame({ opcode: OP.TEXT, payload: t }));
    ws._socket.write(Buffer.concat(frames));
    setTimeout(() => ws.send('after'), 200);
  });
  ws.on('message', (m) => {
    const report = { received, uncaught, reply: m.toString() };
    ws.terminate();
    server.close(() => {
      console.log('REPORT ' + JSON.stringify(report));
    });
  });
});
setTimeout(() => { console.log('REPORT ' + JSON.stringify({ timeout: true, received, uncaught })); process.exit(3); }, 8000).unref();
`;

function runChild() {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal, out, err }); });
  });
}

describe('api: throwing listeners', { timeout: 30_000 }, () => {
  after(() => { for (const c of children) c.kill('SIGKILL'); });

  it("a throwing 'message' listener raises uncaughtException; the rest of the batch is delivered", { timeout: 20_000 }, async () => {
    const r = await withTimeout(runChild(), 15_000, 'the child process');
    const line = r.out.split('\n').find((l) => l.startsWith('REPORT '));
    assert.ok(line, `no report from the child (exit ${r.code} ${r.signal}); stderr:\n${r.err}`);
    const report = JSON.parse(line.slice(7));
    assert.equal(report.timeout, undefined, `the child timed out: ${line}`);
    assert.deepEqual(report.received, ['a', 'boom1', 'b', 'boom2', 'c', 'after'], 'every message was delivered, in order');
    assert.ok(report.uncaught.length >= 1, 'no uncaughtException');
    assert.equal(report.uncaught[0], 'listener threw on boom1');
    for (const m of report.uncaught) assert.match(m, /^listener threw on boom[12]$/);
    assert.equal(report.reply, 'ack after', 'the connection kept working after the throw');
    assert.equal(r.code, 0, `child exit code ${r.code}; stderr:\n${r.err}`);
  });
});
