/**
 * Why the server refused an opening handshake (`WebSocketError#reason`): the names of the core's
 * HandshakeFailure enum (native/core/handshake_failure.h), which the addon exports.
 */
export type HandshakeFailureReason =
  | 'INVALID_LINE_ENDING'
  | 'HEADERS_TOO_LARGE'
  | 'MALFORMED_REQUEST_LINE'
  | 'INVALID_METHOD'
  | 'UNSUPPORTED_HTTP_VERSION'
  | 'MALFORMED_HEADER_LINE'
  | 'INVALID_HEADER_VALUE'
  | 'MISSING_HOST'
  | 'DUPLICATE_HOST'
  | 'INVALID_UPGRADE'
  | 'INVALID_CONNECTION'
  | 'INVALID_KEY'
  | 'DUPLICATE_VERSION'
  | 'INVALID_VERSION'
  | 'DUPLICATE_ORIGIN'
  | 'INVALID_SUBPROTOCOL'
  | 'INVALID_PROXY_HEADER'
  | 'PATH_NOT_SERVED'
  | 'TOO_MANY_CONNECTIONS'
  | 'UPGRADE_REQUIRED';

/**
 * A protocol error on one connection, or a refused handshake. `code` follows ws's WS_ERR_* names
 * and the message ws's text; a RangeError, as ws's protocol errors are.
 */
export class WebSocketError extends RangeError {
  readonly code: string;
  /** The close code sent to the peer (1002, 1007, 1009...); undefined for a refused handshake. */
  readonly closeCode: number | undefined;
  /** A refused handshake: why, machine-readable. */
  readonly reason: HandshakeFailureReason | undefined;
  /** A refused handshake: the HTTP status of the answer. */
  readonly status: number | undefined;

  constructor(message: string, code: string, closeCode: number | undefined, handshake?: { reason: HandshakeFailureReason; status: number }) {
    super(message);
    this.name = 'WebSocketError';
    this.code = code;
    this.closeCode = closeCode;
    this.reason = handshake?.reason;
    this.status = handshake?.status;
  }
}

// ws's messages that name the offending value ("invalid opcode 7").
const DETAILED_CODES: ReadonlySet<string> = new Set([
  'WS_ERR_INVALID_OPCODE',
  'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  'WS_ERR_INVALID_CLOSE_PAYLOAD_LENGTH',
  'WS_ERR_INVALID_CLOSE_CODE',
]);

/** @internal A protocol error as the core reported it: its table entry and the value it names. */
export function protocolError(info: { code: string; message: string; closeCode: number }, detail: number): WebSocketError {
  const message = DETAILED_CODES.has(info.code) ? `${info.message} ${detail}` : info.message;
  // The core tells a one-byte close payload apart; ws calls it a bad control payload length.
  const code = info.code === 'WS_ERR_INVALID_CLOSE_PAYLOAD_LENGTH' ? 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH' : info.code;
  return new WebSocketError(message, code, info.closeCode);
}

/** A refused opening handshake (ws's code WS_ERR_INVALID_HANDSHAKE). */
export function handshakeError(message: string, reason: HandshakeFailureReason, status: number): WebSocketError {
  return new WebSocketError(message, 'WS_ERR_INVALID_HANDSHAKE', undefined, { reason, status });
}

/** A send callback's error: the connection closed before the kernel took the message (ws's text). */
export function notOpenError(readyState: number): Error {
  const names = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
  return new Error(`WebSocket is not open: readyState ${readyState} (${names[readyState]})`);
}

/** A message refused because the socket's queue was over maxBackpressure (policy 'drop'). */
export class BackpressureError extends Error {
  readonly code = 'EPOLLWS_BACKPRESSURE';

  constructor() {
    super('The message was dropped: the socket has more than maxBackpressure bytes queued');
    this.name = 'BackpressureError';
  }
}

/** A failed system call (listen, bind, accept), shaped like Node's own system errors. */
export class SystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly address?: string;
  readonly port?: number;

  constructor(errno: number, syscall: string, address?: string, port?: number) {
    const [code, description] = describeErrno(errno);
    const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
    super(`${syscall} ${code}: ${description}${where}`);
    this.name = 'SystemError';
    this.code = code;
    this.errno = -errno;
    this.syscall = syscall;
    this.address = address;
    this.port = port;
  }
}

function describeErrno(errno: number): [string, string] {
  // libuv's table has every errno name and message Node itself prints.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const map = (require('node:util') as { getSystemErrorMap(): Map<number, [string, string]> }).getSystemErrorMap();
  return map.get(-errno) ?? [`E${errno}`, 'unknown error'];
}

/**
 * The `tls` option (or addServerName, setSecureContext, setTicketKeys) could not be used:
 * EPOLLWS_TLS_CONFIG when OpenSSL refused a key, certificate or setting (its reason is in the
 * message), EPOLLWS_TLS_UNAVAILABLE when this process has no OpenSSL 3 for the addon to use.
 */
export class TlsError extends Error {
  readonly code: 'EPOLLWS_TLS_CONFIG' | 'EPOLLWS_TLS_UNAVAILABLE';

  constructor(message: string, code: 'EPOLLWS_TLS_CONFIG' | 'EPOLLWS_TLS_UNAVAILABLE' = 'EPOLLWS_TLS_CONFIG') {
    super(message);
    this.name = 'TlsError';
    this.code = code;
  }
}
