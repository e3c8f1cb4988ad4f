// The package entry points: the same classes from `import` and from `require`, and ws's constants.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from '../../dist/index.mjs';
import { WebSocketServer, WebSocket } from '../../dist/index.mjs';

const require = createRequire(import.meta.url);

describe('api: exports', { timeout: 10_000 }, () => {
  it('ESM entry exports WebSocketServer and WebSocket classes', { timeout: 5000 }, () => {
    assert.equal(typeof WebSocketServer, 'function');
    assert.equal(typeof WebSocket, 'function');
    assert.equal(typeof esm.WebSocketError, 'function');
    assert.equal(typeof esm.SystemError, 'function');
    assert.equal(esm.default.WebSocketServer, WebSocketServer);
  });

  it('CommonJS entry exports the very same classes (one addon instance)', { timeout: 5000 }, () => {
    const cjs = require('../../dist/index.js');
    assert.equal(cjs.WebSocketServer, WebSocketServer);
    assert.equal(cjs.WebSocket, WebSocket);
    assert.equal(cjs.WebSocketError, esm.WebSocketError);
  });

  it('the package name resolves to both entry points through "exports"', { timeout: 5000 }, async () => {
    // Self-reference by package name goes through package.json "exports".
    const viaRequire = require('epollws');
    const viaImport = await import('epollws');
    assert.equal(viaRequire.WebSocketServer, WebSocketServer);
    assert.equal(viaImport.WebSocketServer, WebSocketServer);
    assert.equal(viaImport.WebSocket, WebSocket);
  });

  it('ready-state constants are 0..3, static, on instances, and as named exports', { timeout: 5000 }, () => {
    const expected = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };
    for (const [name, value] of Object.entries(expected)) {
      assert.equal(WebSocket[name], value, `WebSocket.${name}`);
      assert.equal(esm[name], value, `export ${name}`);
    }
    // An instance: WebSocket is created by the server, but the constants are plain fields.
    const fakeHost = { core: {}, maxBackpressure: 0 }; // never called: the constants need no core
    const instance = new WebSocket(fakeHost, 0, 0, '');
    for (const [name, value] of Object.entries(expected)) assert.equal(instance[name], value, `instance.${name}`);
    assert.equal(instance.readyState, WebSocket.OPEN);
    assert.equal(instance.binaryType, 'nodebuffer');
  });

  it('WebSocketServer validates its options synchronously', { timeout: 5000 }, () => {
    assert.throws(() => new WebSocketServer(), TypeError);
    assert.throws(() => new WebSocketServer({}), TypeError); // no port
    assert.throws(() => new WebSocketServer({ port: 70000 }), RangeError);
    assert.throws(() => new WebSocketServer({ port: 'x' }), TypeError);
    assert.throws(() => new WebSocketServer({ port: 0, path: 'no-slash' }), TypeError);
    assert.throws(() => new WebSocketServer({ port: 0, maxPayload: -1 }), RangeError); // ws takes any non-negative number
    assert.throws(() => new WebSocketServer({ port: 0, verifyClient: 'yes' }), TypeError);
    assert.throws(() => new WebSocketServer({ port: 0, noServer: true }), TypeError); // one mode only
  });
});
