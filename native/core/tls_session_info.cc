#include "tls_session_info.h"

#include <openssl/x509_vfy.h>

namespace epollws {

std::string verifyErrorName(const OpenSsl& api, long code) {
  switch (code) {
#define EPOLLWS_VERIFY_NAME(name) \
  case X509_V_ERR_##name:         \
    return #name;
    EPOLLWS_VERIFY_NAME(UNABLE_TO_GET_ISSUER_CERT)
    EPOLLWS_VERIFY_NAME(UNABLE_TO_GET_CRL)
    EPOLLWS_VERIFY_NAME(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    EPOLLWS_VERIFY_NAME(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    EPOLLWS_VERIFY_NAME(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    EPOLLWS_VERIFY_NAME(CERT_SIGNATURE_FAILURE)
    EPOLLWS_VERIFY_NAME(CRL_SIGNATURE_FAILURE)
    EPOLLWS_VERIFY_NAME(CERT_NOT_YET_VALID)
    EPOLLWS_VERIFY_NAME(CERT_HAS_EXPIRED)
    EPOLLWS_VERIFY_NAME(CRL_NOT_YET_VALID)
    EPOLLWS_VERIFY_NAME(CRL_HAS_EXPIRED)
    EPOLLWS_VERIFY_NAME(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    EPOLLWS_VERIFY_NAME(ERROR_IN_CERT_NOT_AFTER_FIELD)
    EPOLLWS_VERIFY_NAME(OUT_OF_MEM)
    EPOLLWS_VERIFY_NAME(DEPTH_ZERO_SELF_SIGNED_CERT)
    EPOLLWS_VERIFY_NAME(SELF_SIGNED_CERT_IN_CHAIN)
    EPOLLWS_VERIFY_NAME(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    EPOLLWS_VERIFY_NAME(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    EPOLLWS_VERIFY_NAME(CERT_CHAIN_TOO_LONG)
    EPOLLWS_VERIFY_NAME(CERT_REVOKED)
    EPOLLWS_VERIFY_NAME(INVALID_CA)
    EPOLLWS_VERIFY_NAME(PATH_LENGTH_EXCEEDED)
    EPOLLWS_VERIFY_NAME(INVALID_PURPOSE)
    EPOLLWS_VERIFY_NAME(CERT_UNTRUSTED)
    EPOLLWS_VERIFY_NAME(CERT_REJECTED)
    EPOLLWS_VERIFY_NAME(HOSTNAME_MISMATCH)
#undef EPOLLWS_VERIFY_NAME
    default:
      return api.X509_verify_cert_error_string(code);
  }
}

TlsSessionInfo describeTlsSession(const OpenSsl& api, const SSL* ssl) {
  TlsSessionInfo info;
  info.protocol = api.SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = api.SSL_get_current_cipher(ssl)) {
    info.cipher = api.SSL_CIPHER_get_name(cipher);
    if (const char* standard = api.SSL_CIPHER_standard_name(cipher)) info.standardCipher = standard;
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpnLength = 0;
  api.SSL_get0_alpn_selected(ssl, &alpn, &alpnLength);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpnLength);
  if (const char* name = api.SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info.serverName = name;
  info.sessionReused = api.SSL_session_reused(ssl) == 1;
  if (X509* peer = api.SSL_get1_peer_certificate(ssl)) {
    unsigned char* der = nullptr;
    int length = api.i2d_X509(peer, &der);
    if (length > 0) info.peerCertificate.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
    // i2d_X509 allocated `der` with OpenSSL's allocator: free it with OpenSSL's (CRYPTO_free is
    // what OPENSSL_free expands to; through the table to keep no link-time reference).
    api.CRYPTO_free(der, __FILE__, __LINE__);
    api.X509_free(peer);
    long verdict = api.SSL_get_verify_result(ssl);
    info.authorized = verdict == X509_V_OK;
    if (!info.authorized) info.authorizationError = verifyErrorName(api, verdict);
  } else if (api.SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
    // node's wording for "asked, and the client sent none".
    info.authorizationError = "UNABLE_TO_GET_ISSUER_CERT";
  }
  return info;
}

}  // namespace epollws
