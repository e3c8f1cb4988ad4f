// The `tls` option: wss:// on the server's own ports. Today this is node:tls: one tls.Server per
// port decrypts, and each secured socket becomes a core stream (lib/stream-bridge.ts) that starts
// with the opening handshake, so the core reads the request head exactly as on its own listeners
// (same checks, statuses, limits, UPGRADE event, timeouts, close handshake). The cost against a
// plain port is node:tls's: OpenSSL work per record plus one JS crossing per socket read and per
// turn's output (see README, "TLS"). Native TLS on the core's own listeners is issue #13 §1.
//
// SNI: entries with a `serverName` (and addServerName) are looked up per ClientHello, exact name
// first, then '*.' + the parent domain; anything else gets the default context, which
// setSecureContext replaces for new handshakes while open connections keep theirs.
import type { EventEmitter } from 'node:events';
import * as tls from 'node:tls';

import type { Core } from './core';
import type { TlsOptions, TlsServerNameOptions } from './options';
import { peerOf, STREAM_WINDOW, type StreamBridge } from './stream-bridge';

/** What the listeners need from their WebSocketServer. */
export interface TlsHost {
  readonly core: Core;
  readonly bridge: () => StreamBridge;
  /** 'listening' and 'error' go here. */
  readonly events: EventEmitter;
}

export interface TlsAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** @internal */
export class TlsListeners {
  readonly #host: TlsHost;
  readonly #servers: tls.Server[] = [];
  readonly #names = new Map<string, tls.SecureContext>();
  readonly #defaults: tls.TlsOptions;

  constructor(host: TlsHost, entries: (TlsOptions | TlsServerNameOptions)[], handshakeTimeout: number) {
    this.#host = host;
    let defaults: TlsOptions | undefined;
    for (const entry of entries) {
      if ('serverName' in entry && typeof entry.serverName === 'string') {
        this.addServerName(entry.serverName, entry);
      } else {
        defaults ??= entry;
      }
    }
    this.#defaults = {
      ALPNProtocols: ['http/1.1'],
      ...(defaults ?? stripName(entries[0] as TlsServerNameOptions)),
      // The TLS handshake gets the opening handshake's bound; the core's own deadline then covers the HTTP part.
      handshakeTimeout: handshakeTimeout > 0 ? handshakeTimeout : 120_000,
      SNICallback: (name, callback) => callback(null, this.#lookup(name)),
    };
  }

  /** Binds every port; 'listening' once all are bound, 'error' (and nothing bound) otherwise. */
  listen(host: string, ports: number[], backlog: number, onBound: (addresses: TlsAddress[]) => void): void {
    let pending = ports.length;
    let failed = false;
    for (const port of ports) {
      const server = tls.createServer(this.#defaults, (socket) => this.#serve(socket));
      // A ClientHello that is not one (plaintext HTTP, garbage, a truncated record) or a handshake
      // past its timeout: nothing reached the core. node only reports a timeout (the socket would
      // stay open for good), so the socket goes here.
      server.on('tlsClientError', (_error, socket) => socket.destroy());
      server.once('error', (error) => {
        if (failed) return;
        failed = true;
        this.close();
        this.#host.events.emit('error', error);
      });
      this.#servers.push(server);
      server.listen({ port, host: host || undefined, backlog }, () => {
        if (failed || --pending > 0) return;
        onBound(this.addresses());
      });
    }
  }

  addresses(): TlsAddress[] {
    const out: TlsAddress[] = [];
    for (const server of this.#servers) {
      const bound = server.address();
      if (bound !== null && typeof bound === 'object') {
        out.push({ address: bound.address, family: bound.family === 'IPv6' ? 'IPv6' : 'IPv4', port: bound.port });
      }
    }
    return out;
  }

  /** Serves `name` with its own certificate (SNI). */
  addServerName(name: string, options: tls.SecureContextOptions): void {
    this.#names.set(name.toLowerCase(), tls.createSecureContext(stripName(options as TlsServerNameOptions)));
  }

  removeServerName(name: string): void {
    this.#names.delete(name.toLowerCase());
  }

  /** New handshakes use these; open connections keep the context they were made with. */
  setSecureContext(options: tls.SecureContextOptions): void {
    for (const server of this.#servers) server.setSecureContext(options);
  }

  /** Stops accepting; connections already served stay until the core closes them. */
  close(): void {
    for (const server of this.#servers) server.close();
    this.#servers.length = 0;
  }

  #lookup(name: string): tls.SecureContext | undefined {
    const lower = name.toLowerCase();
    const exact = this.#names.get(lower);
    if (exact !== undefined) return exact;
    const dot = lower.indexOf('.');
    return dot > 0 ? this.#names.get(`*${lower.slice(dot)}`) : undefined;
  }

  #serve(socket: tls.TLSSocket): void {
    const { core } = this.#host;
    const bridge = this.#host.bridge();
    const { slot, generation } = core.attachStream(peerOf(socket), STREAM_WINDOW);
    if (slot === 0xffffffff) {
      socket.destroy(); // no slot for it (the core could not add the connection)
      return;
    }
    bridge.attach(slot, generation, socket);
  }
}

function stripName(options: TlsServerNameOptions | TlsOptions): TlsOptions {
  const { serverName: _ignored, ...rest } = options as TlsServerNameOptions;
  return rest;
}
