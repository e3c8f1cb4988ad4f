// The `tls` option in node:tls's names, checked and turned into what the core's TLS reads
// (native/binding/tls_wrap.cc): PEM text, a PKCS#12 Buffer, protocol versions as numbers, node's
// defaults (tls.DEFAULT_CIPHERS, DEFAULT_MIN_VERSION, DEFAULT_ECDH_CURVE) filled in, so a server
// negotiates what a node:tls server given the same options would. Options node has but the
// native TLS does not are refused by name rather than ignored.
import * as tls from 'node:tls';

import { TlsError } from './errors';
import type { TlsOptions, TlsServerNameOptions } from './options';

/** @internal What the binding reads for one certificate. */
export interface NativeTlsConfig {
  key: string | Buffer | undefined;
  cert: string | Buffer | undefined;
  ca: (string | Buffer)[] | undefined;
  pfx: Buffer | undefined;
  passphrase: string | undefined;
  ciphers: string;
  ecdhCurve: string;
  minVersion: number;
  maxVersion: number;
  sessionTimeout: number | undefined;
  honorCipherOrder: boolean;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

/** @internal The whole option: the default certificate, those chosen by SNI, the ticket keys. */
export interface NativeTls {
  defaults: NativeTlsConfig;
  names: [string, NativeTlsConfig][];
  ticketKeys: Buffer | undefined;
}

const VERSIONS: Record<string, number> = { TLSv1: 0x0301, 'TLSv1.1': 0x0302, 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 };

// node:tls options the native TLS has no equivalent for: refused, so that nothing the user relies
// on is silently dropped.
const UNSUPPORTED = [
  'SNICallback', 'ALPNCallback', 'crl', 'dhparam', 'sigalgs', 'privateKeyEngine', 'privateKeyIdentifier',
  'clientCertEngine', 'pskCallback', 'secureContext', 'requestOCSP', 'secureProtocol', 'secureOptions',
];

/** @internal */
export function nativeTls(entries: (TlsOptions | TlsServerNameOptions)[]): NativeTls {
  let defaults: TlsOptions | undefined;
  const names: [string, NativeTlsConfig][] = [];
  for (const entry of entries) {
    const name = (entry as Partial<TlsServerNameOptions>).serverName;
    if (typeof name === 'string') names.push([name, nativeTlsConfig(entry)]);
    else defaults ??= entry;
  }
  // A list of named certificates only: the first also serves clients that name none.
  defaults ??= entries[0];
  const ticketKeys = (defaults as tls.TlsOptions).ticketKeys;
  if (ticketKeys !== undefined && (!Buffer.isBuffer(ticketKeys) || ticketKeys.length !== 48)) {
    throw new TlsError('tls: ticketKeys must be a 48-byte Buffer');
  }
  return { defaults: nativeTlsConfig(defaults), names, ticketKeys };
}

/** @internal One certificate's options. */
export function nativeTlsConfig(options: tls.SecureContextOptions & tls.TlsOptions): NativeTlsConfig {
  if (options === null || typeof options !== 'object') throw new TlsError('tls: expected an object of node:tls options');
  for (const name of UNSUPPORTED) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw new TlsError(`tls: the "${name}" option is not supported by epollws's native TLS`);
    }
  }
  // A WebSocket handshake is HTTP/1.1: ALPN agrees on 'http/1.1' when the client offers it.
  const alpn = (options as tls.TlsOptions).ALPNProtocols;
  if (alpn !== undefined && !(Array.isArray(alpn) && alpn.some((p) => String(p) === 'http/1.1'))) {
    throw new TlsError('tls: ALPNProtocols must include "http/1.1" (the only protocol a WebSocket server speaks)');
  }
  const minVersion = version('minVersion', options.minVersion ?? tls.DEFAULT_MIN_VERSION);
  const maxVersion = options.maxVersion === undefined ? 0 : version('maxVersion', options.maxVersion);
  const key = pemOf('key', options.key);
  const passphrase = options.passphrase ?? passphraseOf(options.key) ?? passphraseOf(options.pfx);
  const requestCert = options.requestCert === true;
  return {
    key,
    cert: joinPem('cert', options.cert),
    ca: listOf('ca', options.ca),
    pfx: pfxOf(options.pfx),
    passphrase,
    ciphers: options.ciphers ?? tls.DEFAULT_CIPHERS,
    ecdhCurve: options.ecdhCurve ?? tls.DEFAULT_ECDH_CURVE,
    minVersion,
    maxVersion,
    sessionTimeout: options.sessionTimeout,
    honorCipherOrder: options.honorCipherOrder === true,
    requestCert,
    rejectUnauthorized: options.rejectUnauthorized !== false,
  };
}

function version(name: string, value: string): number {
  const number = VERSIONS[value];
  if (number === undefined) throw new TlsError(`tls: ${name} must be one of ${Object.keys(VERSIONS).join(', ')} (got ${String(value)})`);
  return number;
}

type KeyInput = string | Buffer | (string | Buffer | tls.KeyObject)[] | undefined;

function isPem(value: unknown): value is string | Buffer {
  return typeof value === 'string' || Buffer.isBuffer(value);
}

// node takes a key, or a list of keys (objects with `pem` and `passphrase`); one is served here.
function pemOf(name: string, value: KeyInput): string | Buffer | undefined {
  if (value === undefined || isPem(value)) return value;
  if (Array.isArray(value)) {
    if (value.length > 1) throw new TlsError(`tls: one ${name} per certificate entry (use serverName entries for more)`);
    const first = value[0];
    if (isPem(first)) return first;
    if (first && typeof first === 'object' && isPem((first as tls.KeyObject).pem)) return (first as tls.KeyObject).pem;
  }
  throw new TlsError(`tls: ${name} must be PEM text (string or Buffer)`);
}

function passphraseOf(value: unknown): string | undefined {
  if (Array.isArray(value) && value[0] && typeof value[0] === 'object' && !Buffer.isBuffer(value[0])) {
    const passphrase = (value[0] as { passphrase?: unknown }).passphrase;
    return typeof passphrase === 'string' ? passphrase : undefined;
  }
  return undefined;
}

// A certificate chain given as one PEM text or a list of them.
function joinPem(name: string, value: string | Buffer | (string | Buffer)[] | undefined): string | Buffer | undefined {
  if (value === undefined || isPem(value)) return value;
  if (Array.isArray(value) && value.every(isPem)) return value.map((part) => part.toString()).join('\n');
  throw new TlsError(`tls: ${name} must be PEM text or a list of PEM texts`);
}

function listOf(name: string, value: string | Buffer | (string | Buffer)[] | undefined): (string | Buffer)[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (!list.every(isPem)) throw new TlsError(`tls: ${name} must be PEM text or a list of PEM texts`);
  return list;
}

function pfxOf(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'latin1');
  if (Array.isArray(value) && value.length === 1) {
    const first = value[0] as { buf?: unknown } | Buffer;
    if (Buffer.isBuffer(first)) return first;
    if (first && Buffer.isBuffer(first.buf)) return first.buf;
  }
  throw new TlsError('tls: pfx must be a Buffer (or one { buf, passphrase })');
}
