// The TLS 1.3 record layer (RFC 8446 §5) for a connection whose handshake OpenSSL has finished:
// after the handshake a TLS 1.3 connection needs only its two traffic secrets and sequence
// numbers, about 200 bytes, where OpenSSL 3.0 keeps an SSL of about 16 KB per socket. So once
// the handshake is over (and OpenSSL holds no input), TlsTransport hands the connection over to
// this class and frees the SSL: an idle TLS connection then costs what a plain one does plus this.
// What it does: AEAD seal/open of records (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, the
// three suites OpenSSL negotiates by default), the inner content type and its padding, alerts
// (close_notify ends, any other closes), and the one handshake message a client may send after
// the handshake, KeyUpdate (answered with ours when it asks). The AEAD contexts are the reactor's
// (Tls13Ciphers): keyed per call, so a connection owns no cipher state.
#pragma once
#include <cstddef>
#include <cstdint>

#include "byte_buffer.h"
#include "openssl_api.h"

namespace epollws {

// What one reactor's record layers share: the fetched ciphers and one AEAD context.
class Tls13Ciphers {
 public:
  explicit Tls13Ciphers(const OpenSsl& ssl);
  ~Tls13Ciphers();
  Tls13Ciphers(const Tls13Ciphers&) = delete;
  Tls13Ciphers& operator=(const Tls13Ciphers&) = delete;
  // The cipher for a TLS 1.3 suite id (0x1301...), nullptr for one not handled here.
  EVP_CIPHER* cipherFor(uint16_t suite) const;
  EVP_CIPHER_CTX* context() const { return context_; }
  const OpenSsl& api() const { return ssl_; }
  // HMAC-SHA-256 (or -384) of `data` under `key` (at most one block), into `out` (the hash's
  // size). Spelled out over the fetched digests: OpenSSL 3.0's one-shot HMAC() fetches its
  // algorithms on every call, which would cost each hand-over and KeyUpdate tens of microseconds.
  bool hmac(bool sha384, const uint8_t* key, size_t keyLength, const uint8_t* data, size_t length, uint8_t* out) const;
  // Keys the shared AEAD context for one record. Naming the cipher only when it changes spares
  // OpenSSL a reset of the whole context per record.
  bool begin(EVP_CIPHER* cipher, const uint8_t* key, const uint8_t* nonce, bool encrypt) const;

 private:
  const OpenSsl& ssl_;
  EVP_CIPHER* aes128_ = nullptr;
  EVP_CIPHER* aes256_ = nullptr;
  EVP_CIPHER* chacha_ = nullptr;
  EVP_CIPHER_CTX* context_ = nullptr;
  EVP_MD* sha256_ = nullptr;
  EVP_MD* sha384_ = nullptr;
  EVP_MD_CTX* digest_ = nullptr;
  mutable EVP_CIPHER* keyedWith_ = nullptr;  // the cipher context_ was last initialised with
};

class Tls13Records {
 public:
  static constexpr size_t MAX_PLAINTEXT = 16384;
  static constexpr size_t HEADER = 5;
  static constexpr size_t TAG = 16;
  // The largest record a peer may send (RFC 8446 §5.2: plaintext, type byte and padding, tag).
  static constexpr size_t MAX_RECORD = HEADER + MAX_PLAINTEXT + 256;

  // What open() found.
  enum class Status : uint8_t { OK, CLOSE_NOTIFY, FAILED };

  // `suite` the negotiated TLS 1.3 suite; the secrets the current traffic secrets (client_ and
  // server_application_traffic_secret_0); the sequence numbers the next record's in each direction.
  // False if the suite is not one this class handles (the connection then stays with OpenSSL).
  bool start(const Tls13Ciphers& ciphers, uint16_t suite, const uint8_t* clientSecret, const uint8_t* serverSecret,
             size_t secretLength, uint64_t readSequence, uint64_t writeSequence);
  ~Tls13Records();

  // Appends `length` bytes of application data to `out` as records.
  bool seal(const Tls13Ciphers& ciphers, const uint8_t* data, size_t length, ByteBuffer& out);
  // Appends an alert record (close_notify: level 1, description 0).
  bool sealCloseNotify(const Tls13Ciphers& ciphers, ByteBuffer& out);
  // The length of the complete record at the start of `data`, 0 if it is not complete yet, or
  // SIZE_MAX if the header is not a TLS 1.3 record a peer may send.
  static size_t recordLength(const uint8_t* data, size_t length);
  // Opens one complete record (in place: the plaintext overwrites it). Application data is left
  // at `record + HEADER`, its length in `plaintext`; other records leave `plaintext` 0. A
  // KeyUpdate that asks for ours appends it to `reply`.
  Status open(const Tls13Ciphers& ciphers, uint8_t* record, size_t length, size_t& plaintext, ByteBuffer& reply);

 private:
  struct Direction {
    uint8_t secret[48];
    uint8_t key[32];
    uint8_t iv[12];
    uint64_t sequence;
    bool derive(const Tls13Ciphers& ciphers, size_t secretLength, size_t keyLength);
    void nonce(uint8_t out[12]) const;
  };
  bool sealRecord(const Tls13Ciphers& ciphers, uint8_t type, const uint8_t* data, size_t length, ByteBuffer& out);
  bool handshakeMessages(const Tls13Ciphers& ciphers, const uint8_t* data, size_t length, ByteBuffer& reply);
  bool update(const Tls13Ciphers& ciphers, Direction& direction);

  Direction read_{};
  Direction write_{};
  EVP_CIPHER* cipher_ = nullptr;  // Tls13Ciphers owns it
  uint8_t secretLength_ = 0;
  uint8_t keyLength_ = 0;
  const OpenSsl* api_ = nullptr;  // for the cleanse in the destructor
};

}  // namespace epollws
