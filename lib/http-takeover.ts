// Taking over sockets that node:http upgraded ({ server } / { noServer } + handleUpgrade). The
// socket enters the core BEFORE the user's decision: node stops reading it, the request head is
// rebuilt from node's parse (duplicates and order kept) and the core dup()s the fd and validates
// the head exactly as on its own listeners. From then on it is a core connection awaiting a
// decision like any other; node's copy of the fd is closed. A socket with no fd the core could
// read (TLS, a Duplex) stays Node's: the core runs the same checks on the rebuilt head and then
// the protocol over a stream (lib/stream-bridge.ts moves its bytes).
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Core } from './core';
import { SystemError, type WebSocketError } from './errors';
import type { DecisionHost } from './handshake';
import { peerOf, STREAM_WINDOW, type StreamBridge } from './stream-bridge';

interface HandleWithFd {
  fd?: number;
  readStop?: () => number;
}

/** Node's TCP handle of a socket, where its file descriptor can be read (Linux, plain TCP). */
function socketHandle(socket: Duplex): HandleWithFd | undefined {
  const handle = (socket as unknown as { _handle?: HandleWithFd | null })._handle;
  return handle ?? undefined;
}

/** True for TLS sockets: the fd carries ciphertext, so Node keeps the socket (a stream). */
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
  /** Not taken over (dup failed): the socket is destroyed and 'error' emitted. */
  | { kind: 'failed' };

/** The node:http side of one server: the attached server, and handing sockets to the core. */
export class HttpTakeover {
  readonly #core: Core;
  readonly #host: DecisionHost;
  readonly #streams: () => StreamBridge;

  constructor(core: Core, host: DecisionHost, streams: () => StreamBridge) {
    this.#core = core;
    this.#host = host;
    this.#streams = streams;
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
    if (isEncrypted(socket) || !handle || typeof handle.fd !== 'number' || handle.fd < 0) {
      return this.#takeStream(request, socket, head, servePath);
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

  // The same decision for a socket that Node keeps: the core's answer to a refused request goes
  // out through the bridge too, unless a wsClientError listener answers on the socket itself.
  #takeStream(request: IncomingMessage, socket: Duplex, head: Buffer, servePath: boolean): Takeover {
    const answerRefusal = this.#host.events.listenerCount('wsClientError') === 0;
    const bridge = this.#streams();
    const result = this.#core.adoptStream(requestHead(request), head, servePath, answerRefusal, peerOf(socket), STREAM_WINDOW);
    if (result.errno !== 0) {
      socket.destroy();
      this.#host.events.emit('error', new SystemError(result.errno, 'adopt'));
      return { kind: 'failed' };
    }
    if (result.failure === undefined || answerRefusal) bridge.attach(result.slot, result.generation, socket);
    if (result.failure !== undefined) return { kind: 'refused', error: result.failure, answered: answerRefusal };
    return { kind: 'pending', slot: result.slot, generation: result.generation };
  }
}
