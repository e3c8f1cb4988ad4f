// The socket a 'wsClientError' listener answers on, for a request the core refused on its own
// listener. ws hands such a listener the raw net.Socket; here the connection lives in the core,
// which holds it unanswered (nothing sent, input discarded) until the listener writes and ends
// it, destroys it, or the handshake timeout closes it. Only the writing half of a Duplex: the
// listener answers, it does not read.
import type { Core } from './core';
import type { RequestSocketInfo } from './request';

type Callback = (error?: Error | null) => void;

export class RefusedSocket implements RequestSocketInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  readonly #core: Core;
  readonly #slot: number;
  readonly #generation: number;
  #writable = true;
  #destroyed = false;

  /** @internal */
  constructor(core: Core, slot: number, generation: number, info: RequestSocketInfo) {
    this.#core = core;
    this.#slot = slot;
    this.#generation = generation;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.remoteFamily = info.remoteFamily;
  }

  /** False once ended or destroyed (or once the core let the connection go). */
  get writable(): boolean {
    return this.#writable;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Queues raw bytes (an HTTP response, typically); false if the connection is gone. */
  write(chunk: string | Uint8Array, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    const done = typeof encoding === 'function' ? encoding : callback;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk);
    const ok = this.#writable && this.#core.writeRefusal(this.#slot, this.#generation, bytes);
    if (!ok) this.#writable = false;
    if (done) process.nextTick(done, ok ? null : new Error('The refused connection is gone'));
    return ok;
  }

  /** Writes `chunk` if given, then sends what was written and closes the connection. */
  end(chunk?: string | Uint8Array | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    const done = [chunk, encoding, callback].find((value): value is Callback => typeof value === 'function');
    if (chunk !== undefined && typeof chunk !== 'function') this.write(chunk, typeof encoding === 'string' ? encoding : undefined);
    if (this.#writable) this.#core.endRefusal(this.#slot, this.#generation);
    this.#writable = false;
    if (done) process.nextTick(done);
    return this;
  }

  /** Closes the connection at once, sending nothing more. */
  destroy(): this {
    if (!this.#destroyed) this.#core.terminate(this.#slot, this.#generation);
    this.#writable = false;
    this.#destroyed = true;
    return this;
  }
}
