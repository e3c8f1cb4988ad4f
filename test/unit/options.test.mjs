// Option normalisation (lib/options.ts): every option's default, the values it accepts, and the
// error each invalid value gets: TypeError or RangeError, a Node code, and the option's name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { inspect } from 'node:util';
import { normalizeOptions } from '../../dist/options.js';
import { WebSocketServer } from '../../dist/index.mjs';
import { FakeServer, constants, fakeBinding } from './fake-binding.mjs';

const DEFAULTS = constants.DEFAULTS; // the core's defaults, as the binding reports them
const normalize = (options) => normalizeOptions(options, DEFAULTS);
const withPort = (extra) => normalize({ port: 0, ...extra });

function assertOptionError(options, ErrorClass, code, mentions) {
  assert.throws(
    () => normalize(options),
    (error) => {
      assert.equal(error.constructor, ErrorClass, `${error.constructor.name}: ${error.message}`);
      assert.equal(error.code, code, error.message);
      if (mentions) assert.ok(error.message.includes(mentions), `"${error.message}" names ${mentions}`);
      return true;
    },
    inspect(options),
  );
}

describe('unit: options', () => {
  it('fills every default: the core\'s from the binding, the rest from lib', () => {
    const { handleProtocols, verifyClient, upgrade, server, ...plain } = normalize({ noServer: true });
    assert.deepEqual(plain, {
      port: undefined, ports: [], tls: undefined, noServer: true, host: '', path: '', backlog: 511,
      maxPayload: DEFAULTS.maxPayload, maxHeaderSize: DEFAULTS.maxHeaderSize, maxConnections: DEFAULTS.maxConnections,
      handshakeTimeout: DEFAULTS.handshakeTimeout, closeTimeout: DEFAULTS.closeTimeout, idleTimeout: DEFAULTS.idleTimeout,
      sendPings: DEFAULTS.sendPings, maxBackpressure: DEFAULTS.maxBackpressure,
      maxTotalBackpressure: 1024 * 1024 * 1024, // the fake's core predates the option: lib's contract value
      backpressurePolicy: 'close', maxFragments: DEFAULTS.maxFragments,
      clientTracking: true, trustProxy: false, proxyProtocol: false, reusePort: false, perMessageDeflate: null, autoPong: true, WebSocket: undefined,
    });
    assert.deepEqual([handleProtocols, verifyClient, upgrade, server], [undefined, undefined, undefined, undefined]);
    assert.equal(normalizeOptions({ noServer: true }, { ...DEFAULTS, maxTotalBackpressure: 77 }).maxTotalBackpressure, 77);
  });

  it('reads the defaults from the binding a server was given', () => {
    const wss = new WebSocketServer({ noServer: true, nativeBinding: fakeBinding });
    assert.equal(FakeServer.last.options.maxPayload, DEFAULTS.maxPayload);
    assert.equal(wss.options.idleTimeout, DEFAULTS.idleTimeout);
  });

  it('takes exactly one of port, server and noServer', () => {
    assert.deepEqual(withPort().ports, [0]);
    assert.deepEqual(normalize({ port: [8080, 0, 65535] }).ports, [8080, 0, 65535]);
    const server = http.createServer();
    assert.equal(normalize({ server }).server, server);
    assert.equal(normalize({ noServer: true }).noServer, true);
    assert.equal(normalize({ port: 1, noServer: false }).noServer, false);
    for (const options of [{}, { noServer: false }, { port: 1, noServer: true }, { port: 1, server }, { server, noServer: true }]) {
      assertOptionError(options, TypeError, 'ERR_INVALID_ARG_VALUE', 'One and only one');
    }
  });

  it('refuses a port that is not an integer in 0..65535, and an empty port list', () => {
    for (const port of ['80', 1.5, NaN, Infinity, null, true, ['80']]) assertOptionError({ port }, TypeError, 'ERR_INVALID_ARG_TYPE', '"port"');
    for (const port of [-1, 65536, [80, 70000]]) assertOptionError({ port }, RangeError, 'ERR_OUT_OF_RANGE', '"port"');
    assertOptionError({ port: [] }, RangeError, 'ERR_OUT_OF_RANGE', '"port"');
  });

  it('refuses a server that is not an http.Server, and takes an https.Server', () => {
    for (const server of [{}, 'server', 42, null]) assertOptionError({ server }, TypeError, 'ERR_INVALID_ARG_TYPE', '"server"');
    const server = https.createServer();
    assert.equal(normalize({ server }).server, server);
  });

  it('takes host and path as strings, a path starting with "/"', () => {
    assert.equal(withPort({ host: '::1' }).host, '::1');
    assert.equal(withPort({ path: '/chat' }).path, '/chat');
    for (const host of [1, null, ['a']]) assertOptionError({ port: 0, host }, TypeError, 'ERR_INVALID_ARG_TYPE', '"host"');
    for (const path of ['chat', '', 7, null]) assertOptionError({ port: 0, path }, TypeError, 'ERR_INVALID_ARG_VALUE', '"path"');
  });

  it('maxPayload: any non-negative number, as ws (engine.io passes maxHttpBufferSize through); the core gets a whole uint32', () => {
    const cases = [[0, 0xffffffff], [Infinity, 0xffffffff], [5e9, 0xffffffff], [1e6 / 3, 333333], [1, 1], [0.5, 1], [1024, 1024]];
    for (const [value, core] of cases) {
      const wss = new WebSocketServer({ noServer: true, nativeBinding: fakeBinding, maxPayload: value });
      assert.equal(wss.options.maxPayload, value, 'kept as given');
      assert.equal(FakeServer.last.options.maxPayload, core);
    }
    assertOptionError({ port: 0, maxPayload: -1 }, RangeError, 'ERR_OUT_OF_RANGE', '"maxPayload"');
    for (const value of ['10', NaN, null, false]) assertOptionError({ port: 0, maxPayload: value }, TypeError, 'ERR_INVALID_ARG_TYPE', '"maxPayload"');
  });

  it('port: kept as given in options (ws), the list served in ports', () => {
    assert.equal(normalize({ port: 0 }).port, 0);
    assert.deepEqual(normalize({ port: [0, 0] }).port, [0, 0]);
    assert.deepEqual(normalize({ port: 8080 }).ports, [8080]);
  });

  // [name, smallest accepted, largest accepted]
  const integers = [
    ['backlog', 0, 0x7fffffff],
    ['maxHeaderSize', 256, 1024 * 1024],
    ['maxConnections', 0, 0xffffffff],
    ['handshakeTimeout', 0, 0x7fffffff],
    ['closeTimeout', 0, 0x7fffffff],
    ['idleTimeout', 0, 0x7fffffff],
    ['maxBackpressure', 0, Number.MAX_SAFE_INTEGER],
    ['maxTotalBackpressure', 0, Number.MAX_SAFE_INTEGER],
    ['maxFragments', 0, 0xffffffff],
  ];
  for (const [name, min, max] of integers) {
    it(`${name}: integers from ${min} to ${max}`, () => {
      assert.equal(withPort({ [name]: min })[name], min);
      assert.equal(withPort({ [name]: max })[name], max);
      for (const value of [min - 1, max + 1]) assertOptionError({ port: 0, [name]: value }, RangeError, 'ERR_OUT_OF_RANGE', `"${name}"`);
      for (const value of ['10', min + 0.5, NaN, null, false, 10n]) {
        assertOptionError({ port: 0, [name]: value }, TypeError, 'ERR_INVALID_ARG_TYPE', `"${name}"`);
      }
    });
  }

  for (const name of ['sendPings', 'clientTracking', 'trustProxy', 'proxyProtocol', 'reusePort', 'noServer']) {
    it(`${name}: a boolean ("false" is not false)`, () => {
      const base = name === 'noServer' ? {} : { port: 0 };
      assert.equal(normalize({ ...base, [name]: true })[name], true);
      if (name !== 'noServer') assert.equal(normalize({ ...base, [name]: false })[name], false);
      for (const value of ['false', 0, 1, null]) assertOptionError({ ...base, [name]: value }, TypeError, 'ERR_INVALID_ARG_TYPE', `"${name}"`);
    });
  }

  it('backpressurePolicy: "close" or "drop"', () => {
    assert.equal(withPort({ backpressurePolicy: 'drop' }).backpressurePolicy, 'drop');
    assert.equal(withPort({ backpressurePolicy: 'close' }).backpressurePolicy, 'close');
    for (const value of ['Drop', '', 1, null]) {
      assertOptionError({ port: 0, backpressurePolicy: value }, TypeError, 'ERR_INVALID_ARG_VALUE', '"backpressurePolicy"');
    }
  });

  for (const name of ['handleProtocols', 'verifyClient', 'upgrade']) {
    it(`${name}: a function`, () => {
      const f = () => {};
      assert.equal(withPort({ [name]: f })[name], f);
      for (const value of [{}, 'f', null, true]) assertOptionError({ port: 0, [name]: value }, TypeError, 'ERR_INVALID_ARG_TYPE', `"${name}"`);
    });
  }

  it('perMessageDeflate: a boolean or an object, normalised with ws\'s defaults for the core', () => {
    for (const value of [true, false, {}, { threshold: 1024 }]) assert.doesNotThrow(() => withPort({ perMessageDeflate: value }));
    assert.equal(withPort({ perMessageDeflate: false }).perMessageDeflate, null);
    const defaults = {
      serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 0, clientMaxWindowBits: 0,
      level: -1, memLevel: 8, strategy: 0, threshold: 1024,
    };
    assert.deepEqual(withPort({ perMessageDeflate: true }).perMessageDeflate, defaults);
    assert.deepEqual(withPort({
      perMessageDeflate: { serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9, threshold: 0, zlibDeflateOptions: { level: 1, memLevel: 4, strategy: 1 } },
    }).perMessageDeflate, { ...defaults, serverNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9, threshold: 0, level: 1, memLevel: 4, strategy: 1 });
    assertOptionError({ port: 0, perMessageDeflate: { serverMaxWindowBits: 16 } }, RangeError, 'ERR_OUT_OF_RANGE', 'serverMaxWindowBits');
    for (const value of ['yes', 1, null]) {
      assertOptionError({ port: 0, perMessageDeflate: value }, TypeError, 'ERR_INVALID_ARG_TYPE', '"perMessageDeflate"');
    }
  });

  it('refuses something that is not an options object', () => {
    for (const options of [null, undefined, 8080, 'port']) {
      assert.throws(() => normalize(options), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    }
  });
});
