// A throwaway certificate authority and ECDSA P-256 server certificates for the TLS tests, made
// with the openssl CLI in a temporary directory once per process. `certFor(name)` gives a
// certificate for `name` (DNS and, for localhost, 127.0.0.1 / ::1) signed by the CA; `ca` is the
// CA's PEM for clients to trust, and `spki` the base64 SHA-256 of a certificate's public key
// (Chromium's --ignore-certificate-errors-spki-list).
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const OPENSSL = '/usr/bin/openssl';
/** EPOLLWS_TEST_TLS=1: the conformance suites talk to the server under test over TLS. */
export const TEST_TLS = process.env.EPOLLWS_TEST_TLS === '1';
let state;

function openssl(args, dir) {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'epollws-tls-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=epollws test CA', '-out', 'ca.pem'], dir);
  state = { dir, ca: readFileSync(path.join(dir, 'ca.pem'), 'utf8'), caFile: path.join(dir, 'ca.pem'), certs: new Map(), serial: 1 };
}

/** The CA's certificate (PEM). */
export function caCert() {
  if (!state) setup();
  return state.ca;
}

/** { key, cert, keyFile, certFile, caFile, spki } for `name`, signed by the test CA. */
export function certFor(name = 'localhost') {
  if (!state) setup();
  const known = state.certs.get(name);
  if (known) return known;
  const { dir } = state;
  const base = name.replace(/[^a-z0-9.-]/gi, '_');
  const alt = name === 'localhost' ? 'DNS:localhost,IP:127.0.0.1,IP:::1' : `DNS:${name}`;
  writeFileSync(path.join(dir, `${base}.ext`), `subjectAltName=${alt}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`], dir);
  openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${name}`, '-out', `${base}.csr`], dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(state.serial++),
    '-days', '2', '-sha256', '-extfile', `${base}.ext`, '-out', `${base}.pem`], dir);
  const keyFile = path.join(dir, `${base}.key`);
  const certFile = path.join(dir, `${base}.pem`);
  const cert = readFileSync(certFile, 'utf8');
  const der = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  const made = { key: readFileSync(keyFile, 'utf8'), cert, keyFile, certFile, caFile: state.caFile, spki: createHash('sha256').update(der).digest('base64') };
  state.certs.set(name, made);
  return made;
}
