// One certificate's TLS settings, with node:tls's option names (lib/tls-options.ts fills it):
// what a TlsContext (tls_context.h) is built from.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace epollws {

struct TlsConfig {
  std::string key;                 // PEM private key (encrypted when `passphrase` is set)
  std::string cert;                // PEM chain, leaf first
  std::vector<std::string> ca;     // PEM certificates trusted for client certificates
  std::string pfx;                 // PKCS#12 (DER): key, certificate and chain in one
  std::string passphrase;          // for `key` or `pfx`
  std::string ciphers;             // OpenSSL cipher list; its TLS_* names are TLS 1.3 suites
  std::string ecdhCurve;           // groups list ("P-256:X25519"); empty or "auto": OpenSSL's
  int minVersion = 0;              // TLS1_2_VERSION... (0: TLS 1.2)
  int maxVersion = 0;              // 0: the highest OpenSSL has
  uint32_t sessionTimeoutSeconds = 0;  // 0: OpenSSL's (300 s)
  bool honorCipherOrder = false;   // the server's cipher order wins
  bool requestCert = false;        // ask the client for a certificate
  bool rejectUnauthorized = true;  // with requestCert: fail the handshake without a valid one
};

}  // namespace epollws
