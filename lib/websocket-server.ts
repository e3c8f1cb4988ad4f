// WebSocketServer: ws's server API over the native core, in one of three modes: the core's own
// listeners ({ port }), a node:http server whose upgraded sockets the core takes over
// ({ server }), or neither ({ noServer } + handleUpgrade). It owns the connections' objects and
// the shutdown; Core decodes the core's events, handshake.ts decides upgrades, http-takeover.ts
// adopts node:http's sockets.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

import { OPEN } from './constants';
import { Core, type CoreEvents } from './core';
import { SystemError, TlsError, type WebSocketError } from './errors';
import { decideUpgrade, type DecisionHost, PendingHandshakes } from './handshake';
import { HttpTakeover } from './http-takeover';
import { checkBinding, defaultBinding } from './native';
import { normalizeOptions, type NormalizedOptions, type ServerOptions, type TlsOptions } from './options';
import { RefusedSocket } from './refused-socket';
import { StreamBridge } from './stream-bridge';
import { nativeTls, nativeTlsConfig } from './tls-options';
import type { ListenerRequest, RequestSocketInfo, UpgradeRequest } from './request';
import { NO_SOCKET, type PublishOptions, type PublishStats, Topics } from './topics';
import { type ConnectionHost, type ControlData, toBytes, WebSocket } from './websocket';

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface WebSocketServerEvents {
  listening: [];
  connection: [socket: WebSocket, request: UpgradeRequest];
  error: [error: Error];
  close: [];
  headers: [headers: string[], request: UpgradeRequest];
  /**
   * A refused handshake. The listener answers it (ws's rule): on node's socket (node:http path) or
   * on a RefusedSocket (the core's own listeners); without a listener epollws answers.
   */
  wsClientError: [error: WebSocketError, socket: RefusedSocket | Duplex, request: UpgradeRequest | undefined];
  /**
   * A topic got its first subscriber (`count` 1) or lost its last one (`count` 0: unsubscribed or
   * closed; after that socket's 'close'). The hook for bridging topics to a broker.
   */
  subscription: [topic: string, count: number];
}

const enum State {
  RUNNING,
  CLOSING,
  CLOSED,
}

// Sockets already handed to handleUpgrade (ws's rule: a second call for one socket is a bug).
const upgradedSockets = new WeakSet<Duplex>();

export class WebSocketServer extends EventEmitter {
  /** The open connections (when clientTracking is on). */
  readonly clients: Set<WebSocket> | undefined;
  readonly options: Readonly<NormalizedOptions>;

  #state = State.RUNNING;
  #closeEmitted = false; // 'close' went out: a later close() is ws's "not running"
  #addresses: AddressInfo[] = [];
  #sockets: (WebSocket | undefined)[] = [];
  #core: Core;
  #connectionHost: ConnectionHost;
  #decisionHost: DecisionHost;
  #handshakes: PendingHandshakes;
  #http: HttpTakeover;
  #topics: Topics;
  #detachHttpServer: (() => void) | undefined;
  #streams: StreamBridge | undefined;

  constructor(options: ServerOptions, callback?: () => void) {
    super();
    const binding = options?.nativeBinding !== undefined ? checkBinding(options.nativeBinding) : defaultBinding();
    this.options = normalizeOptions(options, binding.constants.DEFAULTS);
    this.clients = this.options.clientTracking ? new Set() : undefined;
    this.#core = new Core(binding, this.options, this.#coreEvents);
    this.#topics = new Topics(this.#core, (topic, count) => this.emit('subscription', topic, count));
    this.#connectionHost = { core: this.#core, maxBackpressure: this.options.maxBackpressure, topics: this.#topics };
    this.#decisionHost = { options: this.options, events: this, running: () => this.#state === State.RUNNING };
    this.#handshakes = new PendingHandshakes(this.#core);
    this.#http = new HttpTakeover(this.#core, this.#decisionHost, () => this.#streamBridge());
    if (callback) this.once('listening', callback);
    // ws's rule for refused handshakes: a 'wsClientError' listener answers them itself.
    this.on('newListener', (event: string | symbol) => {
      if (event === 'wsClientError') this.#core.holdRefusals(true);
    });
    this.on('removeListener', (event: string | symbol) => {
      if (event === 'wsClientError') this.#core.holdRefusals(this.listenerCount('wsClientError') > 0);
    });
    if (this.options.server) {
      this.#detachHttpServer = this.#http.attach(this.options.server, (request, socket, head) => {
        this.handleUpgrade(request, socket, head, (webSocket, req) => this.emit('connection', webSocket, req));
      });
    } else if (!this.options.noServer) {
      this.#listen();
    }
  }

  /** The first listening address, like net.Server#address(); null when not listening. */
  address(): AddressInfo | string | null {
    if (this.options.server) return this.options.server.address() as AddressInfo | string | null;
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    return this.#addresses[0] ?? null;
  }

  /** Every address the server's own listeners are bound to (one per port). */
  addresses(): AddressInfo[] {
    return this.#addresses.slice();
  }

  /** Whether an upgrade request is for this server (its `path`), as in ws. */
  shouldHandle(request: Pick<UpgradeRequest, 'url'>): boolean {
    if (!this.options.path) return true;
    const query = request.url.indexOf('?');
    return (query === -1 ? request.url : request.url.slice(0, query)) === this.options.path;
  }

  /**
   * Completes an upgrade that node:http received (its 'upgrade' event): hands the TCP connection
   * to the native core, which validates the request as on its own listeners (node's socket is
   * closed; the connection lives on in the core), runs the decision hooks, and calls `callback`
   * once the 101 is queued. A refused request is answered by the core, or, when there is a
   * 'wsClientError' listener, left to that listener with node's socket (as in ws).
   */
  handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: (socket: WebSocket, request: IncomingMessage) => void,
  ): void {
    if (upgradedSockets.has(socket)) {
      throw new Error('server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration');
    }
    upgradedSockets.add(socket);
    if (this.#state === State.CLOSED) {
      socket.destroy(); // the core is gone
      return;
    }
    const upgrade = request as unknown as UpgradeRequest;
    const taken = this.#http.takeOver(request, socket, head, this.shouldHandle(upgrade));
    if (taken.kind === 'refused') {
      if (!taken.answered) this.emit('wsClientError', taken.error, socket, upgrade);
      return;
    }
    if (taken.kind !== 'pending') return;
    const pending = this.#handshakes.add(taken.slot, taken.generation, upgrade, () => request.headers['sec-websocket-protocol']);
    decideUpgrade(this.#decisionHost, pending, (slot, generation, protocol, deflate) =>
      callback(this.#open(slot, generation, protocol, deflate), request),
    );
  }

  /**
   * Graceful shutdown: stops accepting, refuses upgrades still being decided (503), sends close
   * 1001 to every open socket (after whatever was already queued for it), and waits for their
   * closing handshakes, each bounded by closeTimeout. Resolves, calls `callback` and emits
   * 'close' once no connection is left. (ws 8 leaves open connections alone; epollws does not.)
   */
  close(callback?: (error?: Error) => void): Promise<void> {
    return this.#shutdown(false, callback);
  }

  /** Immediate stop: stops accepting and drops every connection at once (they report 1006). */
  terminate(callback?: (error?: Error) => void): Promise<void> {
    return this.#shutdown(true, callback);
  }

  /**
   * Sends `data` to every socket subscribed to `topic` (a string of at most 1024 bytes of UTF-8):
   * framed once, queued in call order with each socket's sends, under each socket's own
   * backpressure policy. Returns the number of sockets it was queued for; those that refused it are
   * counted in `publishStats.refused`. Strings are text unless `options.binary`. Subscribers that
   * negotiated permessage-deflate get it compressed unless `options.compress` is false (deflated
   * once for all of those without server context takeover; see PublishOptions.compress).
   */
  publish(topic: string, data: ControlData, options?: PublishOptions): number {
    return this.#topics.publish(topic, toBytes(data), options, NO_SOCKET, 0);
  }

  /** How many sockets subscribe to `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.subscriberCount(topic);
  }

  /** Publish totals since the server started (deliveries queued, refused by backpressure, deflate runs). */
  get publishStats(): PublishStats {
    return this.#topics.stats();
  }

  /** Serves `serverName` with its own certificate, chosen by SNI (the `tls` option only). */
  addServerName(serverName: string, options: TlsOptions): this {
    this.#requireTls().addServerName(serverName, nativeTlsConfig(options));
    return this;
  }

  removeServerName(serverName: string): this {
    this.#requireTls().removeServerName(serverName);
    return this;
  }

  /** Replaces the default certificate for new TLS handshakes; open connections stay (renewal). */
  setSecureContext(options: TlsOptions): void {
    this.#requireTls().setSecureContext(nativeTlsConfig(options));
  }

  /** The 48 bytes session tickets are protected with (tls.Server#getTicketKeys). */
  getTicketKeys(): Buffer {
    return this.#requireTls().getTicketKeys() as Buffer;
  }

  /** Replaces the session ticket keys: servers given the same keys resume each other's sessions. */
  setTicketKeys(keys: Buffer): void {
    this.#requireTls().setTicketKeys(keys);
  }

  #requireTls(): Core {
    if (!this.options.tls) throw new TlsError('The server has no "tls" option');
    return this.#core;
  }

  #listen(): void {
    if (this.options.tls) {
      try {
        this.#core.useTls(nativeTls(this.options.tls));
      } catch (error) {
        this.#core.destroy(); // nothing is left open by a refused configuration
        throw error;
      }
    }
    const host = this.options.host;
    const address = host || '::';
    for (const port of this.options.ports) {
      const result = this.#core.listen(host, port, this.options.backlog, this.options.reusePort);
      if (result.errno !== 0) {
        const error = new SystemError(result.errno, result.syscall, address, port);
        this.#core.stopListening();
        this.#addresses = [];
        process.nextTick(() => this.emit('error', error));
        return;
      }
      this.#addresses.push({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: result.port });
    }
    process.nextTick(() => {
      if (this.#state === State.RUNNING) this.emit('listening');
    });
  }

  // A connection whose 101 is queued: its object, tracked until its close event.
  #open(slot: number, generation: number, protocol: string, deflate: boolean): WebSocket {
    const SocketClass = this.options.WebSocket ?? WebSocket;
    const socket = new SocketClass(this.#connectionHost, slot, generation, protocol, deflate);
    this.#sockets[slot] = socket;
    this.clients?.add(socket);
    return socket;
  }

  #shutdown(immediately: boolean, callback: ((error?: Error) => void) | undefined): Promise<void> {
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (this.#closeEmitted) {
      // ws's answer to closing a server that is not running (the promise still settles).
      if (callback) this.once('close', () => callback(new Error('The server is not running')));
      process.nextTick(() => this.emit('close'));
      return closed;
    }
    if (callback) this.once('close', () => callback());
    if (this.#state === State.CLOSED) return closed; // 'close' is on its way
    if (this.#state === State.CLOSING && !immediately) return closed;
    this.#state = State.CLOSING;
    this.#detachHttpServer?.();
    this.#detachHttpServer = undefined;
    this.#core.stopListening();
    this.#addresses = [];
    if (immediately) {
      // Every connection reports its CLOSE (1006) from the core: on the next turn, or when
      // #maybeFinishClose destroys the core (the binding delivers what is queued first).
      this.#core.dropConnections(false);
      this.#handshakes.rejectAll(503); // only forgets them: their connections are gone
    } else {
      // Drop those the user never saw first: the 503s below are unknown too once answered.
      this.#core.dropConnections(true);
      this.#handshakes.rejectAll(503);
      for (const socket of this.#sockets) {
        if (socket?.readyState === OPEN) socket.close(1001, 'Server shutting down');
      }
    }
    this.#maybeFinishClose();
    return closed;
  }

  // Called whenever a connection goes away: a shutdown completes with the last one.
  #maybeFinishClose(): void {
    if (this.#state !== State.CLOSING || this.#core.connectionCount() > 0) return;
    this.#state = State.CLOSED;
    // Not from inside a batch: the binding is still using the core there. 'close' (and so the
    // promise of close()/terminate()) comes after destroy(), once the epoll fd, the eventfd and the
    // reserve fd are closed: a caller that counts fds after `await wss.close()` sees none left.
    setImmediate(() => {
      this.#core.destroy();
      this.#streams?.destroyAll();
      this.#closeEmitted = true;
      this.emit('close');
    });
  }

  // The pump for connections whose socket Node keeps (TLS, any Duplex), made on first use.
  #streamBridge(): StreamBridge {
    if (this.#streams === undefined) {
      const flags = this.#core.streamFlags();
      this.#streams = new StreamBridge(this.#core, flags, this.options.closeTimeout);
    }
    return this.#streams;
  }

  // The socket object of a connection event, if it still stands for that connection.
  #socket(slot: number, generation: number): WebSocket | undefined {
    const socket = this.#sockets[slot];
    return socket !== undefined && socket._hasGeneration(generation) ? socket : undefined;
  }

  #coreEvents: CoreEvents = {
    upgrade: (slot: number, generation: number, request: ListenerRequest): void => {
      const pending = this.#handshakes.add(slot, generation, request, () => request.offeredProtocols());
      decideUpgrade(this.#decisionHost, pending, (id, gen, protocol, deflate) =>
        this.emit('connection', this.#open(id, gen, protocol, deflate), request),
      );
    },
    message: (slot: number, generation: number, data: Buffer, isBinary: boolean): void => {
      this.#socket(slot, generation)?._onMessage(data, isBinary);
    },
    written: (slot: number, generation: number, written: number): void => {
      this.#socket(slot, generation)?._written(written);
    },
    ping: (slot: number, generation: number, data: Buffer): void => {
      this.#socket(slot, generation)?.emit('ping', data);
    },
    pong: (slot: number, generation: number, data: Buffer): void => {
      this.#socket(slot, generation)?.emit('pong', data);
    },
    drain: (slot: number, generation: number): void => {
      this.#socket(slot, generation)?.emit('drain');
    },
    protocolError: (slot: number, generation: number, error: WebSocketError): void => {
      this.#socket(slot, generation)?._emitError(error);
    },
    close: (slot: number, generation: number, code: number, reason: Buffer): void => {
      if (this.#handshakes.forget(slot, generation)) {
        this.#maybeFinishClose();
        return;
      }
      const socket = this.#socket(slot, generation);
      if (socket === undefined) return;
      this.#sockets[slot] = undefined;
      this.clients?.delete(socket);
      socket._emitClose(code, reason);
      this.#maybeFinishClose();
    },
    clientError: (slot: number, generation: number, error: WebSocketError, socket: RequestSocketInfo, held: boolean, request: ListenerRequest | undefined): void => {
      const listening = this.listenerCount('wsClientError') > 0;
      if (!held && !listening) return; // the core has answered it
      const refused = new RefusedSocket(this.#core, slot, generation, socket);
      // Held, but the last listener went before this turn: nobody will answer, let it go.
      if (!listening) refused.destroy();
      else this.emit('wsClientError', error, refused, request);
    },
    acceptError: (errno: number): void => {
      const error = new SystemError(errno, 'accept');
      if (this.listenerCount('error') > 0) this.emit('error', error);
      else process.emitWarning(`epollws: ${error.message}; new connections are being dropped`);
    },
    stopped: (): void => {
      this.#maybeFinishClose();
    },
    subscription: (topic: string): void => {
      this.#topics.ended(topic);
    },
  };

  override on<E extends keyof WebSocketServerEvents>(event: E, listener: (...args: WebSocketServerEvents[E]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
  override once<E extends keyof WebSocketServerEvents>(event: E, listener: (...args: WebSocketServerEvents[E]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }
}
