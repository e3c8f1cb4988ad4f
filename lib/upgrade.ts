// Pieces of the opening handshake that run in JS: subprotocol parsing, response header lines,
// and taking over sockets that node:http upgraded ({ server } / { noServer } modes).
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

import type { UpgradeRequest } from './request';

// RFC 7230 token characters, for subprotocol names and header names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const KEY = /^[+/0-9A-Za-z]{22}==$/;

export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

// Shared by every request that offers no subprotocol; handleProtocols is never called with it.
const NO_PROTOCOLS: ReadonlySet<string> = new Set<string>();

/** The offered subprotocols, or null when the header is malformed (or repeats a name). */
export function parseProtocols(header: string | undefined): ReadonlySet<string> | null {
  if (header === undefined) return NO_PROTOCOLS;
  const protocols = new Set<string>();
  for (const part of header.split(',')) {
    const name = part.trim();
    if (!TOKEN.test(name) || protocols.has(name)) return null;
    protocols.add(name);
  }
  return protocols;
}

export function headerLines(headers: Record<string, string> | undefined): string[] {
  if (!headers) return [];
  return Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
}

/** "Name: value" with a token name and no CR, LF or NUL: safe to put on the wire verbatim. */
export function isValidHeaderLine(line: string): boolean {
  const colon = line.indexOf(':');
  return colon > 0 && TOKEN.test(line.slice(0, colon)) && FIELD_VALUE.test(line.slice(colon + 1));
}

export function joinHeaderLines(lines: string[]): string {
  return lines.length ? `${lines.join('\r\n')}\r\n` : '';
}

export interface HandshakeProblem {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/** RFC 6455 §4.2.1 checks on a request node:http parsed (the core does its own for its sockets). */
export function checkUpgradeRequest(request: UpgradeRequest): HandshakeProblem | undefined {
  const headers = request.headers;
  if (request.method !== 'GET') return { status: 405, message: 'Invalid HTTP method' };
  if ((headers.upgrade ?? '').toLowerCase().split(',').every((token) => token.trim() !== 'websocket')) {
    return { status: 400, message: 'Invalid Upgrade header' };
  }
  const key = headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key.trim())) {
    return { status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' };
  }
  if (headers['sec-websocket-version'] !== '13') {
    return {
      status: 426,
      message: 'Unsupported WebSocket version',
      headers: { 'Sec-WebSocket-Version': '13' },
    };
  }
  return undefined;
}

/** Answers an upgrade on a node:http socket with an HTTP error and closes it. */
export function abortHandshake(socket: Duplex, status: number, message?: string, headers?: Record<string, string>): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const body = message ?? STATUS_CODES[status] ?? '';
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    'Connection: close',
    'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...headerLines(headers).filter(isValidHeaderLine),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

interface HandleWithFd {
  fd?: number;
  readStop?: () => number;
}

/** Node's TCP handle of a socket, where its file descriptor can be read (Linux, plain TCP). */
export function socketHandle(socket: Duplex): HandleWithFd | undefined {
  const handle = (socket as unknown as { _handle?: HandleWithFd | null })._handle;
  return handle ?? undefined;
}

/** True for TLS sockets, which the native reactor cannot serve (it does not terminate TLS). */
export function isEncrypted(socket: Duplex): boolean {
  return (socket as unknown as { encrypted?: boolean }).encrypted === true;
}
