// ESM side of the packaging checks: `import` epollws by name from a consumer project, check that the
// ESM and CommonJS entry points hand out the same objects, and echo through it with the ws client
// (or the raw client with --client raw). Run from the consumer dir, next to a copy of echo-check.js.
import { createRequire } from 'node:module';
import * as epollws from 'epollws';
import { WebSocketServer, WebSocket as ServerSocket, CLOSED } from 'epollws';

const require = createRequire(import.meta.url);
const { echoCheck } = require('./echo-check.js');
const cjs = require('epollws');
if (WebSocketServer !== cjs.WebSocketServer || ServerSocket !== cjs.WebSocket || CLOSED !== cjs.CLOSED) {
  throw new Error('ESM and CommonJS entry points export different objects (dual package hazard)');
}
const client = process.argv.includes('--client') ? process.argv[process.argv.indexOf('--client') + 1] : 'ws';
const WebSocket = client === 'ws' ? (await import('ws')).WebSocket : undefined;
const timer = setTimeout(() => {
  console.error('esm-check: FAIL: timed out');
  process.exit(1);
}, 120_000);
timer.unref();
await echoCheck(epollws, { client, WebSocket, label: 'import' });
