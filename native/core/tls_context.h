// One SSL_CTX built from a TlsConfig: certificate and key (PEM or PKCS#12, with passphrase), CA
// for client certificates, ciphers, protocol versions, groups, and the settings every epollws
// TLS socket runs with (renegotiation refused, buffers released while idle, read-ahead, ALPN
// http/1.1, stateless session tickets). The SSL_CTX is reference-counted by OpenSSL: each SSL
// made from it holds a reference, so replacing a context (certificate renewal) leaves the open
// connections on the one they started with.
#pragma once
#include <memory>
#include <string>

#include "openssl_api.h"
#include "tls_config.h"

namespace epollws {

class TlsContext {
 public:
  // nullptr, with `error` saying what is wrong (OpenSSL's reasons included), if `config` is unusable.
  static std::unique_ptr<TlsContext> create(const OpenSsl& ssl, const TlsConfig& config, std::string& error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  // Sets the session ticket keys (OpenSSL's layout, `length` bytes: see TlsContextSet).
  bool setTicketKeys(const uint8_t* keys, size_t length);
  // The length OpenSSL's ticket keys have in this build (80 in OpenSSL 3).
  size_t ticketKeysLength() const;

 private:
  TlsContext(const OpenSsl& ssl, SSL_CTX* ctx) : ssl_(ssl), ctx_(ctx) {}
  bool configure(const TlsConfig& config, std::string& error);
  bool useKeyAndCertificate(const TlsConfig& config, std::string& error);
  bool usePkcs12(const TlsConfig& config, std::string& error);
  bool trust(const TlsConfig& config, std::string& error);
  bool useCiphers(const TlsConfig& config, std::string& error);

  const OpenSsl& ssl_;
  SSL_CTX* ctx_;
};

}  // namespace epollws
