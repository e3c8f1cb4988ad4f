/** A protocol error on one connection, or a refused handshake. `code` follows ws's WS_ERR_* names. */
export class WebSocketError extends Error {
  readonly code: string;
  /** The close code sent to the peer (1002, 1007, 1009...), or the HTTP status for handshake errors. */
  readonly closeCode: number;

  constructor(message: string, code: string, closeCode: number) {
    super(message);
    this.name = 'WebSocketError';
    this.code = code;
    this.closeCode = closeCode;
  }
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
