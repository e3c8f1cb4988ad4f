// The one file that knows the addon's shape. Everything else talks to NativeServer, so tests
// could hand in another implementation.
import * as path from 'node:path';

export interface NativeServerOptions {
  maxPayload: number;
  maxHeaderSize: number;
  maxConnections: number;
  handshakeTimeout: number;
  closeTimeout: number;
  idleTimeout: number;
  sendPings: boolean;
  maxBackpressure: number;
  dropOnBackpressure: boolean;
  maxFragments: number;
  proxyProtocol: boolean;
  path: string;
}

/** Called once per reactor turn with every event of that turn. */
export type BatchHandler = (
  count: number,
  records: Uint32Array,
  data: Buffer,
  externals: Buffer[] | undefined,
) => void;

export interface NativeServer {
  /** Returns [errno, syscall, boundPort]; errno 0 on success. */
  listen(host: string, port: number, backlog: number, reusePort: boolean): [number, string, number];
  stopListening(): void;
  /** Drops every connection, or only those still in the handshake; known ones report CLOSE. */
  dropConnections(onlyUnknown: boolean): void;
  /** Returns the connection's bufferedAmount after queueing, -1 if it cannot send, -3 if dropped (backpressure). */
  send(slot: number, generation: number, data: string | Uint8Array, opcode: number, fin: boolean): number;
  close(slot: number, generation: number, code: number, reason: string): number;
  terminate(slot: number, generation: number): number;
  accept(slot: number, generation: number, protocol: string, extensions: string, headerLines: string): number;
  reject(slot: number, generation: number, status: number, headerLines: string, body: string): number;
  /** Takes over a TCP connection upgraded by node:http; returns [errno, slot, generation]. */
  adopt(fd: number, key: string, protocol: string, extensions: string, headerLines: string, head: Buffer): [number, number, number];
  bufferedAmount(slot: number, generation: number): number;
  flush(): void;
  connectionCount(): number;
  destroy(): void;
}

export interface NativeErrorInfo {
  code: string;
  message: string;
  closeCode: number;
}

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
  MESSAGE_BINARY: number;
  MESSAGE_EXTERNAL: number;
  RECORD_WORDS: number;
  ERRORS: NativeErrorInfo[];
}

export interface NativeBinding {
  Server: new (options: NativeServerOptions, onBatch: BatchHandler) => NativeServer;
  constants: NativeConstants;
}

const packageRoot = path.join(__dirname, '..');

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

export const binding: NativeBinding = loadBinding();
