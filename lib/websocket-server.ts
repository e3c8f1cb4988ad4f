// WebSocketServer: ws's server API over the native core. The core accepts, parses and frames;
// this class turns each batch of core events into EventEmitter events and runs the upgrade
// decision (handleProtocols, verifyClient, the async `upgrade` hook) before accepting.
import { EventEmitter } from 'node:events';

import { native as K, OPEN } from './constants';
import { SystemError, WebSocketError } from './errors';
import { binding, type NativeServer } from './native';
import { normalizeOptions, type NormalizedOptions, type ServerOptions, type UpgradeDecision } from './options';
import { parseUpgradePayload, type RequestSocketInfo, type UpgradeRequest } from './request';
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
  wsClientError: [error: WebSocketError, socket: RequestSocketInfo, request: UpgradeRequest | undefined];
}

const enum State {
  RUNNING,
  CLOSING,
  CLOSED,
}

// RFC 7230 token characters, for subprotocol names and header names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function parseProtocols(header: string): Set<string> | null {
  const protocols = new Set<string>();
  for (const part of header.split(',')) {
    const name = part.trim();
    if (!TOKEN.test(name) || protocols.has(name)) return null;
    protocols.add(name);
  }
  return protocols;
}

function headerLines(headers: Record<string, string> | undefined): string[] {
  if (!headers) return [];
  return Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
}

function validHeaderLine(line: string): boolean {
  const colon = line.indexOf(':');
  return colon > 0 && TOKEN.test(line.slice(0, colon)) && FIELD_VALUE.test(line.slice(colon + 1));
}

function joinHeaderLines(lines: string[]): string {
  return lines.length ? `${lines.join('\r\n')}\r\n` : '';
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
  #generations: number[] = [];
  #pending = new Map<number, number>(); // slot -> generation of upgrades awaiting a decision
  #inBatch = false;
  #flushScheduled = false;

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
        path: this.options.path,
      },
      this.#onBatch,
    );
    if (callback) this.once('listening', callback);
    this.#listen();
  }

  /** The first listening address, like net.Server#address(); null once closed. */
  address(): AddressInfo | null {
    return this.#addresses[0] ?? null;
  }

  /** Every listening address (one per port). */
  addresses(): AddressInfo[] {
    return this.#addresses.slice();
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

  #shutdown(immediately: boolean, callback: ((error?: Error) => void) | undefined): Promise<void> {
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (callback) this.once('close', () => callback());
    if (this.#state === State.CLOSED) {
      process.nextTick(() => this.emit('close'));
      return closed;
    }
    if (this.#state === State.CLOSING && !immediately) return closed;
    this.#state = State.CLOSING;
    this.native.stopListening();
    this.#addresses = [];
    for (const [slot, generation] of [...this.#pending]) {
      this.#reject(slot, generation, { action: 'reject', status: 503 });
    }
    if (immediately) {
      this.native.dropConnections(false);
    } else {
      this.native.dropConnections(true);
      for (const socket of this.#sockets) {
        if (socket?.readyState === OPEN) socket.close(1001, 'Server shutting down');
      }
    }
    this.#maybeFinishClose();
    return closed;
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

  // Called whenever a connection goes away: a shutdown completes with the last one.
  #maybeFinishClose(): void {
    if (this.#state !== State.CLOSING || this.native.connectionCount() > 0) return;
    this.#state = State.CLOSED;
    // Not from inside a batch: the binding is still using the core there.
    setImmediate(() => this.native.destroy());
    process.nextTick(() => this.emit('close'));
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
      if (socket === undefined || this.#generations[slot] !== generation) return;
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
        this.#onUpgrade(slot, generation, parseUpgradePayload(payload));
        return;
      case K.EVENT_CLIENT_ERROR:
        this.#onClientError(arg, payload);
        return;
      case K.EVENT_IDLE:
        this.#maybeFinishClose();
        return;
      case K.EVENT_LISTEN_ERROR: {
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
    if (socket === undefined || this.#generations[slot] !== generation) return;
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

  #onUpgrade(slot: number, generation: number, request: UpgradeRequest): void {
    if (this.#state !== State.RUNNING) {
      this.#reject(slot, generation, { action: 'reject', status: 503 });
      return;
    }
    const protocolHeader = request.headers['sec-websocket-protocol'];
    const protocols = protocolHeader === undefined ? new Set<string>() : parseProtocols(protocolHeader);
    if (protocols === null) {
      this.#refuseInvalid(slot, generation, request, 'Invalid Sec-WebSocket-Protocol header');
      return;
    }
    this.#pending.set(slot, generation);

    const decideAfterVerify = (): void => {
      const hook = this.options.upgrade;
      if (!hook) {
        this.#complete(slot, generation, request, protocols, undefined);
        return;
      }
      let decision: UpgradeDecision | void | Promise<UpgradeDecision | void>;
      try {
        decision = hook(request);
      } catch (error) {
        this.#hookFailed(slot, generation, error);
        return;
      }
      if (decision instanceof Promise) {
        decision.then(
          (value) => this.#complete(slot, generation, request, protocols, value ?? undefined),
          (error: unknown) => this.#hookFailed(slot, generation, error),
        );
      } else {
        this.#complete(slot, generation, request, protocols, decision ?? undefined);
      }
    };

    const verify = this.options.verifyClient;
    if (!verify) {
      decideAfterVerify();
      return;
    }
    const info = { origin: request.headers.origin, secure: false, req: request };
    if (verify.length >= 2) {
      (verify as (i: typeof info, cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => void)(
        info,
        (ok, code = 401, message, headers) => {
          if (ok) decideAfterVerify();
          else this.#reject(slot, generation, { action: 'reject', status: code, body: message, headers });
        },
      );
    } else if ((verify as (i: typeof info) => boolean)(info)) {
      decideAfterVerify();
    } else {
      this.#reject(slot, generation, { action: 'reject', status: 401 });
    }
  }

  #refuseInvalid(slot: number, generation: number, request: UpgradeRequest, reason: string): void {
    this.#reject(slot, generation, { action: 'reject', status: 400, body: reason });
    if (this.listenerCount('wsClientError') > 0) {
      this.emit('wsClientError', new WebSocketError(reason, 'WS_ERR_INVALID_HANDSHAKE', 400), request.socket, request);
    }
  }

  #hookFailed(slot: number, generation: number, error: unknown): void {
    this.#reject(slot, generation, { action: 'reject', status: 500 });
    this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  #reject(slot: number, generation: number, decision: Extract<UpgradeDecision, { action: 'reject' }>): void {
    this.#pending.delete(slot);
    const lines = headerLines(decision.headers).filter(validHeaderLine);
    const status = Number.isInteger(decision.status) && decision.status >= 400 && decision.status <= 599 ? decision.status : 500;
    this.native.reject(slot, generation, status, joinHeaderLines(lines), decision.body ?? '');
    this.scheduleFlush();
  }

  #complete(
    slot: number,
    generation: number,
    request: UpgradeRequest,
    protocols: Set<string>,
    decision: UpgradeDecision | undefined,
  ): void {
    if (this.#pending.get(slot) !== generation) return; // the client left while we decided
    if (this.#state !== State.RUNNING) decision = { action: 'reject', status: 503 };
    if (decision?.action === 'reject') {
      this.#reject(slot, generation, decision);
      return;
    }
    let protocol = '';
    if (decision?.protocol !== undefined) {
      protocol = decision.protocol;
    } else if (protocols.size > 0) {
      const chosen = this.options.handleProtocols
        ? this.options.handleProtocols(protocols, request)
        : protocols.values().next().value;
      if (chosen) protocol = chosen;
    }
    const lines = headerLines(decision?.headers);
    if (this.listenerCount('headers') > 0) this.emit('headers', lines, request);
    if ((protocol && !TOKEN.test(protocol)) || !lines.every(validHeaderLine)) {
      this.#hookFailed(slot, generation, new TypeError('Invalid subprotocol or response header for the 101 answer'));
      return;
    }
    this.#pending.delete(slot);
    if (this.native.accept(slot, generation, protocol, '', joinHeaderLines(lines)) < 0) return;
    this.scheduleFlush();
    const socket = new WebSocket(this, slot, generation, protocol);
    this.#sockets[slot] = socket;
    this.#generations[slot] = generation;
    this.clients?.add(socket);
    this.emit('connection', socket, request);
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
