// One server-side connection. A plain object holding the connection's id (slot + generation):
// every call goes straight to the native core, which frames into the connection's output; the
// bytes leave in one write per connection at the end of the batch or of the current tick.
import { CLOSED, CLOSING, CONNECTING, isSendableCloseCode, OPEN, type ReadyState } from './constants';
import { type Core, SEND_DROPPED } from './core';
import { BackpressureError, type WebSocketError } from './errors';
import { LeanEventEmitter } from './lean-event-emitter';
import type { PublishOptions, Topics } from './topics';

/** @internal What a WebSocket needs from the server that owns it (one object per server). */
export interface ConnectionHost {
  readonly core: Core;
  readonly maxBackpressure: number;
  readonly topics: Topics;
}

export type SendCallback = (error?: Error) => void;

export interface SendOptions {
  /** Send as binary even for a string (default: strings are text, everything else binary). */
  binary?: boolean;
  /** false sends a fragment; the message ends with a later send whose fin is true (default true). */
  fin?: boolean;
  /** Accepted for ws compatibility; server frames are never masked. */
  mask?: boolean;
  /**
   * With permessage-deflate agreed, false sends this message uncompressed (default true; messages
   * under the threshold always go uncompressed). For a fragmented message the first send decides.
   */
  compress?: boolean;
}

export type BinaryType = 'nodebuffer' | 'arraybuffer';

export type WebSocketData = string | Buffer | ArrayBuffer | ArrayBufferView;

export interface WebSocketEvents {
  message: [data: Buffer | ArrayBuffer, isBinary: boolean];
  ping: [data: Buffer];
  pong: [data: Buffer];
  close: [code: number, reason: Buffer];
  error: [error: WebSocketError];
  drain: [];
}

const kNotOpen = 'WebSocket is not open';
// WebSocket's #state: the ReadyState in the two low bits, then flags.
const kReadyStateMask = 3;
const kFragmenting = 4; // a send() with fin: false started a message that is not finished
const kErrorEmitted = 8;
const kDeflate = 16; // permessage-deflate was agreed

// A plain function, not a private method: private methods cost every instance a field.
function withReadyState(state: number, readyState: ReadyState): number {
  return (state & ~kReadyStateMask) | readyState;
}

/** @internal */
export function toBytes(data: WebSocketData): string | Uint8Array {
  const value: unknown = data;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return new Uint8Array(value);
  if (typeof value === 'number') return String(value); // ws stringifies numbers
  throw new TypeError('The data argument must be a string, Buffer, ArrayBuffer or ArrayBufferView');
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

export class WebSocket extends LeanEventEmitter {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  // On the prototype, not on each instance: an idle connection's object stays small.
  get CONNECTING(): typeof CONNECTING {
    return CONNECTING;
  }
  get OPEN(): typeof OPEN {
    return OPEN;
  }
  get CLOSING(): typeof CLOSING {
    return CLOSING;
  }
  get CLOSED(): typeof CLOSED {
    return CLOSED;
  }
  /** The extensions agreed in the handshake, as ws reports them ("permessage-deflate" or ""). */
  get extensions(): string {
    return this.#state & kDeflate ? 'permessage-deflate' : '';
  }

  /** The subprotocol the server selected, or "". */
  readonly protocol: string;
  /** How messages are handed out: 'nodebuffer' (default) or 'arraybuffer'. */
  declare binaryType: BinaryType;

  // Few fields, each a small integer or a shared reference: a server holds one of these per
  // connection (see LeanEventEmitter for the listener table).
  #host: ConnectionHost;
  #slot: number;
  #generation: number;
  #state: number = OPEN; // ReadyState in the low bits, plus the k* flags below
  #lastBufferedAmount = 0;

  /** @internal Created by WebSocketServer for each accepted connection. */
  constructor(host: ConnectionHost, slot: number, generation: number, protocol: string, deflate = false) {
    super();
    this.#host = host;
    this.#slot = slot;
    this.#generation = generation;
    this.protocol = protocol;
    if (deflate) this.#state |= kDeflate;
  }

  get readyState(): ReadyState {
    return (this.#state & kReadyStateMask) as ReadyState;
  }

  /** Bytes queued for this connection that the kernel has not taken yet. */
  get bufferedAmount(): number {
    if (this.readyState === CLOSED) return this.#lastBufferedAmount;
    const amount = this.#host.core.bufferedAmount(this.#slot, this.#generation);
    return amount < 0 ? this.#lastBufferedAmount : amount;
  }

  /**
   * Queues a message. Returns true while the socket's queue is below maxBackpressure; false when
   * the queue is over it (the message was queued: wait for 'drain'), when the message was dropped
   * under the 'drop' policy, or when the socket is not open (`cb` then gets an error). Never throws
   * for a closed socket.
   */
  send(data: WebSocketData, options?: SendOptions | SendCallback, cb?: SendCallback): boolean {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    const bytes = toBytes(data);
    const binary = options?.binary ?? typeof bytes !== 'string';
    const fin = options?.fin ?? true;
    const opcodes = this.#host.core.opcodes;
    let opcode = this.#state & kFragmenting ? opcodes.CONTINUATION : binary ? opcodes.BINARY : opcodes.TEXT;
    if (this.#state & kDeflate && options?.compress !== false) opcode |= this.#host.core.sendCompress;
    if (!this._queue(bytes, opcode, fin, cb)) return false;
    this.#state = fin ? this.#state & ~kFragmenting : this.#state | kFragmenting;
    return true;
  }

  ping(data?: WebSocketData, mask?: boolean | SendCallback, cb?: SendCallback): boolean {
    return this._control(this.#host.core.opcodes.PING, data, mask, cb);
  }

  pong(data?: WebSocketData, mask?: boolean | SendCallback, cb?: SendCallback): boolean {
    return this._control(this.#host.core.opcodes.PONG, data, mask, cb);
  }

  /** Starts the closing handshake. The 'close' event follows once the TCP connection is down. */
  close(code?: number, reason?: string | Buffer): void {
    if (this.readyState === CLOSED || this.readyState === CLOSING) return;
    if (code !== undefined && !isSendableCloseCode(code)) {
      throw new TypeError(`First argument must be a valid error code number, got ${String(code)}`);
    }
    const reasonText = reason === undefined ? '' : typeof reason === 'string' ? reason : reason.toString('utf8');
    const maxReason = this.#host.core.maxControlPayload - 2; // after the two-byte code
    if (Buffer.byteLength(reasonText) > maxReason) {
      throw new RangeError(`The message must not be greater than ${maxReason} bytes`);
    }
    if (code === undefined && reasonText) {
      throw new TypeError('A close reason needs a close code');
    }
    this.#state = withReadyState(this.#state, CLOSING);
    this.#host.core.close(this.#slot, this.#generation, code ?? 0, reasonText);
  }

  /** Drops the connection at once, without a closing handshake ('close' reports 1006). */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    this.#state = withReadyState(this.#state, CLOSING);
    this.#host.core.terminate(this.#slot, this.#generation);
  }

  /**
   * Subscribes this socket to `topic` (a string of at most 1024 bytes of UTF-8). Returns whether
   * it changed anything: false when already subscribed or when the socket is not open. A socket's
   * subscriptions end when it closes.
   */
  subscribe(topic: string): boolean {
    return this.#host.topics.subscribe(this.#slot, this.#generation, topic);
  }

  /** Ends a subscription; returns whether the socket was subscribed. */
  unsubscribe(topic: string): boolean {
    return this.#host.topics.unsubscribe(this.#slot, this.#generation, topic);
  }

  isSubscribed(topic: string): boolean {
    return this.#host.topics.isSubscribed(this.#slot, this.#generation, topic);
  }

  /** The topics this socket subscribes to (a new array; empty once it is closed). */
  get subscriptions(): string[] {
    return this.#host.topics.subscriptions(this.#slot, this.#generation);
  }

  /**
   * Publishes to every subscriber of `topic` except this socket (see WebSocketServer#publish).
   * Works from a closed socket too (e.g. announcing its leave from its 'close' handler). Returns
   * the number of sockets the message was queued for.
   */
  publish(topic: string, data: WebSocketData, options?: PublishOptions): number {
    return this.#host.topics.publish(topic, toBytes(data), options, this.#slot, this.#generation);
  }

  // TypeScript-private rather than #private: #methods cost every instance a field (V8's brand).
  /** @internal */
  private _control(opcode: number, data: WebSocketData | undefined, mask: boolean | SendCallback | undefined, cb?: SendCallback) {
    if (typeof mask === 'function') cb = mask;
    const bytes = data === undefined ? Buffer.alloc(0) : toBytes(data);
    const limit = this.#host.core.maxControlPayload;
    if (byteLength(bytes) > limit) {
      throw new RangeError(`The data size must not be greater than ${limit} bytes`);
    }
    return this._queue(bytes, opcode, true, cb);
  }

  /** @internal */
  private _queue(bytes: string | Uint8Array, opcode: number, fin: boolean, cb: SendCallback | undefined): boolean {
    const readyState = this.readyState;
    if (readyState !== OPEN) {
      if (cb) {
        const error = new Error(`${kNotOpen}: readyState ${readyState} (${['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'][readyState]})`);
        process.nextTick(cb, error);
      }
      return false;
    }
    const buffered = this.#host.core.send(this.#slot, this.#generation, bytes, opcode, fin);
    if (buffered === SEND_DROPPED) {
      if (cb) process.nextTick(cb, new BackpressureError());
      return false;
    }
    if (buffered < 0) {
      if (cb) process.nextTick(cb, new Error(`${kNotOpen}: the connection is closing`));
      return false;
    }
    this.#lastBufferedAmount = buffered;
    // The bytes are in the connection's output now (as ws's are in the socket's buffer). The
    // callback runs from setImmediate, after the flush at the end of this batch or tick has
    // tried to write them; it does not wait for the kernel to take every byte.
    if (cb) setImmediate(cb);
    const limit = this.#host.maxBackpressure;
    return limit === 0 || buffered < limit;
  }

  /** @internal */
  _emitError(error: WebSocketError): void {
    if (this.#state & kErrorEmitted) return;
    this.#state = withReadyState(this.#state | kErrorEmitted, CLOSING);
    // A protocol error from a hostile peer must not take the process down: it is reported to
    // listeners if there are any (ws would throw without one).
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** @internal */
  _emitClose(code: number, reason: Buffer): void {
    this.#state = withReadyState(this.#state, CLOSED);
    this.emit('close', code, reason);
  }

  /** @internal Whether this object stands for that occupant of its slot. */
  _hasGeneration(generation: number): boolean {
    return this.#generation === generation;
  }

  // Typed overloads of the EventEmitter methods users call most.
  override on<E extends keyof WebSocketEvents>(event: E, listener: (...args: WebSocketEvents[E]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
  override once<E extends keyof WebSocketEvents>(event: E, listener: (...args: WebSocketEvents[E]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this;
  override once(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }
}

// The default lives on the prototype; assigning binaryType creates the instance's own property.
Object.defineProperty(WebSocket.prototype, 'binaryType', { value: 'nodebuffer', writable: true, enumerable: true });
