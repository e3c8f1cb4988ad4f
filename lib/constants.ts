// Constants of the public API. Everything the core defines (event kinds, opcodes, call statuses,
// defaults) is read from the binding by lib/core.ts, never repeated here.

/** The ready states of a WebSocket, as in the WHATWG API and ws. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/**
 * @internal Whether `code` may be sent in a close frame (RFC 6455 §7.4). An argument check for
 * close(); test/unit checks it against the core's isValidCloseCode for every 16-bit value.
 */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}
