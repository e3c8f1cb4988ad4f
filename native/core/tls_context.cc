// Building an SSL_CTX from a TlsConfig. Every OpenSSL call goes through the table (openssl_api.h):
// the header macros (SSL_CTX_set_mode...) are spelled out as the *_ctrl calls they stand for.
#include "tls_context.h"

#include <cstring>

namespace epollws {
namespace {

// ALPN: a WebSocket handshake is HTTP/1.1, whatever else the client offers (h2 for RFC 8441
// needs a server that speaks HTTP/2). No overlap: carry on without ALPN, as most servers do.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outLength, const unsigned char* offered,
               unsigned int offeredLength, void*) {
  static constexpr unsigned char HTTP11[] = "http/1.1";
  for (unsigned int at = 0; at < offeredLength;) {
    unsigned int length = offered[at];
    if (at + 1 + length > offeredLength) break;
    if (length == 8 && std::memcmp(offered + at + 1, HTTP11, 8) == 0) {
      *out = offered + at + 1;
      *outLength = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    at += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// rejectUnauthorized: false: the handshake goes on whatever the verdict; the verdict itself is
// kept (SSL_get_verify_result) and shown on the request as authorized / authorizationError.
int acceptAnyCertificate(int, X509_STORE_CTX*) { return 1; }

// A PEM text as an OpenSSL memory BIO (read only, no copy).
struct PemBio {
  PemBio(const OpenSsl& ssl, const std::string& text)
      : ssl(ssl), bio(ssl.BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))) {}
  ~PemBio() {
    if (bio) ssl.BIO_free(bio);
  }
  const OpenSsl& ssl;
  BIO* bio;
};

// A passphrase for OpenSSL's default PEM callback. Never null: a null one would make OpenSSL
// prompt on the terminal for an encrypted key.
void* passphraseOf(const TlsConfig& config) { return const_cast<char*>(config.passphrase.c_str()); }

}  // namespace

std::unique_ptr<TlsContext> TlsContext::create(const OpenSsl& ssl, const TlsConfig& config, std::string& error) {
  ssl.ERR_clear_error();
  SSL_CTX* ctx = ssl.SSL_CTX_new(ssl.TLS_server_method());
  if (!ctx) {
    error = takeOpenSslErrors(ssl, "SSL_CTX_new failed");
    return nullptr;
  }
  std::unique_ptr<TlsContext> context(new TlsContext(ssl, ctx));
  if (!context->configure(config, error)) return nullptr;
  return context;
}

TlsContext::~TlsContext() { ssl_.SSL_CTX_free(ctx_); }

bool TlsContext::configure(const TlsConfig& config, std::string& error) {
  // Renegotiation is refused (a client could make the server redo the costly part at will);
  // compression is off (CRIME); the versions below TLS 1.2 are off unless asked for.
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (config.honorCipherOrder) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  ssl_.SSL_CTX_set_options(ctx_, options);
  // Idle sockets give their record buffers back (about 34 KiB each); a write's plaintext may come
  // from another buffer when it is retried (the output queue's front); read-ahead takes several
  // records per recv.
  ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, nullptr);
  ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_SET_READ_AHEAD, 1, nullptr);
  int minVersion = config.minVersion ? config.minVersion : TLS1_2_VERSION;
  if (!ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_SET_MIN_PROTO_VERSION, minVersion, nullptr) ||
      !ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_SET_MAX_PROTO_VERSION, config.maxVersion, nullptr)) {
    error = "unsupported minVersion/maxVersion";
    return false;
  }
  // Resumption is by session ticket only (stateless; the keys may be shared between processes,
  // see TlsContextSet), so the server keeps no session per client that ever connected.
  ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL, nullptr);
  static constexpr unsigned char SESSION_CONTEXT[] = "epollws";
  ssl_.SSL_CTX_set_session_id_context(ctx_, SESSION_CONTEXT, sizeof SESSION_CONTEXT - 1);
  if (config.sessionTimeoutSeconds) ssl_.SSL_CTX_set_timeout(ctx_, config.sessionTimeoutSeconds);
  // One TLS 1.3 ticket per handshake, not OpenSSL's two: a WebSocket client resumes one
  // connection at a time, and each ticket costs the handshake a session copy, its encoding and
  // encryption (about 5% of a full handshake's CPU, measured with perf).
  ssl_.SSL_CTX_set_num_tickets(ctx_, 1);
  ssl_.SSL_CTX_set_alpn_select_cb(ctx_, selectAlpn, nullptr);
  if (!config.ecdhCurve.empty() && config.ecdhCurve != "auto" &&
      !ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_SET_GROUPS_LIST, 0, const_cast<char*>(config.ecdhCurve.c_str()))) {
    error = takeOpenSslErrors(ssl_, "unknown group") + " (ecdhCurve \"" + config.ecdhCurve + "\")";
    return false;
  }
  if (!useCiphers(config, error)) return false;
  bool certified = config.pfx.empty() ? useKeyAndCertificate(config, error) : usePkcs12(config, error);
  if (!certified) return false;
  if (!ssl_.SSL_CTX_check_private_key(ctx_)) {
    error = "the private key does not match the certificate";
    ssl_.ERR_clear_error();
    return false;
  }
  return trust(config, error);
}

bool TlsContext::useCiphers(const TlsConfig& config, std::string& error) {
  if (config.ciphers.empty()) return true;
  // node:tls's rule: one list; the TLS_* names in it are TLS 1.3 suites, the rest TLS 1.2 ciphers.
  std::string tls12;
  std::string tls13;
  size_t at = 0;
  while (at <= config.ciphers.size()) {
    size_t end = config.ciphers.find(':', at);
    if (end == std::string::npos) end = config.ciphers.size();
    std::string name = config.ciphers.substr(at, end - at);
    if (!name.empty()) {
      std::string& list = name.compare(0, 4, "TLS_") == 0 ? tls13 : tls12;
      if (!list.empty()) list += ':';
      list += name;
    }
    at = end + 1;
  }
  if (!tls12.empty() && !ssl_.SSL_CTX_set_cipher_list(ctx_, tls12.c_str())) {
    error = takeOpenSslErrors(ssl_, "no cipher matches") + " (ciphers \"" + tls12 + "\")";
    return false;
  }
  if (!tls13.empty() && !ssl_.SSL_CTX_set_ciphersuites(ctx_, tls13.c_str())) {
    error = takeOpenSslErrors(ssl_, "no TLS 1.3 suite matches") + " (ciphers \"" + tls13 + "\")";
    return false;
  }
  return true;
}

bool TlsContext::useKeyAndCertificate(const TlsConfig& config, std::string& error) {
  if (config.cert.empty() || config.key.empty()) {
    error = "a key and a cert (or a pfx) are required";
    return false;
  }
  {
    PemBio pem(ssl_, config.cert);
    X509* leaf = ssl_.PEM_read_bio_X509(pem.bio, nullptr, nullptr, passphraseOf(config));
    if (!leaf) {
      error = "cert: " + takeOpenSslErrors(ssl_, "no certificate in PEM");
      return false;
    }
    bool used = ssl_.SSL_CTX_use_certificate(ctx_, leaf) == 1;
    ssl_.X509_free(leaf);
    if (!used) {
      error = "cert: " + takeOpenSslErrors(ssl_, "unusable certificate");
      return false;
    }
    // The rest of the chain, sent after the leaf (SSL_CTX_add0_chain_cert: the context owns it).
    while (X509* next = ssl_.PEM_read_bio_X509(pem.bio, nullptr, nullptr, passphraseOf(config))) {
      ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_CHAIN_CERT, 0, next);
    }
    ssl_.ERR_clear_error();  // the loop ends on "no start line"
  }
  PemBio pem(ssl_, config.key);
  EVP_PKEY* key = ssl_.PEM_read_bio_PrivateKey(pem.bio, nullptr, nullptr, passphraseOf(config));
  if (!key) {
    bool encrypted = config.key.find("ENCRYPTED") != std::string::npos;
    error = "key: " + takeOpenSslErrors(ssl_, "no private key in PEM") +
            (!config.passphrase.empty() ? " (wrong passphrase?)" : encrypted ? " (the key is encrypted: give its passphrase)" : "");
    return false;
  }
  bool used = ssl_.SSL_CTX_use_PrivateKey(ctx_, key) == 1;
  ssl_.EVP_PKEY_free(key);
  if (!used) error = "key: " + takeOpenSslErrors(ssl_, "unusable private key");
  return used;
}

bool TlsContext::usePkcs12(const TlsConfig& config, std::string& error) {
  BIO* bio = ssl_.BIO_new_mem_buf(config.pfx.data(), static_cast<int>(config.pfx.size()));
  PKCS12* p12 = bio ? ssl_.d2i_PKCS12_bio(bio, nullptr) : nullptr;
  if (bio) ssl_.BIO_free(bio);
  if (!p12) {
    error = "pfx: " + takeOpenSslErrors(ssl_, "not PKCS#12 data");
    return false;
  }
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  bool parsed = ssl_.PKCS12_parse(p12, config.passphrase.c_str(), &key, &cert, &chain) == 1;
  ssl_.PKCS12_free(p12);
  bool used = false;
  if (!parsed || !key || !cert) {
    error = "pfx: " + takeOpenSslErrors(ssl_, "no key and certificate in it") + " (wrong passphrase?)";
  } else if (ssl_.SSL_CTX_use_certificate(ctx_, cert) != 1 || ssl_.SSL_CTX_use_PrivateKey(ctx_, key) != 1) {
    error = "pfx: " + takeOpenSslErrors(ssl_, "unusable key or certificate");
  } else {
    used = true;
    const OPENSSL_STACK* stack = reinterpret_cast<const OPENSSL_STACK*>(chain);
    int count = chain ? ssl_.OPENSSL_sk_num(stack) : 0;
    for (int i = 0; i < count; ++i) {
      // SSL_CTX_add1_chain_cert: the context takes its own reference.
      ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_CHAIN_CERT, 1, ssl_.OPENSSL_sk_value(stack, i));
    }
  }
  if (chain) {
    ssl_.OPENSSL_sk_pop_free(reinterpret_cast<OPENSSL_STACK*>(chain),
                             reinterpret_cast<OPENSSL_sk_freefunc>(ssl_.X509_free));
  }
  if (cert) ssl_.X509_free(cert);
  if (key) ssl_.EVP_PKEY_free(key);
  return used;
}

bool TlsContext::trust(const TlsConfig& config, std::string& error) {
  X509_STORE* store = ssl_.SSL_CTX_get_cert_store(ctx_);
  for (const std::string& text : config.ca) {
    PemBio pem(ssl_, text);
    int read = 0;
    while (X509* ca = ssl_.PEM_read_bio_X509(pem.bio, nullptr, nullptr, passphraseOf(config))) {
      ++read;
      ssl_.X509_STORE_add_cert(store, ca);
      ssl_.SSL_CTX_add_client_CA(ctx_, ca);  // named in the CertificateRequest
      ssl_.X509_free(ca);
    }
    ssl_.ERR_clear_error();
    if (read == 0) {
      error = "ca: no certificate in PEM";
      return false;
    }
  }
  if (config.ca.empty() && config.requestCert) ssl_.SSL_CTX_set_default_verify_paths(ctx_);
  if (config.requestCert) {
    int mode = SSL_VERIFY_PEER | (config.rejectUnauthorized ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    ssl_.SSL_CTX_set_verify(ctx_, mode, config.rejectUnauthorized ? nullptr : acceptAnyCertificate);
  }
  return true;
}

size_t TlsContext::ticketKeysLength() const {
  return static_cast<size_t>(ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, 0, nullptr));
}

bool TlsContext::setTicketKeys(const uint8_t* keys, size_t length) {
  return ssl_.SSL_CTX_ctrl(ctx_, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, static_cast<long>(length),
                           const_cast<uint8_t*>(keys)) == 1;
}

}  // namespace epollws
