// What `request.socket` tells about a connection on a TLS port, in node:tls's TLSSocket terms, so
// code written for ws on an https.Server (request.socket.getPeerCertificate(), .authorized, ...)
// reads the same. The core reports the session once, at the upgrade; the certificate is parsed
// on demand with node:crypto's X509Certificate.
import { X509Certificate } from 'node:crypto';

import type { RequestSocketInfo } from './request';

/** A client certificate as TLSSocket#getPeerCertificate() describes it. */
export interface PeerCertificate {
  subject: Record<string, string>;
  issuer: Record<string, string>;
  subjectaltname?: string;
  valid_from: string;
  valid_to: string;
  serialNumber: string;
  fingerprint: string;
  fingerprint256: string;
  fingerprint512: string;
  /** The certificate, DER-encoded. */
  raw: Buffer;
}

/** `request.socket` on a port with the `tls` option. */
export interface TlsRequestSocketInfo extends RequestSocketInfo {
  readonly encrypted: true;
  /** The client sent a certificate that verified against `ca` (with requestCert). */
  readonly authorized: boolean;
  /** Why it did not ('UNABLE_TO_VERIFY_LEAF_SIGNATURE', ...); undefined when authorized or not asked. */
  readonly authorizationError: string | undefined;
  /** The ALPN protocol agreed ('http/1.1'), or false. */
  readonly alpnProtocol: string | false;
  /** The name the client asked for (SNI), or false. */
  readonly servername: string | false;
  getProtocol(): string;
  getCipher(): { name: string; standardName: string; version: string };
  isSessionReused(): boolean;
  /** The client's certificate, or an empty object when it sent none. */
  getPeerCertificate(): PeerCertificate | Record<string, never>;
}

/** @internal The session as the binding reports it (tls_wrap.cc). */
export interface NativeTlsSession {
  protocol: string;
  cipher: string;
  standardCipher: string;
  alpn: string;
  servername: string;
  reused: boolean;
  authorized: boolean;
  authorizationError: string;
  peerCertificate: Buffer | null;
}

/** @internal */
export class TlsSocketInfo implements TlsRequestSocketInfo {
  readonly encrypted = true as const;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
  readonly alpnProtocol: string | false;
  readonly servername: string | false;
  readonly #session: NativeTlsSession;
  #certificate: PeerCertificate | undefined;

  constructor(peer: RequestSocketInfo, session: NativeTlsSession) {
    this.remoteAddress = peer.remoteAddress;
    this.remotePort = peer.remotePort;
    this.remoteFamily = peer.remoteFamily;
    this.#session = session;
    this.authorized = session.authorized;
    this.authorizationError = session.authorizationError || undefined;
    this.alpnProtocol = session.alpn || false;
    this.servername = session.servername || false;
  }

  getProtocol(): string {
    return this.#session.protocol;
  }

  getCipher(): { name: string; standardName: string; version: string } {
    return { name: this.#session.cipher, standardName: this.#session.standardCipher, version: this.#session.protocol };
  }

  isSessionReused(): boolean {
    return this.#session.reused;
  }

  getPeerCertificate(): PeerCertificate | Record<string, never> {
    const der = this.#session.peerCertificate;
    if (der === null) return {};
    this.#certificate ??= describeCertificate(der);
    return this.#certificate;
  }
}

function describeCertificate(der: Buffer): PeerCertificate {
  const x509 = new X509Certificate(der);
  const out: PeerCertificate = {
    subject: distinguishedName(x509.subject),
    issuer: distinguishedName(x509.issuer),
    valid_from: x509.validFrom,
    valid_to: x509.validTo,
    serialNumber: x509.serialNumber,
    fingerprint: x509.fingerprint,
    fingerprint256: x509.fingerprint256,
    fingerprint512: x509.fingerprint512,
    raw: der,
  };
  if (x509.subjectAltName !== undefined) out.subjectaltname = x509.subjectAltName;
  return out;
}

// "CN=a\nO=b" (X509Certificate's form) as { CN: 'a', O: 'b' } (getPeerCertificate's).
function distinguishedName(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const equals = line.indexOf('=');
    if (equals > 0) out[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return out;
}
