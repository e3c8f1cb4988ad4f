// The published types: what dist/index.d.ts exports, and no internal member in any .d.ts it reaches.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../../dist/', import.meta.url));

function reachable(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) reachable(path.join(dist, `${spec}.d.ts`), seen);
  return seen;
}

it('index.d.ts exports exactly the public names', () => {
  const text = fs.readFileSync(path.join(dist, 'index.d.ts'), 'utf8');
  const names = [...text.matchAll(/export (?:type )?\{([^}]*)\}/g)]
    .flatMap(([, list]) => list.split(',').map((n) => n.trim().split(/\s+as\s+/).pop()))
    .filter(Boolean)
    .sort();
  assert.deepEqual(names, [
    'AddressInfo', 'BackpressureError', 'BackpressurePolicy', 'BinaryType', 'CLOSED', 'CLOSING', 'CONNECTING', 'OPEN',
    'ControlData', 'MessageData', 'WebSocketClass',
    'HandshakeFailureReason', 'NormalizedDeflateOptions', 'PerMessageDeflateOptions', 'ZlibDeflateOptions', 'PublishOptions', 'PublishStats', 'ReadyState', 'RefusedSocket', 'RequestSocketInfo', 'SendCallback', 'SendOptions', 'Server', 'ServerOptions', 'SystemError', 'TlsError', 'TlsOptions', 'TlsServerNameOptions', 'PeerCertificate', 'TlsRequestSocketInfo',
    'UpgradeDecision', 'UpgradeRequest', 'VerifyClient', 'VerifyClientCallback', 'VerifyClientInfo', 'WebSocket',
    'WebSocketData', 'WebSocketError', 'WebSocketEvents', 'WebSocketServer', 'WebSocketServerEvents',
  ].sort());
});

it('no internal module or member appears in the published types', () => {
  const files = [...reachable(path.join(dist, 'index.d.ts'))].map((f) => path.basename(f));
  for (const internal of ['native.d.ts', 'core.d.ts', 'handshake.d.ts', 'http-takeover.d.ts', 'headers.d.ts', 'tls-options.d.ts']) {
    assert.ok(!files.includes(internal), `${internal} is reachable from index.d.ts (${files.join(', ')})`);
  }
  const internalNames = /\b(native|nativeBinding|scheduleFlush|_isPending|_acceptQueued|_rejectQueued|_emitClose|_emitError|_hasGeneration|_control|_queue|_events|_eventsCount|ConnectionHost|NativeServer|NativeBinding|NativeDefaults|normalizeOptions|ListenerRequest|clientAddressOf|isSendableCloseCode|@internal)\b/;
  for (const file of files) {
    const text = fs.readFileSync(path.join(dist, file), 'utf8');
    // Declarations only (doc comments may say "the native reactor"); "@internal" in any line.
    const hit = text.split('\n').find((line) => (/^\s*(\/\*\*|\*)/.test(line) ? /@internal/.test(line) : internalNames.test(line)));
    assert.equal(hit, undefined, `${file}: ${hit}`);
  }
});
