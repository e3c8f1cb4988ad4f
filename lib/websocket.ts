// One server-side connection. A plain object holding the connection's id (slot + generation):
// every call goes straight to the native core, which frames into the connection's output; the
// bytes leave in one write per connection at the end of the batch or of the current tick.
import { CLOSED, CLOSING, CONNECTING, isSendableCloseCode, OPEN, type ReadyState } from './constants';
import { type Core, SEND_DROPPED } from './core';
import { BackpressureError, notOpenError, type WebSocketError } from './errors';
import { LeanEventEmitter } from './lean-event-emitter';
import type { PublishOptions, Topics } from './topics';
import { PendingWrites } from './pending-writes';
import type { RequestSocketInfo } from './request';

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

/** ws's binaryTypes: 'fragments' is an array of Buffers (one: messages arrive whole), 'blob' a Blob. */
export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';

/** What ping() and pong() take. */
export type ControlData = string | Buffer | ArrayBuffer | ArrayBufferView;
/** What send() takes: a Blob is read first, and what is sent after it waits behind it. */
export type WebSocketData = ControlData | Blob;

export type MessageData = Buffer | ArrayBuffer | Buffer[] | Blob;

export interface WebSocketEvents {
  message: [data: MessageData, isBinary: boolean];
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
const kPaused = 32; // pause(): the core does not read it; messages already read are held
const kCloseEmitted = 64;
// Pre-encoded frames this large are queued by reference (the core's publish threshold too).
const SHARED_FRAME_MIN = 2 * 1024;

// What only some sockets need, behind one field (an idle socket pays for a pointer).
class SocketExtras {
  refused = 0; // bytes of sends refused once closing (ws counts them in bufferedAmount)
  writes: PendingWrites | undefined; // send callbacks waiting for the kernel
  held: [MessageData, boolean][] | undefined; // messages read before pause() took effect
  sendQueue: (() => Promise<void> | void)[] | undefined; // sends behind a Blob being read, in order
}

function toMessage(data: Buffer, binaryType: BinaryType): MessageData {
  if (binaryType === 'arraybuffer') return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  if (binaryType === 'fragments') return [data];
  if (binaryType === 'blob') return new Blob([data]);
  return data;
}

function isBlob(value: unknown): value is Blob {
  return typeof Blob !== 'undefined' && value instanceof Blob;
}

// A plain function, not a private method: private methods cost every instance a field.
function withReadyState(state: number, readyState: ReadyState): number {
  return (state & ~kReadyStateMask) | readyState;
}

/** @internal */
export function toBytes(data: ControlData): string | Uint8Array {
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
  #extras: SocketExtras | undefined;

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

  /**
   * Bytes queued for this connection that the kernel has not taken yet (0 until the user sends:
   * the 101 answer is not counted), plus, as in ws, the size of sends refused once closing.
   */
  get bufferedAmount(): number {
    const refused = this.#extras?.refused ?? 0;
    if (this.readyState === CLOSED) return this.#lastBufferedAmount + refused;
    const amount = this.#host.core.bufferedAmount(this.#slot, this.#generation);
    return (amount < 0 ? this.#lastBufferedAmount : amount) + refused;
  }

  /** Whether pause() is in effect. */
  get isPaused(): boolean {
    return (this.#state & kPaused) !== 0;
  }

  /** ws's `_socket` (engine.io reads its remoteAddress): the TCP peer, while the connection is open. */
  get _socket(): RequestSocketInfo | undefined {
    if (this.readyState === CLOSED) return undefined;
    return this.#host.core.peerAddress(this.#slot, this.#generation);
  }

  /**
   * ws's `_sender`, for engine.io: `sendFrame(frame, cb)` takes a frame ws's `Sender.frame()`
   * pre-encoded (socket.io's broadcasts) and queues its message like send().
   */
  get _sender(): { sendFrame(frame: readonly Uint8Array[], cb?: SendCallback): void } {
    return { sendFrame: (frame, cb) => this._sendFrame(frame, cb) };
  }

  /** Stops reading from the peer ('message' events wait) until resume(), as ws's pause(). */
  pause(): void {
    const readyState = this.readyState;
    if (readyState === CONNECTING || readyState === CLOSED) return;
    this.#state |= kPaused;
    this.#host.core.pauseReading(this.#slot, this.#generation, true);
  }

  /** Reading goes on; messages read before the pause are emitted first. */
  resume(): void {
    const readyState = this.readyState;
    if (readyState === CONNECTING || readyState === CLOSED || !(this.#state & kPaused)) return;
    this.#state &= ~kPaused;
    this._emitHeld();
    if (!(this.#state & kPaused)) this.#host.core.pauseReading(this.#slot, this.#generation, false);
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
    const queue = this.#extras?.sendQueue;
    if (queue === undefined && !isBlob(data)) return this._sendNow(data, options, cb);
    // A Blob is read first (asynchronously); what is sent after it waits behind it, in order.
    const sendOptions = options;
    const callback = cb;
    const step = isBlob(data)
      ? () =>
          data.arrayBuffer().then(
            (buffer) => {
              this._sendNow(new Uint8Array(buffer), { binary: true, ...sendOptions }, callback);
            },
            (error: unknown) => {
              if (callback) callback(error instanceof Error ? error : new Error(String(error)));
            },
          )
      : () => {
          this._sendNow(data, sendOptions, callback);
        };
    if (queue !== undefined) queue.push(step);
    else void this._runSendQueue(step);
    return true;
  }

  /** @internal send() once nothing waits before it. */
  private _sendNow(data: ControlData, options: SendOptions | undefined, cb: SendCallback | undefined): boolean {
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

  ping(data?: ControlData, mask?: boolean | SendCallback, cb?: SendCallback): boolean {
    return this._control(this.#host.core.opcodes.PING, data, mask, cb);
  }

  pong(data?: ControlData, mask?: boolean | SendCallback, cb?: SendCallback): boolean {
    return this._control(this.#host.core.opcodes.PONG, data, mask, cb);
  }

  /** @internal Runs `first`, then the sends queued behind it, until the queue is empty. */
  private async _runSendQueue(first: () => Promise<void> | void): Promise<void> {
    const extras = this._extras();
    const queue: (() => Promise<void> | void)[] = [];
    extras.sendQueue = queue;
    let step: (() => Promise<void> | void) | undefined = first;
    while (step !== undefined) {
      const pending = step();
      if (pending !== undefined) await pending;
      step = queue.shift();
    }
    extras.sendQueue = undefined;
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
  publish(topic: string, data: ControlData, options?: PublishOptions): number {
    return this.#host.topics.publish(topic, toBytes(data), options, this.#slot, this.#generation);
  }

  // TypeScript-private rather than #private: #methods cost every instance a field (V8's brand).
  /** @internal */
  private _control(opcode: number, data: ControlData | undefined, mask: boolean | SendCallback | undefined, cb?: SendCallback) {
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
    if (readyState !== OPEN) return this._refuse(byteLength(bytes), readyState, cb);
    const core = this.#host.core;
    // With a callback the core reports when the kernel has taken the message (ws's rule, which
    // engine.io's flow control relies on): `result` is then the offset the message ends at.
    const result = cb ? core.send(this.#slot, this.#generation, bytes, opcode, fin, true) : core.send(this.#slot, this.#generation, bytes, opcode, fin);
    return this._queued(result, cb);
  }

  /** @internal ws's sendAfterClose: the bytes count in bufferedAmount, the callback gets an error. */
  private _refuse(length: number, readyState: ReadyState, cb: SendCallback | undefined): false {
    this._extras().refused += length;
    if (cb) process.nextTick(cb, notOpenError(readyState));
    return false;
  }

  /** @internal What the core made of a send: the callback's wait, the return value. */
  private _queued(result: number, cb: SendCallback | undefined): boolean {
    if (result === SEND_DROPPED) {
      if (cb) process.nextTick(cb, new BackpressureError());
      return false;
    }
    if (result < 0) {
      if (cb) process.nextTick(cb, new Error(`${kNotOpen}: the connection is closing`));
      return false;
    }
    let buffered = result;
    if (cb) {
      const extras = this._extras();
      (extras.writes ??= new PendingWrites()).add(result, cb);
      buffered = this.#host.core.bufferedAmount(this.#slot, this.#generation);
      if (buffered < 0) buffered = 0;
    }
    this.#lastBufferedAmount = buffered;
    const limit = this.#host.maxBackpressure;
    return limit === 0 || buffered < limit;
  }

  /**
   * @internal A frame pre-encoded by ws's Sender.frame() (header, then payload). A whole data
   * frame of 2 KiB and more is queued as it is, by reference to one copy shared by every socket
   * it is handed to (socket.io's broadcasts); anything else is sent as its message.
   */
  _sendFrame(frame: readonly Uint8Array[], cb?: SendCallback): void {
    const head = frame[0];
    const fin = (head[0] & 0x80) !== 0;
    const opcode = head[0] & 0x0f;
    const masked = (head[1] & 0x80) !== 0;
    const len7 = head[1] & 0x7f;
    const headerLength = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
    if ((head[0] & 0x70) !== 0 || masked || head.length < headerLength || opcode > 0xa || (opcode > 2 && opcode < 8)) {
      throw new TypeError('sendFrame() expects an unmasked, uncompressed frame from Sender.frame()');
    }
    const payload = frame.length > 1 ? frame[1] : head.subarray(headerLength);
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const declared = len7 === 126 ? (head[2] << 8) | head[3] : len7 === 127 ? Buffer.from(head.buffer, head.byteOffset, head.length).readUIntBE(4, 6) : len7;
    const whole = fin && (opcode === 1 || opcode === 2) && !(this.#state & kFragmenting) && !(this.#state & kDeflate);
    if (!whole || typeof payload === 'string' || declared !== data.byteLength || headerLength + declared < SHARED_FRAME_MIN) {
      this._queue(data, opcode, fin, cb);
      return;
    }
    const readyState = this.readyState;
    if (readyState !== OPEN) {
      this._refuse(declared, readyState, cb);
      return;
    }
    const parts = frame.length > 1 ? frame : [head];
    this._queued(this.#host.core.sendFrame(this.#slot, this.#generation, parts, cb !== undefined), cb);
  }

  /** @internal The core has taken `written` bytes: the send callbacks up to there run. */
  _written(written: number): void {
    const writes = this.#extras?.writes;
    if (writes === undefined) return;
    writes.written(written);
    const next = writes.nextMark;
    if (next !== undefined && this.readyState !== CLOSED) this.#host.core.armWritten(this.#slot, this.#generation, next);
  }

  /** @internal A message from the peer: emitted, or held while paused. */
  _onMessage(data: Buffer, isBinary: boolean): void {
    const message = isBinary ? toMessage(data, this.binaryType) : data;
    if (this.#state & kPaused) {
      (this._extras().held ??= []).push([message, isBinary]);
      return;
    }
    this.emit('message', message, isBinary);
  }

  /** @internal Emits the messages held by a pause, until one of them pauses again. */
  private _emitHeld(): void {
    const held = this.#extras?.held;
    while (held !== undefined && held.length > 0 && !(this.#state & kPaused)) {
      const [message, isBinary] = held.shift()!;
      this.emit('message', message, isBinary);
    }
  }

  /** @internal */
  private _extras(): SocketExtras {
    return (this.#extras ??= new SocketExtras());
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
    if (this.#state & kCloseEmitted) return;
    const extras = this.#extras;
    if (extras?.held !== undefined) {
      // Read before the end: they are the peer's last words, emitted before 'close'.
      this.#state &= ~kPaused;
      this._emitHeld();
      extras.held = undefined;
    }
    this.#state = withReadyState(this.#state | kCloseEmitted, CLOSED);
    // What the kernel had not taken when the connection went will never be sent.
    extras?.writes?.fail(notOpenError(CLOSED));
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
