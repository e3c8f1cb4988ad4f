// A throwaway certificate authority and certificates for the TLS tests, made with the openssl CLI
// in a temporary directory once per process. `certFor(name)` gives an ECDSA P-256 server
// certificate for `name` (DNS and, for localhost, 127.0.0.1 / ::1) signed by the CA; `ca` is the
// CA's PEM for clients to trust, and `spki` the base64 SHA-256 of a certificate's public key
// (Chromium's --ignore-certificate-errors-spki-list). `certFor(name, options)` also makes RSA keys,
// client certificates, certificates issued by an intermediate (their `cert` is the chain) or by a
// second CA that nobody trusts, and `protectedKey` / `pfxOf` give a key under a passphrase.
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

function newKey(file, kind, dir) {
  if (kind === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file], dir);
  else openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file], dir);
}

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'epollws-tls-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  state = { dir, certs: new Map(), serial: 1, issuers: new Map() };
  const ca = selfSigned('ca', 'epollws test CA');
  state.ca = ca.cert;
  state.caFile = ca.certFile;
}

function selfSigned(base, cn) {
  const { dir } = state;
  newKey(`${base}.key`, 'ec', dir);
  openssl(['req', '-x509', '-new', '-key', `${base}.key`, '-sha256', '-days', '2', '-subj', `/CN=${cn}`, '-out', `${base}.pem`], dir);
  const made = { keyFile: `${base}.key`, certFile: path.join(dir, `${base}.pem`), cert: readFileSync(path.join(dir, `${base}.pem`), 'utf8'), chain: '' };
  state.issuers.set(base, made);
  return made;
}

/**
 * The issuer called `which`: 'ca' (the CA clients are given), 'intermediate' (a CA that 'ca' signed:
 * what it signs verifies only with the intermediate in the chain) or 'other' (trusted by no test).
 */
function issuer(which) {
  if (!state) setup();
  const known = state.issuers.get(which);
  if (known) return known;
  if (which === 'other') return selfSigned('other', 'epollws untrusted CA');
  if (which !== 'intermediate') throw new Error(`no issuer ${which}`);
  const { dir } = state;
  writeFileSync(path.join(dir, 'intermediate.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  newKey('intermediate.key', 'ec', dir);
  openssl(['req', '-new', '-key', 'intermediate.key', '-subj', '/CN=epollws test intermediate', '-out', 'intermediate.csr'], dir);
  openssl(['x509', '-req', '-in', 'intermediate.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(state.serial++),
    '-days', '2', '-sha256', '-extfile', 'intermediate.ext', '-out', 'intermediate.pem'], dir);
  const cert = readFileSync(path.join(dir, 'intermediate.pem'), 'utf8');
  const made = { keyFile: 'intermediate.key', certFile: path.join(dir, 'intermediate.pem'), cert, chain: cert };
  state.issuers.set(which, made);
  return made;
}

/** The CA's certificate (PEM). */
export function caCert() {
  if (!state) setup();
  return state.ca;
}

/** The certificate (PEM) of the CA that no client or server is told to trust. */
export function untrustedCaCert() {
  return issuer('other').cert;
}

/**
 * { key, cert, keyFile, certFile, caFile, spki, leaf } for `name`. Options: `kind` 'ec' (P-256) or
 * 'rsa' (2048 bits); `usage` 'server' (SAN, serverAuth) or 'client' (clientAuth); `issuer` 'ca',
 * 'intermediate' (then `cert` is the leaf followed by the intermediate, and `leaf` the leaf alone)
 * or 'other'.
 */
export function certFor(name = 'localhost', { kind = 'ec', usage = 'server', issuer: by = 'ca' } = {}) {
  if (!state) setup();
  const id = `${name}|${kind}|${usage}|${by}`;
  const known = state.certs.get(id);
  if (known) return known;
  const { dir } = state;
  const signer = issuer(by);
  const base = `${name.replace(/[^a-z0-9.-]/gi, '_')}-${kind}-${usage}-${by}`;
  const alt = name === 'localhost' ? 'DNS:localhost,IP:127.0.0.1,IP:::1' : `DNS:${name}`;
  const ext = usage === 'client'
    ? 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n'
    : `subjectAltName=${alt}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature${kind === 'rsa' ? ',keyEncipherment' : ''}\nextendedKeyUsage=serverAuth\n`;
  writeFileSync(path.join(dir, `${base}.ext`), ext);
  newKey(`${base}.key`, kind, dir);
  openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${name}`, '-out', `${base}.csr`], dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', signer.certFile, '-CAkey', signer.keyFile, '-set_serial', String(state.serial++),
    '-days', '2', '-sha256', '-extfile', `${base}.ext`, '-out', `${base}.pem`], dir);
  const keyFile = path.join(dir, `${base}.key`);
  const leaf = readFileSync(path.join(dir, `${base}.pem`), 'utf8');
  const certFile = path.join(dir, `${base}.chain.pem`);
  writeFileSync(certFile, leaf + signer.chain);
  const der = new X509Certificate(leaf).publicKey.export({ type: 'spki', format: 'der' });
  const made = {
    key: readFileSync(keyFile, 'utf8'), cert: leaf + signer.chain, leaf, keyFile, certFile, caFile: state.caFile,
    spki: createHash('sha256').update(der).digest('base64'),
  };
  state.certs.set(id, made);
  return made;
}

/** `made.key` (from certFor) as an encrypted PKCS#8 PEM (AES-256-CBC) under `passphrase`. */
export function protectedKey(made, passphrase) {
  const out = path.join(state.dir, `${path.basename(made.keyFile)}.${createHash('sha1').update(passphrase).digest('hex')}.enc`);
  openssl(['pkcs8', '-topk8', '-in', made.keyFile, '-v2', 'aes-256-cbc', '-passout', `pass:${passphrase}`, '-out', out], state.dir);
  return readFileSync(out, 'utf8');
}

/** `made`'s key and certificate (and the CA) as a PKCS#12 (pfx) Buffer under `passphrase`. */
export function pfxOf(made, passphrase) {
  const out = path.join(state.dir, `${path.basename(made.keyFile)}.${createHash('sha1').update(passphrase).digest('hex')}.p12`);
  openssl(['pkcs12', '-export', '-inkey', made.keyFile, '-in', made.certFile, '-certfile', state.caFile,
    '-passout', `pass:${passphrase}`, '-out', out], state.dir);
  return readFileSync(out);
}
