// Option defaults and validation. Mistakes are programmer errors: they throw TypeError/RangeError
// synchronously from the constructor, naming the option and the value, with Node's own codes
// (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE) so callers need not parse messages.
import type { Server as HttpServer } from 'node:http';
import type { SecureContextOptions, TlsOptions as NodeTlsOptions } from 'node:tls';

import type { NativeDefaults } from './native';
import { type NormalizedDeflateOptions, normalizeDeflate, type PerMessageDeflateOptions } from './permessage-deflate';
import type { UpgradeRequest } from './request';
import type { WebSocket } from './websocket';

/** The socket class a server hands out: WebSocket or a user's subclass of it (ws's `WebSocket` option). */
export type WebSocketClass = new (...args: ConstructorParameters<typeof WebSocket>) => WebSocket;

export interface VerifyClientInfo {
  origin: string | undefined;
  secure: boolean;
  req: UpgradeRequest;
}
export type VerifyClientCallback = (
  verified: boolean,
  code?: number,
  message?: string,
  headers?: Record<string, string>,
) => void;
export type VerifyClient =
  | ((info: VerifyClientInfo) => boolean)
  | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);

/** What an `upgrade` hook decides for one request. Returning nothing accepts with the defaults. */
export type UpgradeDecision =
  | {
      action: 'accept';
      /** Overrides the subprotocol chosen by handleProtocols. */
      protocol?: string;
      /** Extra response headers for the 101 answer. */
      headers?: Record<string, string>;
    }
  | {
      action: 'reject';
      status: number;
      headers?: Record<string, string>;
      body?: string;
    };

export type BackpressurePolicy = 'close' | 'drop';

/**
 * TLS for the server's own ports (wss://), with node:tls's option names: key, cert, ca,
 * passphrase, pfx, ciphers, minVersion, requestCert, ticketKeys... (PEM strings or Buffers).
 */
export type TlsOptions = NodeTlsOptions;
/** One certificate chosen by SNI: the name it serves ('*.example.com' covers one label). */
export type TlsServerNameOptions = SecureContextOptions & { serverName: string };

export interface ServerOptions {
  /** A port, or several served by the same reactor (0 picks a free one). */
  port?: number | number[];
  /** Address to listen on; all addresses (IPv6 dual-stack) when omitted. */
  host?: string;
  /** Accept only upgrade requests for this path (others get 404). */
  path?: string;
  backlog?: number;
  /**
   * Largest message accepted, in bytes (default 100 MiB); larger ones close with 1009. Any
   * non-negative number, as in ws (0 or Infinity: up to 4 GiB - 1, the most a Buffer holds here).
   */
  maxPayload?: number;
  /** Largest HTTP request head (default 16 KiB); larger ones get 431. */
  maxHeaderSize?: number;
  /** Connections beyond this number get 503 (0: no limit but the fd limit). */
  maxConnections?: number;
  /** Milliseconds a client has to complete the opening handshake (default 10 s). */
  handshakeTimeout?: number;
  /** Milliseconds to wait for the peer's close frame and FIN before dropping it (default 30 s). */
  closeTimeout?: number;
  /** Milliseconds without a byte from the peer before it is dropped (default 120 s; 0 disables). */
  idleTimeout?: number;
  /** Ping a peer that has been silent for half of idleTimeout, so live peers answer (default true). */
  sendPings?: boolean;
  /** Bytes queued for one socket beyond which backpressurePolicy applies (default 64 MiB; 0: no limit). */
  maxBackpressure?: number;
  /**
   * Bytes queued for all sockets together beyond which backpressurePolicy applies to the sockets
   * holding the most, so many slow readers cannot exhaust the process (default 1 GiB; 0: no limit).
   */
  maxTotalBackpressure?: number;
  /** Over maxBackpressure or maxTotalBackpressure: 'close' drops the connection (default), 'drop' refuses the message. */
  backpressurePolicy?: BackpressurePolicy;
  /** Frames allowed in one fragmented message (default 100,000; 0: no limit); more close with 1009. */
  maxFragments?: number;
  /**
   * Every connection to the server's own listeners starts with a PROXY protocol v1/v2 header
   * (HAProxy, nginx `proxy_protocol`, AWS NLB); its source address becomes the request's
   * `socket.remoteAddress`. Connections without a valid header get 400.
   */
  proxyProtocol?: boolean;
  /** Believe X-Forwarded-For for `request.clientAddress` (only behind a proxy you run). */
  trustProxy?: boolean;
  /** Answer pings with a pong automatically (default true, as ws's autoPong). */
  autoPong?: boolean;
  /** The class of the sockets handed out by 'connection': WebSocket or a subclass of it (ws's option). */
  WebSocket?: WebSocketClass;
  /** Track connections in `server.clients` (default true). */
  clientTracking?: boolean;
  /** Set SO_REUSEPORT so several processes or workers can share the port. */
  reusePort?: boolean;
  handleProtocols?: (protocols: Set<string>, request: UpgradeRequest) => string | false;
  verifyClient?: VerifyClient;
  /** Decide each upgrade, possibly asynchronously (authentication...). */
  upgrade?: (request: UpgradeRequest) => UpgradeDecision | void | Promise<UpgradeDecision | void>;
  /** permessage-deflate (RFC 7692), ws's option: off by default; true for ws's defaults. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * Serve wss:// on `port`: the options of a node:tls server, or a list of certificates chosen by
   * SNI (entries with a `serverName`; the one without, or the first, is the default).
   */
  tls?: TlsOptions | (TlsOptions | TlsServerNameOptions)[];
  /** Share the port of a node:http or node:https server: its upgraded sockets are taken over by the reactor. */
  server?: HttpServer;
  /** Neither listen nor attach: the user calls handleUpgrade() from their own 'upgrade' handler. */
  noServer?: boolean;
  /** @internal Another binding than this package's addon (better-sqlite3's pattern; test/unit passes an in-memory one). */
  nativeBinding?: unknown;
}

export interface NormalizedOptions {
  /** The user's `port` option as given (ws keeps it so); `ports` is the list served. */
  port: number | number[] | undefined;
  ports: number[];
  tls: (TlsOptions | TlsServerNameOptions)[] | undefined;
  server: HttpServer | undefined;
  noServer: boolean;
  host: string;
  path: string;
  backlog: number;
  maxPayload: number;
  maxHeaderSize: number;
  maxConnections: number;
  handshakeTimeout: number;
  closeTimeout: number;
  idleTimeout: number;
  sendPings: boolean;
  maxBackpressure: number;
  maxTotalBackpressure: number;
  backpressurePolicy: BackpressurePolicy;
  maxFragments: number;
  clientTracking: boolean;
  trustProxy: boolean;
  proxyProtocol: boolean;
  reusePort: boolean;
  autoPong: boolean;
  WebSocket: WebSocketClass | undefined;
  handleProtocols: ServerOptions['handleProtocols'];
  verifyClient: VerifyClient | undefined;
  upgrade: ServerOptions['upgrade'];
  /** null: permessage-deflate is off. */
  perMessageDeflate: NormalizedDeflateOptions | null;
}

// The listen(2) backlog is lib's; every other default is the core's (NativeDefaults).
const DEFAULT_BACKLOG = 511;
// The contract's server-wide bound, for an addon whose core predates the option.
const DEFAULT_MAX_TOTAL_BACKPRESSURE = 1024 * 1024 * 1024;


type OptionErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

/** @internal */
export function optionError<E extends Error>(
  ErrorClass: new (message: string) => E,
  code: OptionErrorCode,
  message: string,
): E {
  return Object.assign(new ErrorClass(message), { code });
}

/** @internal */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    const message = `Expected the "${name}" option to be an integer, got ${String(value)}`;
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', message);
  }
  if (value < min || value > max) {
    throw optionError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `Expected the "${name}" option to be between ${min} and ${max}, got ${value}`,
    );
  }
  return value;
}

// A string such as "false" would otherwise read as true.
/** @internal */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    const message = `Expected the "${name}" option to be a boolean, got ${String(value)}`;
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', message);
  }
  return value;
}

// ws's rule for maxPayload: any non-negative number (engine.io passes maxHttpBufferSize through).
function nonNegativeNumber(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', `Expected the "${name}" option to be a number, got ${String(value)}`);
  }
  if (value < 0) {
    throw optionError(RangeError, 'ERR_OUT_OF_RANGE', `Expected the "${name}" option to be a non-negative number, got ${value}`);
  }
  return value;
}

function optionalFunction<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', `Expected the "${name}" option to be a function`);
  }
  return value;
}

function policy(value: unknown): BackpressurePolicy {
  if (value === undefined) return 'close';
  if (value !== 'close' && value !== 'drop') {
    throw optionError(
      TypeError,
      'ERR_INVALID_ARG_VALUE',
      `Expected the "backpressurePolicy" option to be "close" or "drop", got ${String(value)}`,
    );
  }
  return value;
}

/** @internal Validates `options` and fills in `defaults` (the core's, read from the binding). */
export function normalizeOptions(options: ServerOptions, defaults: NativeDefaults): NormalizedOptions {
  if (options === null || typeof options !== 'object') {
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected an options object');
  }
  const noServer = booleanOption('noServer', options.noServer, false);
  const modes = [options.port !== undefined, options.server !== undefined, noServer];
  if (modes.filter(Boolean).length !== 1) {
    throw optionError(
      TypeError,
      'ERR_INVALID_ARG_VALUE',
      'One and only one of the "port", "server", or "noServer" options must be specified',
    );
  }
  if (options.server !== undefined) {
    if (typeof (options.server as { on?: unknown } | null)?.on !== 'function') {
      throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected the "server" option to be an http.Server');
    }
  }
  const portList = options.port === undefined ? [] : Array.isArray(options.port) ? options.port : [options.port];
  if (options.port !== undefined && portList.length === 0) {
    throw optionError(RangeError, 'ERR_OUT_OF_RANGE', 'Expected the "port" option to list at least one port');
  }
  const ports = portList.map((port) => integerOption('port', port, 0, 0, 65535));

  if (options.host !== undefined && typeof options.host !== 'string') {
    const message = `Expected the "host" option to be a string, got ${String(options.host)}`;
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', message);
  }
  if (options.path !== undefined && (typeof options.path !== 'string' || !options.path.startsWith('/'))) {
    throw optionError(
      TypeError,
      'ERR_INVALID_ARG_VALUE',
      `Expected the "path" option to be a string starting with "/", got ${String(options.path)}`,
    );
  }

  return {
    port: options.port,
    ports,
    server: options.server,
    noServer,
    tls: tlsOptions(options.tls, options.port !== undefined, options.proxyProtocol === true),
    host: options.host ?? '',
    path: options.path ?? '',
    backlog: integerOption('backlog', options.backlog, DEFAULT_BACKLOG, 0, 0x7fffffff),
    maxPayload: nonNegativeNumber('maxPayload', options.maxPayload, defaults.maxPayload),
    maxHeaderSize: integerOption('maxHeaderSize', options.maxHeaderSize, defaults.maxHeaderSize, 256, 1024 * 1024),
    maxConnections: integerOption('maxConnections', options.maxConnections, defaults.maxConnections, 0, 0xffffffff),
    handshakeTimeout: integerOption('handshakeTimeout', options.handshakeTimeout, defaults.handshakeTimeout, 0, 0x7fffffff),
    closeTimeout: integerOption('closeTimeout', options.closeTimeout, defaults.closeTimeout, 0, 0x7fffffff),
    idleTimeout: integerOption('idleTimeout', options.idleTimeout, defaults.idleTimeout, 0, 0x7fffffff),
    sendPings: booleanOption('sendPings', options.sendPings, defaults.sendPings),
    maxBackpressure: integerOption('maxBackpressure', options.maxBackpressure, defaults.maxBackpressure, 0, Number.MAX_SAFE_INTEGER),
    maxTotalBackpressure: integerOption(
      'maxTotalBackpressure',
      options.maxTotalBackpressure,
      defaults.maxTotalBackpressure ?? DEFAULT_MAX_TOTAL_BACKPRESSURE,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    backpressurePolicy: policy(options.backpressurePolicy),
    maxFragments: integerOption('maxFragments', options.maxFragments, defaults.maxFragments, 0, 0xffffffff),
    clientTracking: booleanOption('clientTracking', options.clientTracking, true),
    trustProxy: booleanOption('trustProxy', options.trustProxy, false),
    proxyProtocol: booleanOption('proxyProtocol', options.proxyProtocol, false),
    reusePort: booleanOption('reusePort', options.reusePort, false),
    autoPong: booleanOption('autoPong', options.autoPong, true),
    WebSocket: optionalFunction('WebSocket', options.WebSocket),
    handleProtocols: optionalFunction('handleProtocols', options.handleProtocols),
    verifyClient: optionalFunction('verifyClient', options.verifyClient),
    upgrade: optionalFunction('upgrade', options.upgrade),
    perMessageDeflate: normalizeDeflate(options.perMessageDeflate),
  };
}

function tlsOptions(value: ServerOptions['tls'], listening: boolean, proxyProtocol: boolean): NormalizedOptions['tls'] {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((entry) => entry !== null && typeof entry === 'object')) {
    throw optionError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Expected the "tls" option to be an object or a list of objects');
  }
  if (!listening) {
    throw optionError(TypeError, 'ERR_INVALID_ARG_VALUE', 'The "tls" option goes with "port" (give an https.Server as "server" instead)');
  }
  if (proxyProtocol) {
    // The PROXY header would come before the ClientHello, in the clear: terminate TLS at the proxy.
    throw optionError(TypeError, 'ERR_INVALID_ARG_VALUE', 'The "tls" option cannot be combined with "proxyProtocol" (terminate TLS at the proxy)');
  }
  return list;
}
