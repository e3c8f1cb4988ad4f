export { WebSocketServer } from './websocket-server';
// ws exports the server under both names (`WebSocket.Server` in older code).
export { WebSocketServer as Server } from './websocket-server';
export type { AddressInfo, WebSocketServerEvents } from './websocket-server';
export { WebSocket } from './websocket';
export type { BinaryType, ControlData, MessageData, SendCallback, SendOptions, WebSocketData, WebSocketEvents } from './websocket';
export type { PublishOptions, PublishStats } from './topics';
export { BackpressureError, WebSocketError, SystemError, TlsError } from './errors';
export type { HandshakeFailureReason } from './errors';
export type { BackpressurePolicy, ServerOptions, TlsOptions, TlsServerNameOptions, UpgradeDecision, VerifyClient, VerifyClientCallback, VerifyClientInfo, WebSocketClass } from './options';
export type { UpgradeRequest, RequestSocketInfo } from './request';
export type { PeerCertificate, TlsRequestSocketInfo } from './tls-socket';
export type { NormalizedDeflateOptions, PerMessageDeflateOptions, ZlibDeflateOptions } from './permessage-deflate';
export type { RefusedSocket } from './refused-socket';
export { CONNECTING, OPEN, CLOSING, CLOSED } from './constants';
export type { ReadyState } from './constants';
