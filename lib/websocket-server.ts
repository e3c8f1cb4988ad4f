// WebSocketServer: ws's server API over the native core. The core accepts, parses and frames;
// this class turns each batch of core events into EventEmitter events and runs the upgrade
// decision (handleProtocols, verifyClient, the async `upgrade` hook) before accepting.
// Connections arrive either from the core's own listeners ({ port }) or from a node:http server
// whose upgraded sockets the core takes over ({ server } / { noServer } + handleUpgrade).
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

import { native as K, OPEN } from './constants';
import { SystemError, WebSocketError } from './errors';
import { binding, type NativeServer } from './native';
import { normalizeOptions, type NormalizedOptions, type ServerOptions, type UpgradeDecision } from './options';
import { clientAddressOf, QueuedRequest, type RequestSocketInfo, type UpgradeRequest } from './request';
import {
  abortHandshake,
  checkUpgradeRequest,
  headerLines,
  isEncrypted,
  isToken,
  isValidHeaderLine,
  joinHeaderLines,
  parseProtocols,
  socketHandle,
} from './upgrade';
import { WebSocket, type ConnectionHost } from './websocket';

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
  wsClientError: [error: WebSocketError, socket: RequestSocketInfo | Duplex, request: UpgradeRequest | undefined];
}

const enum State {
  RUNNING,
  CLOSING,
  CLOSED,
}

type Rejection = Extract<UpgradeDecision, { action: 'reject' }>;

/** An upgrade waiting for the user's decision, wherever its socket lives. */
interface PendingHandshake {
  readonly request: UpgradeRequest;
  /** False once the client has gone. */
  alive(): boolean;
  /** Answers 101 and returns the connection's id, or undefined if it is gone. */
  accept(protocol: string, headerLines: string): [number, number] | undefined;
  reject(status: number, headerLines: Record<string, string> | undefined, body: string): void;
}

export class WebSocketServer extends EventEmitter implements ConnectionHost {
  /** The open connections (when clientTracking is on). */
  readonly clients: Set<WebSocket> | undefined;
  readonly options: Readonly<NormalizedOptions>;
  /** @internal */
  readonly native: NativeServer;

  #state = State.RUNNING;
  #addresses: AddressInfo[] = [];
  #sockets: (WebSocket | undefined)[] = [];
  #pending = new Map<number, number>(); // slot -> generation of core upgrades awaiting a decision
  #adopting = new Set<Duplex>(); // node:http sockets awaiting a decision
  #inBatch = false;
  #flushScheduled = false;
  #detachHttpServer: (() => void) | undefined;

  constructor(options: ServerOptions, callback?: () => void) {
    super();
    this.options = normalizeOptions(options);
    this.clients = this.options.clientTracking ? new Set() : undefined;
    this.native = new binding.Server(
      {
        maxPayload: this.options.maxPayload,
        maxHeaderSize: this.options.maxHeaderSize,
        maxConnections: this.options.maxConnections,
        handshakeTimeout: this.options.handshakeTimeout,
        closeTimeout: this.options.closeTimeout,
        idleTimeout: this.options.idleTimeout,
        sendPings: this.options.sendPings,
        maxBackpressure: this.options.maxBackpressure,
        dropOnBackpressure: this.options.backpressurePolicy === 'drop',
        maxFragments: this.options.maxFragments,
        proxyProtocol: this.options.proxyProtocol,
        path: this.options.path,
      },
      this.#onBatch,
    );
    if (callback) this.once('listening', callback);
    if (this.options.server) this.#attach(this.options.server);
    else if (!this.options.noServer) this.#listen();
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
   * Completes an upgrade that node:http received (its 'upgrade' event): validates it, runs the
   * decision hooks, then hands the TCP connection to the native reactor and calls `callback`.
   * The node:http socket is closed afterwards; the connection itself lives on in the reactor.
   */
  handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: (socket: WebSocket, request: IncomingMessage) => void,
  ): void {
    const upgrade = request as unknown as UpgradeRequest;
    socket.on('error', () => socket.destroy());
    if (isEncrypted(socket)) {
      abortHandshake(socket, 501, 'epollws does not serve TLS connections yet');
      this.emit('error', Object.assign(new Error('epollws cannot take over TLS sockets (https.Server) yet'), { code: 'EPOLLWS_TLS_UNSUPPORTED' }));
      return;
    }
    const handle = socketHandle(socket);
    if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) {
      abortHandshake(socket, 500, 'Socket cannot be taken over');
      return;
    }
    const problem = checkUpgradeRequest(upgrade);
    if (problem) {
      this.#refuseHttp(socket, upgrade, problem.status, problem.message, problem.headers);
      return;
    }
    if (!this.shouldHandle(upgrade)) {
      this.#refuseHttp(socket, upgrade, 400, 'Path not served');
      return;
    }
    // Read the addresses while node's handle is open: net.Socket caches them, so that
    // request.socket.remoteAddress (ws's FAQ) still answers after the socket is destroyed below.
    const net = socket as unknown as { remoteAddress?: string; localAddress?: string };
    void net.remoteAddress;
    void net.localAddress;
    // Stop node:http reading from the socket: from now on every byte belongs to the reactor.
    handle.readStop?.();
    this.#adopting.add(socket);
    const pending: PendingHandshake = {
      request: upgrade,
      alive: () => !socket.destroyed && this.#adopting.has(socket),
      accept: (protocol, lines) => {
        this.#adopting.delete(socket);
        const buffered = socket.read() as Buffer | null; // bytes node read before readStop
        const frames = buffered ? Buffer.concat([head, buffered]) : head;
        const fd = socketHandle(socket)?.fd ?? -1;
        const key = (upgrade.headers['sec-websocket-key'] ?? '').trim();
        const [errno, slot, generation] = this.native.adopt(fd, key, protocol, '', lines, frames);
        socket.destroy(); // closes node's copy of the fd only
        if (errno !== 0) {
          this.emit('error', new SystemError(errno, 'dup'));
          return undefined;
        }
        this.scheduleFlush();
        return [slot, generation];
      },
      reject: (status, headers, body) => {
        this.#adopting.delete(socket);
        abortHandshake(socket, status, body || undefined, headers);
      },
    };
    this.#decide(pending, (webSocket) => callback(webSocket, request));
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

  /** @internal */
  scheduleFlush(): void {
    if (this.#inBatch || this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(this.#flush);
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    this.native.flush();
  };

  #listen(): void {
    const host = this.options.host;
    for (const port of this.options.ports) {
      const [errno, syscall, boundPort] = this.native.listen(host, port, this.options.backlog, this.options.reusePort);
      if (errno !== 0) {
        const error = new SystemError(errno, syscall, host || '::', port);
        this.native.stopListening();
        this.#addresses = [];
        process.nextTick(() => this.emit('error', error));
        return;
      }
      const address = host || '::';
      this.#addresses.push({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: boundPort });
    }
    process.nextTick(() => {
      if (this.#state === State.RUNNING) this.emit('listening');
    });
  }

  #attach(server: HttpServer): void {
    const onListening = (): void => {
      this.emit('listening');
    };
    const onError = (error: Error): void => {
      this.emit('error', error);
    };
    const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
      this.handleUpgrade(request, socket, head, (webSocket, req) => this.emit('connection', webSocket, req));
    };
    server.on('listening', onListening);
    server.on('error', onError);
    server.on('upgrade', onUpgrade);
    this.#detachHttpServer = () => {
      server.off('listening', onListening);
      server.off('error', onError);
      server.off('upgrade', onUpgrade);
    };
  }

  #shutdown(immediately: boolean, callback: ((error?: Error) => void) | undefined): Promise<void> {
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (callback) this.once('close', () => callback());
    if (this.#state === State.CLOSED) {
      process.nextTick(() => this.emit('close'));
      return closed;
    }
    if (this.#state === State.CLOSING && !immediately) return closed;
    this.#state = State.CLOSING;
    this.#detachHttpServer?.();
    this.#detachHttpServer = undefined;
    this.native.stopListening();
    this.#addresses = [];
    for (const [slot, generation] of [...this.#pending]) {
      this.#rejectQueued(slot, generation, { action: 'reject', status: 503 });
    }
    for (const socket of [...this.#adopting]) {
      this.#adopting.delete(socket);
      abortHandshake(socket, 503);
    }
    if (immediately) {
      this.native.dropConnections(false);
      // The CLOSE events just queued would only be delivered on a later turn, after
      // #maybeFinishClose has destroyed the core: report them to the sockets now.
      for (let slot = 0; slot < this.#sockets.length; slot++) {
        const socket = this.#sockets[slot];
        if (socket === undefined) continue;
        this.#sockets[slot] = undefined;
        this.clients?.delete(socket);
        socket._emitClose(1006, Buffer.alloc(0));
      }
    } else {
      this.native.dropConnections(true);
      for (const socket of this.#sockets) {
        if (socket?.readyState === OPEN) socket.close(1001, 'Server shutting down');
      }
    }
    this.#maybeFinishClose();
    return closed;
  }

  // Called whenever a connection goes away: a shutdown completes with the last one.
  #maybeFinishClose(): void {
    if (this.#state !== State.CLOSING || this.native.connectionCount() > 0) return;
    this.#state = State.CLOSED;
    // Not from inside a batch: the binding is still using the core there. 'close' (and so the
    // promise of close()/terminate()) comes after destroy(), once the epoll fd, the eventfd and the
    // reserve fd are closed: a caller that counts fds after `await wss.close()` sees none left.
    setImmediate(() => {
      this.native.destroy();
      this.emit('close');
    });
  }

  // One call per reactor turn. A throwing listener does not cost the other events their
  // delivery: the first error is rethrown once the batch is done (it becomes uncaughtException).
  #onBatch = (count: number, records: Uint32Array, data: Buffer, externals: Buffer[] | undefined): void => {
    const words = K.RECORD_WORDS;
    let failed = false;
    let firstError: unknown;
    this.#inBatch = true;
    try {
      for (let i = 0, r = 0; i < count; i++, r += words) {
        try {
          this.#dispatch(records[r], records[r + 1], records[r + 2], records[r + 3], records[r + 4], records[r + 5], data, externals);
        } catch (error) {
          if (!failed) {
            failed = true;
            firstError = error;
          }
        }
      }
    } finally {
      this.#inBatch = false;
    }
    if (failed) throw firstError;
  };

  #dispatch(
    kind: number,
    slot: number,
    generation: number,
    offset: number,
    length: number,
    arg: number,
    data: Buffer,
    externals: Buffer[] | undefined,
  ): void {
    if (kind === K.EVENT_MESSAGE) {
      const socket = this.#sockets[slot];
      if (socket === undefined || !socket._hasGeneration(generation)) return;
      const payload = arg & K.MESSAGE_EXTERNAL ? externals![offset] : data.subarray(offset, offset + length);
      const message =
        socket.binaryType === 'arraybuffer'
          ? payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength)
          : payload;
      socket.emit('message', message, (arg & K.MESSAGE_BINARY) !== 0);
      return;
    }
    const payload = data.subarray(offset, offset + length);
    switch (kind) {
      case K.EVENT_UPGRADE:
        this.#onQueuedUpgrade(slot, generation, new QueuedRequest(payload));
        return;
      case K.EVENT_CLIENT_ERROR:
        this.#onClientError(arg, payload);
        return;
      case K.EVENT_STOPPED:
        this.#maybeFinishClose();
        return;
      case K.EVENT_ACCEPT_ERROR: {
        const error = new SystemError(arg, 'accept');
        if (this.listenerCount('error') > 0) this.emit('error', error);
        else process.emitWarning(`epollws: ${error.message}; new connections are being dropped`);
        return;
      }
    }
    if (kind === K.EVENT_CLOSE && this.#pending.get(slot) === generation) {
      this.#pending.delete(slot);
      this.#maybeFinishClose();
      return;
    }
    const socket = this.#sockets[slot];
    if (socket === undefined || !socket._hasGeneration(generation)) return;
    switch (kind) {
      case K.EVENT_PING:
        socket.emit('ping', payload);
        break;
      case K.EVENT_PONG:
        socket.emit('pong', payload);
        break;
      case K.EVENT_DRAIN:
        socket.emit('drain');
        break;
      case K.EVENT_ERROR: {
        const info = K.ERRORS[arg];
        socket._emitError(new WebSocketError(info.message, info.code, info.closeCode));
        break;
      }
      case K.EVENT_CLOSE:
        this.#sockets[slot] = undefined;
        this.clients?.delete(socket);
        socket._emitClose(arg, Buffer.from(payload));
        this.#maybeFinishClose();
        break;
    }
  }

  #onClientError(status: number, payload: Buffer): void {
    if (this.listenerCount('wsClientError') === 0) return;
    const [reason = '', remoteAddress = '', port = '0'] = payload.toString('latin1').split('\0');
    const socket: RequestSocketInfo = {
      remoteAddress,
      remotePort: Number(port),
      remoteFamily: remoteAddress.includes(':') ? 'IPv6' : 'IPv4',
    };
    this.emit('wsClientError', new WebSocketError(reason, 'WS_ERR_INVALID_HANDSHAKE', status), socket, undefined);
  }

  #refuseHttp(socket: Duplex, request: UpgradeRequest, status: number, message: string, headers?: Record<string, string>): void {
    if (this.listenerCount('wsClientError') > 0) {
      this.emit('wsClientError', new WebSocketError(message, 'WS_ERR_INVALID_HANDSHAKE', status), socket, request);
    } else {
      abortHandshake(socket, status, message, headers);
    }
  }

  // An upgrade request read and validated by the core's own listener.
  #onQueuedUpgrade(slot: number, generation: number, request: QueuedRequest): void {
    this.#pending.set(slot, generation);
    this.#decide(new QueuedHandshake(this, slot, generation, request), (socket) => this.emit('connection', socket, request));
  }

  /** @internal Whether a core upgrade still awaits its decision (the client has not left). */
  _isPending(slot: number, generation: number): boolean {
    return this.#pending.get(slot) === generation;
  }

  /** @internal Accepts a core upgrade; returns false if the client has gone. */
  _acceptQueued(slot: number, generation: number, protocol: string, lines: string): boolean {
    this.#pending.delete(slot);
    return this.native.accept(slot, generation, protocol, '', lines) >= 0;
  }

  /** @internal */
  _rejectQueued(slot: number, generation: number, decision: Rejection): void {
    this.#rejectQueued(slot, generation, decision);
  }

  #rejectQueued(slot: number, generation: number, decision: Rejection): void {
    this.#pending.delete(slot);
    const lines = headerLines(decision.headers).filter(isValidHeaderLine);
    this.native.reject(slot, generation, decision.status, joinHeaderLines(lines), decision.body ?? '');
    this.scheduleFlush();
  }

  // verifyClient, then the upgrade hook, then handleProtocols; accepts or rejects `pending`.
  #decide(pending: PendingHandshake, onOpen: (socket: WebSocket) => void): void {
    const request = pending.request;
    if (this.options.trustProxy || !(request instanceof QueuedRequest)) {
      request.clientAddress = clientAddressOf(request, this.options.trustProxy);
    } else {
      request.clientAddress = request.socket.remoteAddress;
    }
    if (this.#state !== State.RUNNING) {
      this.#reject(pending, { action: 'reject', status: 503 });
      return;
    }
    const protocols = parseProtocols(
      request instanceof QueuedRequest ? request.offeredProtocols() : request.headers['sec-websocket-protocol'],
    );
    if (protocols === null) {
      this.#reject(pending, { action: 'reject', status: 400, body: 'Invalid Sec-WebSocket-Protocol header' });
      if (this.listenerCount('wsClientError') > 0) {
        const error = new WebSocketError('Invalid Sec-WebSocket-Protocol header', 'WS_ERR_INVALID_HANDSHAKE', 400);
        this.emit('wsClientError', error, request.socket, request);
      }
      return;
    }

    const afterVerify = (): void => {
      const hook = this.options.upgrade;
      if (!hook) {
        this.#complete(pending, protocols, undefined, onOpen);
        return;
      }
      let decision: UpgradeDecision | void | Promise<UpgradeDecision | void>;
      try {
        decision = hook(request);
      } catch (error) {
        this.#hookFailed(pending, error);
        return;
      }
      if (decision instanceof Promise) {
        decision.then(
          (value) => this.#complete(pending, protocols, value ?? undefined, onOpen),
          (error: unknown) => this.#hookFailed(pending, error),
        );
      } else {
        this.#complete(pending, protocols, decision ?? undefined, onOpen);
      }
    };

    const verify = this.options.verifyClient;
    if (!verify) {
      afterVerify();
      return;
    }
    const info = { origin: request.headers.origin, secure: false, req: request };
    if (verify.length >= 2) {
      type Callback = (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;
      (verify as (i: typeof info, cb: Callback) => void)(info, (ok, code = 401, message, headers) => {
        if (ok) afterVerify();
        else this.#reject(pending, { action: 'reject', status: code, body: message, headers });
      });
    } else if ((verify as (i: typeof info) => boolean)(info)) {
      afterVerify();
    } else {
      this.#reject(pending, { action: 'reject', status: 401 });
    }
  }

  #reject(pending: PendingHandshake, decision: Rejection): void {
    if (!pending.alive()) return;
    const status = Number.isInteger(decision.status) && decision.status >= 400 && decision.status <= 599 ? decision.status : 500;
    pending.reject(status, decision.headers, decision.body ?? '');
  }

  #hookFailed(pending: PendingHandshake, error: unknown): void {
    this.#reject(pending, { action: 'reject', status: 500 });
    this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  #complete(
    pending: PendingHandshake,
    protocols: ReadonlySet<string>,
    decision: UpgradeDecision | undefined,
    onOpen: (socket: WebSocket) => void,
  ): void {
    if (!pending.alive()) return; // the client left while we decided
    if (this.#state !== State.RUNNING) decision = { action: 'reject', status: 503 };
    if (decision?.action === 'reject') {
      this.#reject(pending, decision);
      return;
    }
    let protocol = '';
    if (decision?.protocol !== undefined) {
      protocol = decision.protocol;
    } else if (protocols.size > 0) {
      const chosen = this.options.handleProtocols
        ? this.options.handleProtocols(protocols as Set<string>, pending.request)
        : protocols.values().next().value;
      if (chosen) protocol = chosen;
    }
    const lines = decision?.headers ? headerLines(decision.headers) : [];
    if (this.listenerCount('headers') > 0) this.emit('headers', lines, pending.request);
    if ((protocol && !isToken(protocol)) || !lines.every(isValidHeaderLine)) {
      this.#hookFailed(pending, new TypeError('Invalid subprotocol or response header for the 101 answer'));
      return;
    }
    const id = pending.accept(protocol, lines.length ? joinHeaderLines(lines) : '');
    if (id === undefined) return;
    this.scheduleFlush();
    const [slot, generation] = id;
    const socket = new WebSocket(this, slot, generation, protocol);
    this.#sockets[slot] = socket;
    this.clients?.add(socket);
    onOpen(socket);
  }

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

// A pending upgrade of the core's own listener (a class, not closures: one object per handshake).
class QueuedHandshake implements PendingHandshake {
  constructor(
    private readonly server: WebSocketServer,
    private readonly slot: number,
    private readonly generation: number,
    readonly request: UpgradeRequest,
  ) {}

  alive(): boolean {
    return this.server._isPending(this.slot, this.generation);
  }

  accept(protocol: string, lines: string): [number, number] | undefined {
    return this.server._acceptQueued(this.slot, this.generation, protocol, lines) ? [this.slot, this.generation] : undefined;
  }

  reject(status: number, headers: Record<string, string> | undefined, body: string): void {
    this.server._rejectQueued(this.slot, this.generation, { action: 'reject', status, headers, body });
  }
}
