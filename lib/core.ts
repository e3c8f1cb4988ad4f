// Core: lib's one facade over the binding's NativeServer. It alone knows the binding's shape:
// it decodes each turn's records into named fields and calls one CoreEvents method per event,
// parses the payload formats of UPGRADE and CLIENT_ERROR, maps call statuses to what callers
// need, and owns the flush rule (review A2): a call that may queue output during a batch is
// written by the binding right after the batch; outside a batch, Core flushes once at the end of
// the current tick. Callers never schedule a flush themselves.
import { protocolError, TlsError, type WebSocketError } from './errors';
import {
  fastConstants,
  handshakeFailure,
  type NativeBinding,
  type NativeConstants,
  type NativeServer,
  type StreamDeliveries,
  toNativeOptions,
} from './native';
import type { NormalizedOptions } from './options';
import { ListenerRequest, type RequestSocketInfo } from './request';
import { TlsSocketInfo } from './tls-socket';
import type { NativeTls, NativeTlsConfig } from './tls-options';
import type { PublishStats } from './topics';

/** What a server does with the events of a turn, one method per event kind. */
export interface CoreEvents {
  /** The core's own listener read a valid upgrade request: accept or reject it. */
  upgrade(slot: number, generation: number, request: ListenerRequest): void;
  message(slot: number, generation: number, data: Buffer, isBinary: boolean): void;
  ping(slot: number, generation: number, data: Buffer): void;
  pong(slot: number, generation: number, data: Buffer): void;
  drain(slot: number, generation: number): void;
  /** The transport has taken `written` bytes of the connection's tracked count (send callbacks). */
  written(slot: number, generation: number, written: number): void;
  /** A protocol error; the connection's close follows. */
  protocolError(slot: number, generation: number, error: WebSocketError): void;
  /** The TCP connection is gone (an upgrade still being decided included). `reason` is a copy. */
  close(slot: number, generation: number, code: number, reason: Buffer): void;
  /**
   * The core refused a handshake on its own listener: it has answered already, or (`held`, see
   * holdRefusals) holds the connection for the user to answer with writeRefusal/endRefusal.
   */
  clientError(slot: number, generation: number, error: WebSocketError, socket: RequestSocketInfo, held: boolean, request: ListenerRequest | undefined): void;
  /** accept(2) failed with `errno`; reported once per condition. */
  acceptError(errno: number): void;
  /** Not listening and the last connection is gone. */
  stopped(): void;
  /** A closing socket was the last subscriber of `topic` (count 0). */
  subscription(topic: string, count: number): void;
}

export type Opcodes = NativeConstants['OPCODES'];

/** What send() returns instead of a bufferedAmount. */
export const SEND_CLOSED = -1; // the connection is closing or gone
export const SEND_DROPPED = -2; // refused by the 'drop' backpressure policy

export interface ListenResult {
  /** 0 on success. */
  errno: number;
  syscall: string;
  port: number;
}

export interface AdoptResult {
  /** 0 unless dup/fcntl failed (then nothing was taken over). */
  errno: number;
  slot: number;
  generation: number;
  /** The core refused the request (it answered, or dropped its copy: see adoptHandshake). */
  failure: WebSocketError | undefined;
}

/** The peer of a stream, as its socket reports it (empty for a Unix socket). */
export interface StreamPeer {
  address: string;
  port: number;
  /** 4 or 6. */
  family: number;
}

/** What acceptUpgrade/rejectUpgrade did. */
/** 'ok-deflate': accepted, with permessage-deflate (only acceptUpgrade answers it). */
export type AnswerStatus = 'ok' | 'ok-deflate' | 'closed' | 'invalid-headers';

export class Core {
  readonly opcodes: Opcodes;
  readonly maxControlPayload: number;
  readonly maxTopicLength: number;
  /** Or'ed into send()'s opcode: permessage-deflate may compress the message. */
  readonly sendCompress: number;
  readonly #server: NativeServer;
  readonly #constants: NativeConstants;
  #tls = false;
  readonly #events: CoreEvents;
  // Pre-encoded frames (sendFrame) by the parts array socket.io hands every recipient.
  readonly #sharedFrames = new WeakMap<object, unknown>();
  #inBatch = false;
  #flushScheduled = false;
  #streamSink: ((deliveries: StreamDeliveries) => void) | undefined;

  constructor(binding: NativeBinding, options: NormalizedOptions, events: CoreEvents) {
    this.#constants = fastConstants(binding.constants);
    this.opcodes = binding.constants.OPCODES;
    this.maxControlPayload = binding.constants.MAX_CONTROL_PAYLOAD;
    this.maxTopicLength = binding.constants.MAX_TOPIC_LENGTH;
    this.sendCompress = binding.constants.SEND_COMPRESS ?? 0;
    this.#events = events;
    this.#server = new binding.Server(toNativeOptions(options), this.#onBatch);
  }

  listen(host: string, port: number, backlog: number, reusePort: boolean): ListenResult {
    const [errno, syscall, boundPort] = this.#server.listen(host, port, backlog, reusePort);
    return { errno, syscall, port: boundPort };
  }

  stopListening(): void {
    this.#server.stopListening();
  }

  /** Drops every connection, or only those the user has not seen; known ones report close. */
  dropConnections(onlyUnknown: boolean): void {
    this.#server.dropConnections(onlyUnknown);
  }

  /**
   * The connection's bufferedAmount after queueing, or SEND_CLOSED / SEND_DROPPED. With `track` (a
   * callback waits for the kernel to take the message), the offset the message ends at instead:
   * a `written` event reaching it means the message is out.
   */
  send(slot: number, generation: number, data: string | Uint8Array, opcode: number, fin: boolean, track = false): number {
    const status = track ? this.#server.send(slot, generation, data, opcode, fin, true) : this.#server.send(slot, generation, data, opcode, fin);
    if (status >= 0) {
      this.#queued();
      return status;
    }
    return status === this.#constants.CALL_STATUS.DROPPED ? SEND_DROPPED : SEND_CLOSED;
  }

  /**
   * Queues a frame ws's Sender.frame() encoded (`parts`: header, then payload) as send() does.
   * socket.io hands the same parts to every recipient of a broadcast: the first call copies
   * them once into a block the core shares, later ones queue that block by reference.
   */
  sendFrame(slot: number, generation: number, parts: readonly Uint8Array[], track: boolean): number {
    let frame = this.#sharedFrames.get(parts);
    if (frame === undefined) {
      frame = this.#server.sharedFrame(parts.length === 1 ? parts[0] : Buffer.concat(parts));
      this.#sharedFrames.set(parts, frame);
    }
    const status = this.#server.sendShared(slot, generation, frame, track);
    if (status >= 0) {
      this.#queued();
      return status;
    }
    return status === this.#constants.CALL_STATUS.DROPPED ? SEND_DROPPED : SEND_CLOSED;
  }

  /** Asks for a `written` event once the transport has taken `mark` bytes (at once if it has). */
  armWritten(slot: number, generation: number, mark: number): void {
    this.#server.armWritten(slot, generation, mark);
  }

  /** Stops (or resumes) reading the connection: ws's pause()/resume(). */
  pauseReading(slot: number, generation: number, paused: boolean): void {
    this.#server.pauseReading(slot, generation, paused);
  }

  /** The TCP peer of an open connection; undefined once it is gone. */
  peerAddress(slot: number, generation: number): RequestSocketInfo | undefined {
    const [remoteAddress, remotePort, family] = this.#server.peerAddress(slot, generation);
    if (!remoteAddress) return undefined;
    return { remoteAddress, remotePort, remoteFamily: family === 6 ? 'IPv6' : 'IPv4' };
  }

  /** Starts the closing handshake (code 0: no code); false if the connection is already going. */
  close(slot: number, generation: number, code: number, reason: string): boolean {
    return this.#done(this.#server.close(slot, generation, code, reason));
  }

  terminate(slot: number, generation: number): boolean {
    return this.#server.terminate(slot, generation) >= 0;
  }

  /** Answers 101 to an upgrade awaiting its decision ('closed': the client has gone). */
  acceptUpgrade(slot: number, generation: number, protocol: string, headerLines: string): AnswerStatus {
    const status = this.#server.accept(slot, generation, protocol, '', headerLines);
    const answer = this.#answered(status);
    return answer === 'ok' && status === this.#constants.CALL_STATUS.ACCEPTED_DEFLATE ? 'ok-deflate' : answer;
  }

  rejectUpgrade(slot: number, generation: number, status: number, headerLines: string, body: string): AnswerStatus {
    return this.#answered(this.#server.reject(slot, generation, status, headerLines, body));
  }

  /**
   * Takes over a socket node:http upgraded, before the decision: the core validates `requestHead`
   * as on its own listeners and keeps `rest` as the first frames. On success the connection awaits
   * acceptUpgrade/rejectUpgrade like one from the core's listener.
   */
  adoptHandshake(fd: number, requestHead: Buffer, rest: Buffer, servePath: boolean, answerRefusal: boolean): AdoptResult {
    const [errno, slot, generation, failure] = this.#server.adopt(fd, requestHead, rest, servePath, answerRefusal);
    if (errno !== 0) return { errno, slot, generation, failure: undefined };
    this.#queued();
    return { errno, slot, generation, failure: failure === 0 ? undefined : handshakeFailure(this.#constants, failure) };
  }

  /**
   * adoptHandshake() for a socket Node keeps (TLSSocket, any Duplex): lib/stream-bridge.ts moves
   * its bytes. `window` is the stream's send buffer (see native/core/stream_transport.h).
   */
  adoptStream(requestHead: Buffer, rest: Buffer, servePath: boolean, answerRefusal: boolean, peer: StreamPeer, window: number): AdoptResult {
    const [errno, slot, generation, failure] = this.#server.adoptStream(
      requestHead, rest, servePath, answerRefusal, peer.address, peer.port, peer.family, window);
    if (errno !== 0) return { errno, slot, generation, failure: undefined };
    this.#queued();
    return { errno, slot, generation, failure: failure === 0 ? undefined : handshakeFailure(this.#constants, failure) };
  }

  /**
   * TLS on the core's own listeners (call before listen): every accepted connection starts with
   * a TLS handshake. Throws TlsError (EPOLLWS_TLS_CONFIG, EPOLLWS_TLS_UNAVAILABLE).
   */
  useTls(options: NativeTls): void {
    tlsCall(() => this.#server.useTls(options.defaults, options.names, options.ticketKeys));
    this.#tls = true;
  }

  addServerName(name: string, config: NativeTlsConfig): void {
    tlsCall(() => this.#server.addServerName(name, config));
  }

  removeServerName(name: string): boolean {
    return this.#server.removeServerName(name);
  }

  setSecureContext(config: NativeTlsConfig): void {
    tlsCall(() => this.#server.setSecureContext(config));
  }

  getTicketKeys(): Buffer | undefined {
    return this.#server.getTicketKeys();
  }

  setTicketKeys(keys: Buffer): void {
    tlsCall(() => this.#server.setTicketKeys(keys));
  }

  // The upgrade request's socket: the peer, with the TLS session on a TLS port.
  #tlsSocket(slot: number, generation: number, peer: RequestSocketInfo): RequestSocketInfo {
    if (!this.#tls) return peer;
    const session = this.#server.tlsSession(slot, generation);
    return session === null ? peer : new TlsSocketInfo(peer, session);
  }

  /** The stream delivery flags; an addon without streams throws (EPOLLWS_NO_STREAMS). */
  streamFlags(): { WRITE_SHUT: number; CLOSED: number; RESUME_INPUT: number } {
    const flags = this.#constants.STREAM;
    if (flags === undefined) {
      throw Object.assign(new Error('This epollws addon cannot serve sockets it has no fd for (TLS, Duplex streams)'), {
        code: 'EPOLLWS_NO_STREAMS',
      });
    }
    return flags;
  }

  /** Where the streams' deliveries go (set once, by the StreamBridge). */
  setStreamSink(sink: (deliveries: StreamDeliveries) => void): void {
    this.#streamSink = sink;
    this.#server.setStreamHandler(sink);
  }

  /** Bytes a stream's socket read; 'held': stop reading it until the core asks again. */
  feed(slot: number, generation: number, bytes: Uint8Array): 'ok' | 'held' | 'closed' {
    const status = this.#server.feed(slot, generation, bytes);
    if (status < 0) return 'closed';
    return status === this.#constants.STREAM?.INPUT_HELD ? 'held' : 'ok';
  }

  endStream(slot: number, generation: number, failed: boolean): void {
    this.#server.endStream(slot, generation, failed);
  }

  pauseStreamOutput(slot: number, generation: number, paused: boolean): void {
    this.#server.pauseStreamOutput(slot, generation, paused);
  }

  /** While set, refusals on the core's own listeners wait for the user's answer (CLIENT_ERROR held). */
  holdRefusals(hold: boolean): void {
    this.#server.holdRefusals(hold);
  }

  /** Raw bytes for a held refusal; false if it is gone (or was answered). */
  writeRefusal(slot: number, generation: number, data: Buffer): boolean {
    return this.#done(this.#server.writeRefusal(slot, generation, data));
  }

  /** Sends what was written to a held refusal, then closes it. */
  endRefusal(slot: number, generation: number): boolean {
    return this.#done(this.#server.endRefusal(slot, generation));
  }

  /** Bytes queued for the connection, or -1 if it is gone. */
  bufferedAmount(slot: number, generation: number): number {
    const amount = this.#server.bufferedAmount(slot, generation);
    return amount < 0 ? -1 : amount;
  }

  connectionCount(): number {
    return this.#server.connectionCount();
  }

  /** The topic's subscriber count after subscribing; 0 when nothing changed (already, or not open). */
  subscribe(slot: number, generation: number, topic: string): number {
    return this.#server.subscribe(slot, generation, topic);
  }

  /** The topic's subscriber count after unsubscribing; -1 when it was not subscribed. */
  unsubscribe(slot: number, generation: number, topic: string): number {
    return this.#server.unsubscribe(slot, generation, topic);
  }

  isSubscribed(slot: number, generation: number, topic: string): boolean {
    return this.#server.isSubscribed(slot, generation, topic);
  }

  subscriptions(slot: number, generation: number): string[] {
    return this.#server.subscriptions(slot, generation);
  }

  subscriberCount(topic: string): number {
    return this.#server.subscriberCount(topic);
  }

  /** The number of sockets the message was queued for (it leaves with this batch or tick). */
  publish(topic: string, data: string | Uint8Array, opcode: number, exceptSlot: number, exceptGeneration: number): number {
    const queued = this.#server.publish(topic, data, opcode, exceptSlot, exceptGeneration);
    if (queued > 0) this.#queued(); // nothing queued, nothing to flush (a dropped socket wakes the loop itself)
    return queued;
  }

  publishStats(): PublishStats {
    const [publishes, queued, refused, deflates] = this.#server.publishStats();
    return { publishes, queued, refused, deflates };
  }

  /** Closes every fd; the core is unusable afterwards. Never from inside a batch. */
  destroy(): void {
    this.#server.destroy();
  }

  #answered(status: number): AnswerStatus {
    if (status === this.#constants.CALL_STATUS.INVALID_HEADERS) return 'invalid-headers';
    return this.#done(status) ? 'ok' : 'closed';
  }

  #done(status: number): boolean {
    if (status < 0) return false;
    this.#queued();
    return true;
  }

  // Output was queued: it leaves after the batch (the binding flushes) or at the end of this tick.
  #queued(): void {
    if (this.#inBatch || this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(this.#flush);
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    const deliveries = this.#server.flush();
    if (deliveries !== undefined) this.#streamSink?.(deliveries);
  };

  // One call per reactor turn. A throwing listener does not cost the other events their
  // delivery: the first error is rethrown once the batch is done (it becomes uncaughtException).
  #onBatch = (count: number, records: Uint32Array, chunks: Buffer[], externals: Buffer[] | undefined): void => {
    const k = this.#constants;
    const events = this.#events;
    const words = k.RECORD_WORDS;
    let chunkIndex = 0;
    let chunk = chunks[0];
    let chunkStart = 0; // offset of `chunk` in the turn's payload area
    let failed = false;
    let firstError: unknown;
    // No try/finally around the loop: inside a try block V8 leaves subarray()'s Buffer
    // construction to a generic constructor call (measured: ~130 more instructions per message).
    // Only the listeners can throw, and each event's dispatch catches what they throw.
    this.#inBatch = true;
    for (let i = 0, r = 0; i < count; i++, r += words) {
      const kind = records[r];
      const offset = records[r + 3];
      const length = records[r + 4];
      const arg = records[r + 5];
      let payload: Buffer;
      if (kind === k.EVENT_MESSAGE && arg & k.MESSAGE_EXTERNAL) {
        payload = externals![offset];
      } else if (kind === k.EVENT_WRITTEN) {
        // No payload: the count is offset (low word) and arg (high word). Send callbacks run.
        try {
          events.written(records[r + 1], records[r + 2], arg * 0x100000000 + offset);
        } catch (error) {
          if (!failed) {
            failed = true;
            firstError = error;
          }
        }
        continue;
      } else {
        // Chunks are cut between records and records come in payload order.
        while (offset + length > chunkStart + chunk.length) {
          chunkStart += chunk.length;
          chunk = chunks[++chunkIndex];
        }
        payload = chunk.subarray(offset - chunkStart, offset - chunkStart + length);
      }
      try {
        // Messages, the bulk of every batch, skip #dispatch (too large for V8 to inline).
        if (kind === k.EVENT_MESSAGE) events.message(records[r + 1], records[r + 2], payload, (arg & k.MESSAGE_BINARY) !== 0);
        else this.#dispatch(kind, records[r + 1], records[r + 2], arg, payload);
      } catch (error) {
        if (!failed) {
          failed = true;
          firstError = error;
        }
      }
    }
    this.#inBatch = false;
    if (failed) throw firstError;
  };

  #dispatch(kind: number, slot: number, generation: number, arg: number, payload: Buffer): void {
    const k = this.#constants;
    const events = this.#events;
    if (kind === k.EVENT_MESSAGE) {
      events.message(slot, generation, payload, (arg & k.MESSAGE_BINARY) !== 0);
    } else if (kind === k.EVENT_CLOSE) {
      events.close(slot, generation, arg, Buffer.from(payload));
    } else if (kind === k.EVENT_PING) {
      events.ping(slot, generation, payload);
    } else if (kind === k.EVENT_PONG) {
      events.pong(slot, generation, payload);
    } else if (kind === k.EVENT_DRAIN) {
      events.drain(slot, generation);
    } else if (kind === k.EVENT_ERROR) {
      // arg: the ErrorCode in the low byte, the value its message names above it.
      events.protocolError(slot, generation, protocolError(k.ERRORS[arg & 0xff], arg >>> 8));
    } else if (kind === k.EVENT_UPGRADE) {
      const request = parseUpgrade(payload, (peer) => this.#tlsSocket(slot, generation, peer));
      events.upgrade(slot, generation, request);
    } else if (kind === k.EVENT_CLIENT_ERROR) {
      // "message\0address\0port\0head"; the message is HANDSHAKE_FAILURES[arg]'s too, the head
      // the request when the core read one (empty otherwise).
      const text = payload.toString('latin1');
      const [, remoteAddress = '', port = '0'] = text.split('\0', 3);
      const socket = { remoteAddress, remotePort: Number(port), remoteFamily: familyOf(remoteAddress) };
      const headStart = text.indexOf('\0', text.indexOf('\0', text.indexOf('\0') + 1) + 1);
      const head = headStart < 0 ? '' : text.slice(headStart + 1);
      const request = head ? new ListenerRequest(socket, head) : undefined;
      const held = (arg & k.CLIENT_ERROR_HELD) !== 0;
      events.clientError(slot, generation, handshakeFailure(k, arg & ~k.CLIENT_ERROR_HELD), socket, held, request);
    } else if (kind === k.EVENT_ACCEPT_ERROR) {
      events.acceptError(arg);
    } else if (kind === k.EVENT_STOPPED) {
      events.stopped();
    } else if (kind === k.EVENT_SUBSCRIPTION) {
      events.subscription(payload.toString('utf8'), arg);
    }
  }
}

function familyOf(address: string): 'IPv4' | 'IPv6' {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

// UPGRADE's payload: "address\0port\0family\0" ('4' or '6'), then the raw request head.
// `socketOf` gives the request's socket object for the peer (its TLS session on a TLS port).
function parseUpgrade(payload: Buffer, socketOf: (peer: RequestSocketInfo) => RequestSocketInfo): ListenerRequest {
  const text = payload.toString('latin1');
  const addressEnd = text.indexOf('\0');
  const portEnd = text.indexOf('\0', addressEnd + 1);
  const familyEnd = text.indexOf('\0', portEnd + 1);
  const socket: RequestSocketInfo = {
    remoteAddress: text.slice(0, addressEnd),
    remotePort: Number(text.slice(addressEnd + 1, portEnd)),
    remoteFamily: text.charCodeAt(portEnd + 1) === 0x36 /* '6' */ ? 'IPv6' : 'IPv4',
  };
  return new ListenerRequest(socketOf(socket), text.slice(familyEnd + 1));
}

// The binding throws a plain Error with a `code` for TLS (tls_wrap.cc): the user gets a TlsError.
function tlsCall(call: () => void): void {
  try {
    call();
  } catch (error) {
    const { message, code } = error as { message: string; code?: string };
    if (code === 'EPOLLWS_TLS_CONFIG' || code === 'EPOLLWS_TLS_UNAVAILABLE') throw new TlsError(message, code);
    throw error;
  }
}
