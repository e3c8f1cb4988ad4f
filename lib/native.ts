// The binding's shape, and where it comes from. lib/core.ts is the only other file that touches
// the binding; the rest of lib talks to Core.
//
// The addon is loaded on first use, not at import, and a server may be handed another binding
// (the `nativeBinding` option, as in better-sqlite3): test/unit runs lib against an in-memory one.
import * as path from 'node:path';

import { handshakeError, type HandshakeFailureReason, type WebSocketError } from './errors';
import type { NormalizedOptions } from './options';
import type { NormalizedDeflateOptions } from './permessage-deflate';
import type { NativeTlsConfig } from './tls-options';
import type { NativeTlsSession } from './tls-socket';

/** The options the binding reads: lib's normalized values under the same names, plus the policy flag. */
export type NativeServerOptions = Pick<
  NormalizedOptions,
  | 'maxPayload'
  | 'maxHeaderSize'
  | 'maxConnections'
  | 'handshakeTimeout'
  | 'closeTimeout'
  | 'idleTimeout'
  | 'sendPings'
  | 'maxBackpressure'
  | 'maxTotalBackpressure'
  | 'maxFragments'
  | 'proxyProtocol'
  | 'path'
  | 'autoPong'
> & { dropOnBackpressure: boolean; deflate: NormalizedDeflateOptions | null };

/** The one place lib's options become the binding's. */
export function toNativeOptions(options: NormalizedOptions): NativeServerOptions {
  return {
    maxPayload: corePayloadLimit(options.maxPayload),
    maxHeaderSize: options.maxHeaderSize,
    maxConnections: options.maxConnections,
    handshakeTimeout: options.handshakeTimeout,
    closeTimeout: options.closeTimeout,
    idleTimeout: options.idleTimeout,
    sendPings: options.sendPings,
    maxBackpressure: options.maxBackpressure,
    maxTotalBackpressure: options.maxTotalBackpressure,
    dropOnBackpressure: options.backpressurePolicy === 'drop',
    maxFragments: options.maxFragments,
    proxyProtocol: options.proxyProtocol,
    path: options.path,
    deflate: options.perMessageDeflate,
    autoPong: options.autoPong,
  };
}

// Payload lengths travel as uint32 between the core and JS (and a Buffer holds no more): ws's "any
// non-negative number" (0 and Infinity: no limit; fractions) becomes a whole number in that range.
const MAX_CORE_PAYLOAD = 0xffffffff;
function corePayloadLimit(maxPayload: number): number {
  if (maxPayload === 0 || maxPayload >= MAX_CORE_PAYLOAD) return MAX_CORE_PAYLOAD;
  return Math.max(1, Math.floor(maxPayload));
}

/**
 * Called once per reactor turn with every event of that turn: `count` records of RECORD_WORDS
 * words (kind, slot, generation, offset, length, arg). A small payload is bytes [offset,
 * offset + length) of the turn's payload area, handed out as consecutive `chunks` (cut between
 * records, in record order); a MESSAGE with MESSAGE_EXTERNAL is `externals[offset]`.
 */
export type BatchHandler = (count: number, records: Uint32Array, chunks: Buffer[], externals: Buffer[] | undefined) => void;

/** A call status (CALL_STATUS) or, for send, the connection's bufferedAmount when >= 0. */
type Status = number;

export interface NativeServer {
  /** Returns [errno, syscall, boundPort]; errno 0 on success. */
  listen(host: string, port: number, backlog: number, reusePort: boolean): [number, string, number];
  stopListening(): void;
  /** Drops every connection, or only those still in the handshake; known ones report CLOSE. */
  dropConnections(onlyUnknown: boolean): void;
  /** `opcode` may carry SEND_COMPRESS. With `track`, the message's end offset (write_progress.h) instead of the bufferedAmount. */
  send(slot: number, generation: number, data: string | Uint8Array, opcode: number, fin: boolean, track?: boolean): Status;
  /** WRITTEN once the transport has taken `mark` bytes of the tracked count (at once if it has). */
  armWritten(slot: number, generation: number, mark: number): Status;
  /** ws's pause()/resume(): the core stops (or resumes) reading the connection. */
  pauseReading(slot: number, generation: number, paused: boolean): Status;
  /** [address, port, family]: the TCP peer of an open connection (address "" once gone). */
  peerAddress(slot: number, generation: number): [string, number, number];
  /** A copy of one complete server frame the core can queue by reference (sendShared). */
  sharedFrame(frame: Uint8Array): unknown;
  /** Queues a sharedFrame() by reference; returns as send() does. */
  sendShared(slot: number, generation: number, frame: unknown, track: boolean): Status;
  close(slot: number, generation: number, code: number, reason: string): Status;
  terminate(slot: number, generation: number): Status;
  accept(slot: number, generation: number, protocol: string, extensions: string, headerLines: string): Status;
  reject(slot: number, generation: number, status: number, headerLines: string, body: string): Status;
  /**
   * Takes over a TCP connection upgraded by node:http before the decision: the core validates
   * `requestHead` as on its own listeners. Returns [errno, slot, generation, failure]: failure 0
   * leaves the connection awaiting accept/reject; otherwise it indexes HANDSHAKE_FAILURES and the
   * core has answered it (answerRefusal) or dropped its copy of the fd.
   */
  adopt(fd: number, requestHead: Buffer, rest: Buffer, servePath: boolean, answerRefusal: boolean): [number, number, number, number];
  holdRefusals(hold: boolean): void;
  writeRefusal(slot: number, generation: number, data: Buffer): Status;
  endRefusal(slot: number, generation: number): Status;
  bufferedAmount(slot: number, generation: number): number;
  /**
   * Writes the output queued outside a batch (the binding flushes after each batch itself);
   * returns what streams have for lib (see StreamDeliveries), or undefined.
   */
  flush(): StreamDeliveries | undefined;
  /** Called after each turn in which a stream has something for lib. */
  setStreamHandler(handler: (deliveries: StreamDeliveries) => void): void;
  /** TLS on the core's listeners; throws an Error with code EPOLLWS_TLS_CONFIG / EPOLLWS_TLS_UNAVAILABLE. */
  useTls(defaults: NativeTlsConfig, names: [string, NativeTlsConfig][], ticketKeys: Buffer | undefined): void;
  addServerName(name: string, config: NativeTlsConfig): void;
  removeServerName(name: string): boolean;
  setSecureContext(config: NativeTlsConfig): void;
  getTicketKeys(): Buffer | undefined;
  setTicketKeys(keys: Buffer): void;
  /** The TLS session of a connection on a TLS port, once its TLS handshake is done. */
  tlsSession(slot: number, generation: number): NativeTlsSession | null;
  /** A stream that starts with the opening handshake (the server fuzzer's). Returns [slot, generation]. */
  attachStream(address: string, port: number, family: number, window: number): [number, number];
  /** adopt() for a socket Node keeps (TLSSocket, any Duplex): the same result. */
  adoptStream(
    requestHead: Buffer,
    rest: Buffer,
    servePath: boolean,
    answerRefusal: boolean,
    address: string,
    port: number,
    family: number,
    window: number,
  ): [number, number, number, number];
  /** Bytes the stream's socket read: a CallStatus, or STREAM.INPUT_HELD (stop reading it). */
  feed(slot: number, generation: number, bytes: Uint8Array): Status;
  /** The socket ended (or broke: `failed`). */
  endStream(slot: number, generation: number, failed: boolean): Status;
  /** The socket's write() returned false (paused) or it drained. */
  pauseStreamOutput(slot: number, generation: number, paused: boolean): Status;
  connectionCount(): number;
  destroy(): void;
  /** Topics. subscribe: the topic's count after it, 0 when nothing changed; unsubscribe: the count after, -1 when nothing changed. */
  subscribe(slot: number, generation: number, topic: string): number;
  unsubscribe(slot: number, generation: number, topic: string): number;
  isSubscribed(slot: number, generation: number, topic: string): boolean;
  subscriptions(slot: number, generation: number): string[];
  subscriberCount(topic: string): number;
  /** Returns the number of sockets the message was queued for; exceptSlot 0xffffffff excludes none. */
  /** `opcode` may carry SEND_COMPRESS (permessage-deflate subscribers get it compressed). */
  publish(topic: string, data: string | Uint8Array, opcode: number, exceptSlot: number, exceptGeneration: number): number;
  /** [publishes, queued, refused, deflates] since the server started. */
  publishStats(): [number, number, number, number];
}

export interface NativeHandshakeFailure {
  reason: HandshakeFailureReason | 'NONE';
  status: number;
  message: string;
}

export interface NativeErrorInfo {
  code: string;
  message: string;
  closeCode: number;
}

/** The core's option defaults (ServerOptions in native/core/server.h) under lib's names. */
export type NativeDefaults = Pick<
  NormalizedOptions,
  'maxPayload' | 'maxHeaderSize' | 'maxConnections' | 'handshakeTimeout' | 'closeTimeout' | 'idleTimeout' | 'sendPings' | 'maxBackpressure' | 'maxFragments'
> & {
  /** Absent from an addon built before the core had a server-wide bound. */
  maxTotalBackpressure?: number;
};

export interface NativeConstants {
  EVENT_UPGRADE: number;
  EVENT_MESSAGE: number;
  EVENT_PING: number;
  EVENT_PONG: number;
  EVENT_CLOSE: number;
  EVENT_DRAIN: number;
  EVENT_ERROR: number;
  EVENT_CLIENT_ERROR: number;
  EVENT_ACCEPT_ERROR: number;
  EVENT_STOPPED: number;
  /** A closing socket was a topic's last subscriber: arg is the count (0), the payload the topic. */
  EVENT_SUBSCRIPTION: number;
  /** The longest topic name, in bytes of UTF-8. */
  MAX_TOPIC_LENGTH: number;
  /** Absent from an addon built before send callbacks waited for the kernel. */
  EVENT_WRITTEN?: number;
  MESSAGE_BINARY: number;
  MESSAGE_EXTERNAL: number;
  RECORD_WORDS: number;
  MAX_CONTROL_PAYLOAD: number;
  OPCODES: { CONTINUATION: number; TEXT: number; BINARY: number; CLOSE: number; PING: number; PONG: number };
  /** ACCEPTED_DEFLATE: accept() succeeded with permessage-deflate (absent from older addons). */
  CALL_STATUS: { OK: number; ACCEPTED_DEFLATE?: number; CLOSED: number; WRONG_STATE: number; DROPPED: number; INVALID_HEADERS: number };
  /** Or'ed into send()'s opcode: permessage-deflate may compress the message. */
  SEND_COMPRESS?: number;
  DEFAULTS: NativeDefaults;
  ERRORS: NativeErrorInfo[];
  /** Indexed by CLIENT_ERROR's arg and adopt()'s failure. */
  HANDSHAKE_FAILURES: NativeHandshakeFailure[];
  /** Set in CLIENT_ERROR's arg when the core holds the refusal for the user to answer. */
  CLIENT_ERROR_HELD: number;
  /** Stream delivery flags, and feed()'s answer that the socket should stop being read. */
  STREAM?: { WRITE_SHUT: number; CLOSED: number; RESUME_INPUT: number; INPUT_HELD: number };
}

/**
 * What streams have for lib after a turn or a flush: four entries per stream, slot, generation,
 * flags (NativeConstants.STREAM), and the bytes to write (undefined when none).
 */
export type StreamDeliveries = (number | Buffer | undefined)[];

/** The core's handshake failure `index` as the error lib hands to wsClientError. */
export function handshakeFailure(constants: NativeConstants, index: number): WebSocketError {
  const info = constants.HANDSHAKE_FAILURES[index];
  if (info === undefined || info.reason === 'NONE') return handshakeError('Invalid handshake', 'MALFORMED_REQUEST_LINE', 400);
  return handshakeError(info.message, info.reason, info.status);
}

export interface NativeBinding {
  Server: new (options: NativeServerOptions, onBatch: BatchHandler) => NativeServer;
  constants: NativeConstants;
}

const packageRoot = path.join(__dirname, '..');
let loaded: NativeBinding | undefined;

/**
 * The addon's constants as a plain object with V8 "fast" properties. The addon builds its
 * constants object one property at a time; past a dozen such properties V8 turns an object into
 * a hash table, and every `constants.EVENT_MESSAGE` read on the per-message path becomes a
 * dictionary lookup (measured: ~10% of small-echo throughput). A spread copy has a fixed shape.
 */
export function fastConstants(constants: NativeConstants): NativeConstants {
  return { ...constants };
}

/** The addon of this package (prebuilds/ or build/), loaded once, on first use. */
export function defaultBinding(): NativeBinding {
  loaded ??= loadBinding();
  return loaded;
}

/** `candidate` if it has the binding's shape; a TypeError naming what is missing otherwise. */
export function checkBinding(candidate: unknown): NativeBinding {
  const value = candidate as Partial<NativeBinding> | null;
  if (value === null || typeof value !== 'object' || typeof value.Server !== 'function' || typeof value.constants !== 'object') {
    throw new TypeError('Expected the "nativeBinding" option to be a loaded epollws addon ({ Server, constants })');
  }
  return value as NativeBinding;
}

function loadBinding(): NativeBinding {
  // node-gyp-build looks in prebuilds/<platform>-<arch>/ and then build/Release|Debug.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    const error = new Error(
      `epollws: no native binary for ${process.platform}-${process.arch} ` +
        `(Node ${process.versions.node}, N-API ${process.versions.napi}). ` +
        `Looked in ${path.join(packageRoot, 'prebuilds')} and ${path.join(packageRoot, 'build')}. ` +
        `Build it from source with: npx node-gyp rebuild --directory ${packageRoot}\n${detail}`,
    );
    (error as Error & { code: string }).code = 'EPOLLWS_NO_BINARY';
    throw error;
  }
}
