// Taking over sockets that node:http upgraded ({ server } / { noServer } + handleUpgrade): the
// request is checked here (RFC 6455 §4.2.1; the core checks its own listeners' requests), node
// stops reading the socket, the decision runs, and on accept the core adopts a dup of the fd.
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Core } from './core';
import { SystemError, WebSocketError } from './errors';
import { decideUpgrade, type DecisionHost, type OnAccepted, type PendingHandshake } from './handshake';
import { headerLines, isValidHeaderLine } from './headers';
import type { UpgradeRequest } from './request';

const KEY = /^[+/0-9A-Za-z]{22}==$/;

interface HandshakeProblem {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/** RFC 6455 §4.2.1 checks on a request node:http parsed. */
export function checkUpgradeRequest(request: UpgradeRequest): HandshakeProblem | undefined {
  const headers = request.headers;
  if (request.method !== 'GET') return { status: 405, message: 'Invalid HTTP method' };
  if ((headers.upgrade ?? '').toLowerCase().split(',').every((token) => token.trim() !== 'websocket')) {
    return { status: 400, message: 'Invalid Upgrade header' };
  }
  const key = headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key.trim())) {
    return { status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' };
  }
  if (headers['sec-websocket-version'] !== '13') {
    return { status: 426, message: 'Unsupported WebSocket version', headers: { 'Sec-WebSocket-Version': '13' } };
  }
  return undefined;
}

/** Answers an upgrade on a node:http socket with an HTTP error and closes it. `lines` must be valid. */
function abortHandshake(socket: Duplex, status: number, message?: string, lines: string[] = []): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const body = message ?? STATUS_CODES[status] ?? '';
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    'Connection: close',
    'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...lines,
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

interface HandleWithFd {
  fd?: number;
  readStop?: () => number;
}

/** Node's TCP handle of a socket, where its file descriptor can be read (Linux, plain TCP). */
function socketHandle(socket: Duplex): HandleWithFd | undefined {
  const handle = (socket as unknown as { _handle?: HandleWithFd | null })._handle;
  return handle ?? undefined;
}

/** True for TLS sockets, which the native reactor cannot serve (it does not terminate TLS). */
function isEncrypted(socket: Duplex): boolean {
  return (socket as unknown as { encrypted?: boolean }).encrypted === true;
}

/** The node:http side of one server: the sockets awaiting a decision, and the attached server. */
export class HttpTakeover {
  readonly #core: Core;
  readonly #host: DecisionHost;
  readonly #adopting = new Set<Duplex>();

  constructor(core: Core, host: DecisionHost) {
    this.#core = core;
    this.#host = host;
  }

  /** Serves `server`'s upgrades (the { server } mode); returns what undoes it. */
  attach(server: HttpServer, onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): () => void {
    const events = this.#host.events;
    const onListening = (): void => {
      events.emit('listening');
    };
    const onError = (error: Error): void => {
      events.emit('error', error);
    };
    server.on('listening', onListening);
    server.on('error', onError);
    server.on('upgrade', onUpgrade);
    return () => {
      server.off('listening', onListening);
      server.off('error', onError);
      server.off('upgrade', onUpgrade);
    };
  }

  /** handleUpgrade's body: `shouldHandle` is the server's path rule. */
  takeOver(request: IncomingMessage, socket: Duplex, head: Buffer, shouldHandle: boolean, onAccepted: OnAccepted): void {
    const upgrade = request as unknown as UpgradeRequest;
    socket.on('error', () => socket.destroy());
    if (isEncrypted(socket)) {
      abortHandshake(socket, 501, 'epollws does not serve TLS connections yet');
      const error = Object.assign(new Error('epollws cannot take over TLS sockets (https.Server) yet'), { code: 'EPOLLWS_TLS_UNSUPPORTED' });
      this.#host.events.emit('error', error);
      return;
    }
    const handle = socketHandle(socket);
    if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) {
      abortHandshake(socket, 500, 'Socket cannot be taken over');
      return;
    }
    const problem = checkUpgradeRequest(upgrade) ?? (shouldHandle ? undefined : { status: 400, message: 'Path not served' });
    if (problem) {
      this.#refuse(socket, upgrade, problem);
      return;
    }
    // Read the addresses while node's handle is open: net.Socket caches them, so that
    // request.socket.remoteAddress (ws's FAQ) still answers after the socket is destroyed.
    const net = socket as unknown as { remoteAddress?: string; localAddress?: string };
    void net.remoteAddress;
    void net.localAddress;
    // Stop node:http reading from the socket: from now on every byte belongs to the reactor.
    handle.readStop?.();
    this.#adopting.add(socket);
    decideUpgrade(this.#host, this.#pending(upgrade, socket, head), onAccepted);
  }

  /** Answers every socket still awaiting its decision (a shutdown). */
  refuseAll(status: number): void {
    for (const socket of [...this.#adopting]) {
      this.#adopting.delete(socket);
      abortHandshake(socket, status);
    }
  }

  // ws's rule on this path: a wsClientError listener answers the socket itself.
  #refuse(socket: Duplex, request: UpgradeRequest, problem: HandshakeProblem): void {
    const events = this.#host.events;
    if (events.listenerCount('wsClientError') > 0) {
      events.emit('wsClientError', new WebSocketError(problem.message, 'WS_ERR_INVALID_HANDSHAKE', problem.status), socket, request);
    } else {
      abortHandshake(socket, problem.status, problem.message, headerLines(problem.headers).filter(isValidHeaderLine));
    }
  }

  #pending(request: UpgradeRequest, socket: Duplex, head: Buffer): PendingHandshake {
    const adopting = this.#adopting;
    return {
      request,
      offeredProtocols: () => request.headers['sec-websocket-protocol'],
      alive: () => !socket.destroyed && adopting.has(socket),
      accept: (protocol, lines) => {
        adopting.delete(socket);
        const buffered = socket.read() as Buffer | null; // bytes node read before readStop
        const frames = buffered ? Buffer.concat([head, buffered]) : head;
        const fd = socketHandle(socket)?.fd ?? -1;
        const key = (request.headers['sec-websocket-key'] ?? '').trim();
        const result = this.#core.adopt(fd, key, protocol, lines, frames);
        socket.destroy(); // closes node's copy of the fd only
        if (result.errno !== 0) {
          this.#host.events.emit('error', new SystemError(result.errno, 'dup'));
          return undefined;
        }
        return [result.slot, result.generation];
      },
      reject: (status, lines, body) => {
        adopting.delete(socket);
        abortHandshake(socket, status, body || undefined, lines);
      },
    };
  }
}
