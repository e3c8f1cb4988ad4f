import { binding } from './native';

/** The ready states of a WebSocket, as in the WHATWG API and ws. */
export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

export const enum Opcode {
  CONTINUATION = 0x0,
  TEXT = 0x1,
  BINARY = 0x2,
  CLOSE = 0x8,
  PING = 0x9,
  PONG = 0xa,
}

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const MAX_CONTROL_PAYLOAD = 125;

/** Event kinds and flags shared with native/core/event_batch.h (read from the addon, never duplicated). */
export const native = binding.constants;
