// What keeps the process alive, as with ws (and net.Server): a listening server or an open
// connection does; a server with neither ({ noServer }, or closed) does not. Each case runs in a
// child that must exit by itself (the parent bounds it, so a hang fails instead of blocking).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runChild(source, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', source], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

describe('process lifetime', () => {
  it('a { noServer } server that was never used lets the process exit', async () => {
    const run = await runChild(`
      const { WebSocketServer } = require('.');
      new WebSocketServer({ noServer: true });
      console.log('made');`);
    assert.equal(run.signal, null, `the child had to be killed: it kept running\n${run.output}`);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /made/);
  });

  it('a { noServer } server holding a connection keeps the process alive until the connection ends', async () => {
    // The child adopts one connection through handleUpgrade and closes its http server at once, so
    // only the WebSocket connection can hold its loop; the client (here, in the parent) ends the
    // connection 300 ms later.
    const child = spawn(process.execPath, ['-e', `
      const http = require('node:http');
      const { WebSocketServer } = require('.');
      const wss = new WebSocketServer({ noServer: true });
      const server = http.createServer();
      server.on('upgrade', (request, socket, head) => {
        wss.handleUpgrade(request, socket, head, (ws) => {
          server.close();
          ws.on('close', () => console.log('closed'));
          ws.send('hello');
        });
      });
      server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));`], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    let output = '';
    const port = await new Promise((resolve) => {
      child.stdout.on('data', (chunk) => {
        output += chunk;
        const found = /port (\d+)/.exec(output);
        if (found) resolve(Number(found[1]));
      });
    });
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const [message] = await once(client, 'message');
    assert.equal(String(message), 'hello');
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.close(1000);
    const [code, signal] = await once(child, 'exit');
    clearTimeout(killer);
    assert.equal(signal, null, `the child had to be killed\n${output}`);
    assert.equal(code, 0, output);
    assert.match(output, /closed/, 'the process lived until the connection ended');
  });

  it('a listening server keeps the process alive; close() lets it exit', async () => {
    const run = await runChild(`
      const { WebSocketServer } = require('.');
      const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => {
        console.log('listening');
        setTimeout(() => { console.log('closing'); wss.close(); }, 200).unref();
      });`);
    assert.equal(run.signal, null, `the child had to be killed\n${run.output}`);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /listening\nclosing/);
  });
});
