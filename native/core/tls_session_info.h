// What the user may ask about a TLS connection, in node:tls's terms (TLSSocket's getProtocol,
// getCipher, alpnProtocol, servername, isSessionReused, authorized, authorizationError,
// getPeerCertificate): read from the SSL once the handshake is done.
#pragma once
#include <string>

#include "openssl_api.h"

namespace epollws {

struct TlsSessionInfo {
  std::string protocol;         // "TLSv1.3"
  std::string cipher;           // OpenSSL's name ("TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256")
  std::string standardCipher;   // the IANA name
  std::string alpn;             // empty: none agreed
  std::string serverName;       // SNI; empty: none sent
  std::string peerCertificate;  // DER; empty: the client sent none
  std::string authorizationError;  // node's code for the verdict ("UNABLE_TO_VERIFY_LEAF_SIGNATURE"); empty: none
  bool sessionReused = false;
  bool authorized = false;      // a client certificate was sent and verified
};

// When the server asked for a client certificate (requestCert) a missing one is an authorization
// error, as node reports it.
TlsSessionInfo describeTlsSession(const OpenSsl& api, const SSL* ssl);

// node's name for an X509_V_ERR_* code (the constant's name without the prefix).
std::string verifyErrorName(const OpenSsl& api, long code);

}  // namespace epollws
