// The pump between the core's stream connections and the Node sockets that carry them (a
// TLSSocket of an https.Server or of the `tls` option's tls.Server, a Unix socket, any Duplex).
// Node keeps the socket and its encryption; the core runs the protocol (handshake checks, frames,
// limits, timeouts, close handshake) exactly as over its own fds. This file only moves bytes:
//
//   socket 'data' ──► core.feed        (the socket is paused while the core holds 1 MiB unread:
//                                       DELIVERY RESUME_INPUT resumes it, as a full receive buffer)
//   socket 'end' / 'error' / 'close' ──► core.endStream (clean, or failed: the core's 1006 path)
//   core deliveries (after every turn and every flush, only for streams with something):
//     bytes ──► socket.write; false pauses the stream's output in the core, 'drain' resumes it,
//               so a socket that does not drain fills the stream's window and the connection meets
//               the core's backpressure, read pause and DRAIN rules, as a full TCP send buffer does
//     WRITE_SHUT ──► socket.end()          CLOSED ──► end what is written, then destroy
import type { Duplex } from 'node:stream';

import type { Core, StreamPeer } from './core';
import type { StreamDeliveries } from './native';

/** The stream's send buffer in the core: what it hands over per turn at most. */
export const STREAM_WINDOW = 256 * 1024;

interface Bridged {
  readonly generation: number;
  readonly socket: Duplex;
  outputPaused: boolean;
  /** What the core was told of the socket's end: nothing yet, a clean end, or a break. */
  ended: 'no' | 'clean' | 'failed';
}

/** @internal */
export class StreamBridge {
  readonly #core: Core;
  readonly #lingerMs: number;
  readonly #streams = new Map<number, Bridged>();
  readonly #flags: { WRITE_SHUT: number; CLOSED: number; RESUME_INPUT: number };

  /** `lingerMs`: how long a closed stream's socket may take to write its last bytes. */
  constructor(core: Core, flags: { WRITE_SHUT: number; CLOSED: number; RESUME_INPUT: number }, lingerMs: number) {
    this.#core = core;
    this.#flags = flags;
    this.#lingerMs = lingerMs;
    core.setStreamSink(this.#deliver);
  }

  /** Starts moving `socket`'s bytes for the core's connection (slot, generation). */
  attach(slot: number, generation: number, socket: Duplex): void {
    this.#streams.get(slot)?.socket.destroy(); // a stale one: the core released its slot
    const entry: Bridged = { generation, socket, outputPaused: false, ended: 'no' };
    this.#streams.set(slot, entry);
    const core = this.#core;
    // A break after a clean end still goes to the core: the peer's FIN does not end the
    // connection (the server may still write), but a socket that then errs or closes can take no
    // more output, and a connection waiting to hand some over would otherwise wait for good.
    const ended = (failed: boolean): void => {
      if (entry.ended === 'failed' || (entry.ended === 'clean' && !failed)) return;
      entry.ended = failed ? 'failed' : 'clean';
      core.endStream(slot, generation, failed);
    };
    socket.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (core.feed(slot, generation, bytes) === 'held') socket.pause();
    });
    socket.on('end', () => ended(false));
    socket.on('error', () => {
      ended(true);
      socket.destroy();
    });
    socket.on('close', () => ended(true)); // destroyed without an end: a reset, as far as the core knows
    socket.on('drain', () => {
      if (!entry.outputPaused) return;
      entry.outputPaused = false;
      core.pauseStreamOutput(slot, generation, false);
    });
    socket.resume(); // node:http left an upgraded socket not flowing
  }

  /** Sockets left when the core goes away (it is destroyed): nothing will serve them. */
  destroyAll(): void {
    for (const entry of this.#streams.values()) entry.socket.destroy();
    this.#streams.clear();
  }

  #deliver = (deliveries: StreamDeliveries): void => {
    const flags = this.#flags;
    for (let i = 0; i + 3 < deliveries.length; i += 4) {
      const slot = deliveries[i] as number;
      const entry = this.#streams.get(slot);
      if (entry === undefined || entry.generation !== deliveries[i + 1]) continue;
      const what = deliveries[i + 2] as number;
      const bytes = deliveries[i + 3] as Buffer | undefined;
      const socket = entry.socket;
      if (bytes !== undefined && socket.writable && !socket.write(bytes) && !entry.outputPaused) {
        entry.outputPaused = true;
        this.#core.pauseStreamOutput(slot, entry.generation, true);
      }
      if (what & flags.RESUME_INPUT) socket.resume();
      if (what & flags.WRITE_SHUT) socket.end();
      if (what & flags.CLOSED) {
        this.#streams.delete(slot);
        this.#finish(socket);
      }
    }
  };

  // The core is done with the connection: what was written still leaves (as the kernel still
  // sends a closed socket's buffer), bounded in time; then the socket goes.
  #finish(socket: Duplex): void {
    if (socket.destroyed) return;
    if (socket.writableLength === 0) {
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), this.#lingerMs);
    timer.unref?.();
    socket.once('finish', () => {
      clearTimeout(timer);
      socket.destroy();
    });
    if (socket.writable) socket.end(); // else WRITE_SHUT ended it already
  }
}

/** A stream's peer as the core wants it. */
export function peerOf(socket: Duplex): StreamPeer {
  const net = socket as unknown as { remoteAddress?: string; remotePort?: number };
  const address = net.remoteAddress ?? '';
  return { address, port: net.remotePort ?? 0, family: address.includes(':') ? 6 : 4 };
}
