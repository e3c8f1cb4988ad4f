// A server's TLS certificates: the default context, the contexts chosen by SNI (exact names and
// '*.example.com' wildcards, which cover one label), and the session ticket keys they all share.
// setDefault() is node's setSecureContext: new handshakes use the new context, open connections
// keep theirs (each SSL holds a reference to its SSL_CTX).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "openssl_api.h"
#include "tls_config.h"
#include "tls_context.h"

namespace epollws {

class TlsContextSet {
 public:
  // node:tls's ticketKeys size: 16 bytes of key name, 32 of secret.
  static constexpr size_t TICKET_KEYS_LENGTH = 48;

  explicit TlsContextSet(const OpenSsl& ssl);
  TlsContextSet(const TlsContextSet&) = delete;
  TlsContextSet& operator=(const TlsContextSet&) = delete;

  bool setDefault(const TlsConfig& config, std::string& error);
  bool addServerName(const std::string& name, const TlsConfig& config, std::string& error);
  bool removeServerName(const std::string& name);
  // Keys for session tickets, so that servers given the same keys resume each other's sessions.
  // OpenSSL wants a longer secret than node's 48 bytes: it is derived from them with SHA-256.
  bool setTicketKeys(const uint8_t* keys, size_t length, std::string& error);
  const std::array<uint8_t, TICKET_KEYS_LENGTH>& ticketKeys() const { return ticketKeys_; }
  bool ready() const { return default_ != nullptr; }
  // A server-side SSL on the default context, waiting for a ClientHello (nullptr: out of memory).
  SSL* newSsl() const;
  const OpenSsl& api() const { return ssl_; }

 private:
  static int onServerName(SSL* ssl, int* alert, void* arg);
  std::unique_ptr<TlsContext> build(const TlsConfig& config, std::string& error);
  const TlsContext* lookup(const char* serverName) const;
  bool expandTicketKeys(std::vector<uint8_t>& out, size_t length) const;

  const OpenSsl& ssl_;
  std::unique_ptr<TlsContext> default_;
  std::vector<std::pair<std::string, std::unique_ptr<TlsContext>>> names_;  // lower-case
  std::array<uint8_t, TICKET_KEYS_LENGTH> ticketKeys_{};
};

}  // namespace epollws
