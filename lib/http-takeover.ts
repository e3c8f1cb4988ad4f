// Taking over sockets that node:http upgraded ({ server } / { noServer } + handleUpgrade). The
// socket enters the core BEFORE the user's decision: node stops reading it, the request head is
// rebuilt from node's parse (duplicates and order kept) and the core dup()s the fd and validates
// the head exactly as on its own listeners. From then on it is a core connection awaiting a
// decision like any other; node's copy of the fd is closed.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Core } from './core';
import { SystemError, type WebSocketError } from './errors';
import type { DecisionHost } from './handshake';

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

/** The request head as the client sent it, near enough for the core's parser: node's parse, re-serialized. */
export function requestHead(request: IncomingMessage): Buffer {
  let head = `${request.method ?? ''} ${request.url ?? ''} HTTP/${request.httpVersion}\r\n`;
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  // Node decodes header bytes as latin1: this gives the same bytes back.
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/** What takeOver made of a socket. */
export type Takeover =
  | { kind: 'pending'; slot: number; generation: number }
  /** The core refused the request; `answered`: by the core, else the wsClientError listener must. */
  | { kind: 'refused'; error: WebSocketError; answered: boolean }
  /** Not taken over (TLS, no fd, dup failed): the socket is destroyed and 'error' emitted. */
  | { kind: 'failed' };

/** The node:http side of one server: the attached server, and handing sockets to the core. */
export class HttpTakeover {
  readonly #core: Core;
  readonly #host: DecisionHost;

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

  /**
   * Hands `socket` to the core with its request. `servePath` is the server's path rule
   * (shouldHandle). With a wsClientError listener a refused request is not answered by the core:
   * node's socket is left open for the listener (ws's rule); otherwise node's socket is closed.
   */
  takeOver(request: IncomingMessage, socket: Duplex, head: Buffer, servePath: boolean): Takeover {
    const events = this.#host.events;
    socket.on('error', () => socket.destroy());
    const handle = socketHandle(socket);
    const tls = isEncrypted(socket);
    if (tls || !handle || typeof handle.fd !== 'number' || handle.fd < 0) {
      socket.destroy();
      const message = tls ? 'epollws cannot take over TLS sockets (https.Server) yet' : 'The upgraded socket has no file descriptor to take over';
      events.emit('error', Object.assign(new Error(message), { code: tls ? 'EPOLLWS_TLS_UNSUPPORTED' : 'EPOLLWS_NO_FD' }));
      return { kind: 'failed' };
    }
    // Read the addresses while node's handle is open: net.Socket caches them, so that
    // request.socket.remoteAddress (ws's FAQ) still answers after the socket is destroyed.
    const net = socket as unknown as { remoteAddress?: string; localAddress?: string };
    void net.remoteAddress;
    void net.localAddress;
    // Stop node:http reading from the socket: from now on every byte belongs to the core.
    handle.readStop?.();
    const buffered = socket.read() as Buffer | null; // bytes node read before readStop
    const rest = buffered ? Buffer.concat([head, buffered]) : head;
    const answerRefusal = events.listenerCount('wsClientError') === 0;
    const result = this.#core.adoptHandshake(handle.fd, requestHead(request), rest, servePath, answerRefusal);
    if (result.errno !== 0) {
      socket.destroy();
      events.emit('error', new SystemError(result.errno, 'dup'));
      return { kind: 'failed' };
    }
    if (result.failure !== undefined) {
      if (answerRefusal) socket.destroy(); // closes node's copy of the fd; the core answers on its own
      return { kind: 'refused', error: result.failure, answered: answerRefusal };
    }
    socket.destroy(); // node's copy of the fd only: the connection lives on in the core
    return { kind: 'pending', slot: result.slot, generation: result.generation };
  }
}
