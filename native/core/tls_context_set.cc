#include "tls_context_set.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "tls_transport.h"

namespace epollws {
namespace {

std::string lowerCase(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

TlsContextSet::TlsContextSet(const OpenSsl& ssl) : ssl_(ssl) {
  // Random keys unless the user gives some: tickets then resume on this server only.
  ssl_.RAND_bytes(ticketKeys_.data(), static_cast<int>(ticketKeys_.size()));
}

std::unique_ptr<TlsContext> TlsContextSet::build(const TlsConfig& config, std::string& error) {
  std::unique_ptr<TlsContext> context = TlsContext::create(ssl_, config, error);
  if (!context) return nullptr;
  std::vector<uint8_t> keys;
  if (!expandTicketKeys(keys, context->ticketKeysLength()) || !context->setTicketKeys(keys.data(), keys.size())) {
    error = "this OpenSSL's session ticket keys have an unknown layout";
    return nullptr;
  }
  // Every context, not only the default: OpenSSL asks the context an SSL was made from.
  ssl_.SSL_CTX_callback_ctrl(context->get(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                             reinterpret_cast<void (*)(void)>(onServerName));
  ssl_.SSL_CTX_ctrl(context->get(), SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, this);
  TlsTransport::prepareContext(ssl_, context->get());  // what the TLS 1.3 hand-over reads
  return context;
}

bool TlsContextSet::setDefault(const TlsConfig& config, std::string& error) {
  std::unique_ptr<TlsContext> context = build(config, error);
  if (!context) return false;
  default_ = std::move(context);
  return true;
}

bool TlsContextSet::addServerName(const std::string& name, const TlsConfig& config, std::string& error) {
  if (name.empty()) {
    error = "a server name is required";
    return false;
  }
  std::unique_ptr<TlsContext> context = build(config, error);
  if (!context) return false;
  std::string key = lowerCase(name);
  for (auto& entry : names_) {
    if (entry.first == key) {
      entry.second = std::move(context);
      return true;
    }
  }
  names_.emplace_back(std::move(key), std::move(context));
  return true;
}

bool TlsContextSet::removeServerName(const std::string& name) {
  std::string key = lowerCase(name);
  auto it = std::find_if(names_.begin(), names_.end(), [&](const auto& entry) { return entry.first == key; });
  if (it == names_.end()) return false;
  names_.erase(it);
  return true;
}

const TlsContext* TlsContextSet::lookup(const char* serverName) const {
  std::string name = lowerCase(serverName);
  for (const auto& entry : names_) {
    if (entry.first == name) return entry.second.get();
  }
  size_t dot = name.find('.');
  if (dot == std::string::npos || dot == 0) return nullptr;
  std::string wildcard = "*" + name.substr(dot);
  for (const auto& entry : names_) {
    if (entry.first == wildcard) return entry.second.get();
  }
  return nullptr;
}

int TlsContextSet::onServerName(SSL* ssl, int*, void* arg) {
  const TlsContextSet* self = static_cast<const TlsContextSet*>(arg);
  const char* name = self->ssl_.SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  if (const TlsContext* named = self->lookup(name)) {
    const OpenSsl& api = self->ssl_;
    api.SSL_set_SSL_CTX(ssl, named->get());
    // SSL_set_SSL_CTX takes the certificate, not the verification settings: the named entry's
    // requestCert / rejectUnauthorized apply to the handshakes it serves.
    api.SSL_set_verify(ssl, api.SSL_CTX_get_verify_mode(named->get()), api.SSL_CTX_get_verify_callback(named->get()));
  }
  return SSL_TLSEXT_ERR_OK;
}

bool TlsContextSet::setTicketKeys(const uint8_t* keys, size_t length, std::string& error) {
  if (length != TICKET_KEYS_LENGTH) {
    error = "ticketKeys must be 48 bytes";
    return false;
  }
  std::memcpy(ticketKeys_.data(), keys, length);
  std::vector<uint8_t> expanded;
  auto apply = [&](TlsContext& context) {
    return expandTicketKeys(expanded, context.ticketKeysLength()) &&
           context.setTicketKeys(expanded.data(), expanded.size());
  };
  bool ok = !default_ || apply(*default_);
  for (auto& entry : names_) ok = apply(*entry.second) && ok;
  if (!ok) error = "this OpenSSL's session ticket keys have an unknown layout";
  return ok;
}

// OpenSSL 3's layout: 16 bytes of key name, a 32-byte HMAC key, a 32-byte AES key. The name is
// node's first 16 bytes (so a ticket names the keys it was made with); each secret is SHA-256
// over a label and node's 32 secret bytes.
bool TlsContextSet::expandTicketKeys(std::vector<uint8_t>& out, size_t length) const {
  constexpr size_t NAME = 16;
  if (length != NAME + 2 * SHA256_DIGEST_LENGTH) return false;
  out.assign(length, 0);
  std::memcpy(out.data(), ticketKeys_.data(), NAME);
  const char* labels[2] = {"epollws ticket hmac", "epollws ticket aes"};
  for (int i = 0; i < 2; ++i) {
    uint8_t input[64];
    size_t labelLength = std::strlen(labels[i]);
    std::memcpy(input, labels[i], labelLength);
    std::memcpy(input + labelLength, ticketKeys_.data() + NAME, TICKET_KEYS_LENGTH - NAME);
    ssl_.SHA256(input, labelLength + TICKET_KEYS_LENGTH - NAME, out.data() + NAME + i * SHA256_DIGEST_LENGTH);
  }
  return true;
}

SSL* TlsContextSet::newSsl() const {
  if (!default_) return nullptr;
  SSL* ssl = ssl_.SSL_new(default_->get());
  if (ssl) ssl_.SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace epollws
