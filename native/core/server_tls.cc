// TLS on the server's own listeners: turning it on, and what a connection's session says. The
// transport itself is tls_transport.*, the certificates tls_context_set.*; Server::onAccepted
// gives each accepted fd its SSL, Connection::onReady budgets the handshakes per turn.
#include "server.h"

namespace epollws {

bool Server::useTls(std::unique_ptr<TlsContextSet> contexts, std::string& error) {
  if (!contexts || !contexts->ready()) {
    error = "TLS needs a default certificate";
    return false;
  }
  auto shared = std::make_unique<TlsSharedIo>(contexts->api());
  if (!shared->ok()) {
    error = takeOpenSslErrors(contexts->api(), "OpenSSL could not make a BIO");
    return false;
  }
  tlsIo_ = std::move(shared);
  tls_ = std::move(contexts);
  return true;
}

bool Server::tlsSession(ConnectionId id, TlsSessionInfo& out) const {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED || !tls_) return false;
  TlsTransport* transport = conn->io().tls();
  return transport && transport->takeSessionInfo(out);
}

}  // namespace epollws
