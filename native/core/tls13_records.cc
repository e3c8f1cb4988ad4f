// TLS 1.3 records (RFC 8446 §5.2, §7.1-7.3): see tls13_records.h.
#include "tls13_records.h"

#include <cstring>
#include <string>

namespace epollws {
namespace {

constexpr uint8_t CONTENT_ALERT = 21;
constexpr uint8_t CONTENT_HANDSHAKE = 22;
constexpr uint8_t CONTENT_APPLICATION_DATA = 23;
constexpr uint8_t HANDSHAKE_KEY_UPDATE = 24;

// HKDF-Expand-Label(secret, label, "", length) for length <= the hash's size: one HMAC over
// HkdfLabel || 0x01 (RFC 8446 §7.1, RFC 5869 §2.3 with N = 1). The hash is SHA-384 for 48-byte
// secrets (TLS_AES_256_GCM_SHA384), SHA-256 otherwise.
bool expandLabel(const Tls13Ciphers& ciphers, const uint8_t* secret, size_t secretLength, const char* label,
                 uint8_t* out, size_t length) {
  uint8_t info[2 + 1 + 6 + 16 + 1 + 1];
  size_t labelLength = std::strlen(label);
  size_t at = 0;
  info[at++] = static_cast<uint8_t>(length >> 8);
  info[at++] = static_cast<uint8_t>(length);
  info[at++] = static_cast<uint8_t>(6 + labelLength);
  std::memcpy(info + at, "tls13 ", 6);
  at += 6;
  std::memcpy(info + at, label, labelLength);
  at += labelLength;
  info[at++] = 0;  // no context
  info[at++] = 1;  // T(1)
  uint8_t block[EVP_MAX_MD_SIZE];
  if (!ciphers.hmac(secretLength == 48, secret, secretLength, info, at, block)) return false;
  std::memcpy(out, block, length);
  ciphers.api().OPENSSL_cleanse(block, sizeof block);
  return true;
}

}  // namespace

// --- The reactor's ciphers ---

Tls13Ciphers::Tls13Ciphers(const OpenSsl& ssl) : ssl_(ssl) {
  aes128_ = ssl.EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  aes256_ = ssl.EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  chacha_ = ssl.EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  sha256_ = ssl.EVP_MD_fetch(nullptr, "SHA256", nullptr);
  sha384_ = ssl.EVP_MD_fetch(nullptr, "SHA384", nullptr);
  digest_ = ssl.EVP_MD_CTX_new();
  if (sha256_ && sha384_ && digest_) context_ = ssl.EVP_CIPHER_CTX_new();  // null: no hand-over
}

Tls13Ciphers::~Tls13Ciphers() {
  if (context_) ssl_.EVP_CIPHER_CTX_free(context_);
  if (digest_) ssl_.EVP_MD_CTX_free(digest_);
  for (EVP_MD* md : {sha256_, sha384_}) {
    if (md) ssl_.EVP_MD_free(md);
  }
  for (EVP_CIPHER* cipher : {aes128_, aes256_, chacha_}) {
    if (cipher) ssl_.EVP_CIPHER_free(cipher);
  }
}

// HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)) (RFC 2104), K shorter than a block.
bool Tls13Ciphers::hmac(bool sha384, const uint8_t* key, size_t keyLength, const uint8_t* data, size_t length,
                        uint8_t* out) const {
  const EVP_MD* md = sha384 ? sha384_ : sha256_;
  size_t block = sha384 ? 128 : 64;
  size_t hashLength = sha384 ? 48 : 32;
  if (keyLength > block) return false;
  uint8_t pad[128];
  uint8_t inner[48];
  unsigned int produced = 0;
  auto keyed = [&](uint8_t with) {
    std::memset(pad, with, block);
    for (size_t i = 0; i < keyLength; ++i) pad[i] ^= key[i];
    return ssl_.EVP_DigestInit_ex2(digest_, md, nullptr) == 1 && ssl_.EVP_DigestUpdate(digest_, pad, block) == 1;
  };
  bool ok = keyed(0x36) && ssl_.EVP_DigestUpdate(digest_, data, length) == 1 &&
            ssl_.EVP_DigestFinal_ex(digest_, inner, &produced) == 1 && keyed(0x5c) &&
            ssl_.EVP_DigestUpdate(digest_, inner, hashLength) == 1 && ssl_.EVP_DigestFinal_ex(digest_, out, &produced) == 1;
  ssl_.OPENSSL_cleanse(pad, sizeof pad);
  ssl_.OPENSSL_cleanse(inner, sizeof inner);
  return ok;
}

bool Tls13Ciphers::begin(EVP_CIPHER* cipher, const uint8_t* key, const uint8_t* nonce, bool encrypt) const {
  EVP_CIPHER* named = cipher == keyedWith_ ? nullptr : cipher;
  if (ssl_.EVP_CipherInit_ex2(context_, named, key, nonce, encrypt ? 1 : 0, nullptr) != 1) {
    keyedWith_ = nullptr;
    return false;
  }
  keyedWith_ = cipher;
  return true;
}

EVP_CIPHER* Tls13Ciphers::cipherFor(uint16_t suite) const {
  if (!context_) return nullptr;
  switch (suite) {
    case 0x1301: return aes128_;  // TLS_AES_128_GCM_SHA256
    case 0x1302: return aes256_;  // TLS_AES_256_GCM_SHA384
    case 0x1303: return chacha_;  // TLS_CHACHA20_POLY1305_SHA256
    default: return nullptr;
  }
}

// --- One connection's records ---

bool Tls13Records::Direction::derive(const Tls13Ciphers& ciphers, size_t secretLength, size_t keyLength) {
  return expandLabel(ciphers, secret, secretLength, "key", key, keyLength) &&
         expandLabel(ciphers, secret, secretLength, "iv", iv, sizeof iv);
}

// The per-record nonce: the IV xor the 64-bit sequence number, right-aligned (RFC 8446 §5.3).
void Tls13Records::Direction::nonce(uint8_t out[12]) const {
  std::memcpy(out, iv, 12);
  for (int i = 0; i < 8; ++i) out[11 - i] ^= static_cast<uint8_t>(sequence >> (8 * i));
}

bool Tls13Records::start(const Tls13Ciphers& ciphers, uint16_t suite, const uint8_t* clientSecret,
                         const uint8_t* serverSecret, size_t secretLength, uint64_t readSequence,
                         uint64_t writeSequence) {
  const OpenSsl& api = ciphers.api();
  cipher_ = ciphers.cipherFor(suite);
  size_t expected = suite == 0x1302 ? 48 : 32;
  if (!cipher_ || secretLength != expected) return false;
  api_ = &api;
  secretLength_ = static_cast<uint8_t>(secretLength);
  keyLength_ = suite == 0x1301 ? 16 : 32;
  std::memcpy(read_.secret, clientSecret, secretLength);
  std::memcpy(write_.secret, serverSecret, secretLength);
  read_.sequence = readSequence;
  write_.sequence = writeSequence;
  return read_.derive(ciphers, secretLength_, keyLength_) && write_.derive(ciphers, secretLength_, keyLength_);
}

Tls13Records::~Tls13Records() {
  if (api_) {
    api_->OPENSSL_cleanse(&read_, sizeof read_);
    api_->OPENSSL_cleanse(&write_, sizeof write_);
  }
}

bool Tls13Records::update(const Tls13Ciphers& ciphers, Direction& direction) {
  uint8_t next[48];
  if (!expandLabel(ciphers, direction.secret, secretLength_, "traffic upd", next, secretLength_)) return false;
  std::memcpy(direction.secret, next, secretLength_);
  ciphers.api().OPENSSL_cleanse(next, sizeof next);
  direction.sequence = 0;
  return direction.derive(ciphers, secretLength_, keyLength_);
}

bool Tls13Records::sealRecord(const Tls13Ciphers& ciphers, uint8_t type, const uint8_t* data, size_t length,
                              ByteBuffer& out) {
  const OpenSsl& api = ciphers.api();
  EVP_CIPHER_CTX* ctx = ciphers.context();
  size_t recordLength = length + 1 + TAG;
  uint8_t* record = out.grow(HEADER + recordLength);
  record[0] = CONTENT_APPLICATION_DATA;  // the outer type of every protected record
  record[1] = 0x03;
  record[2] = 0x03;
  record[3] = static_cast<uint8_t>(recordLength >> 8);
  record[4] = static_cast<uint8_t>(recordLength);
  uint8_t nonce[12];
  write_.nonce(nonce);
  int written = 0;
  int finished = 0;
  bool ok = ciphers.begin(cipher_, write_.key, nonce, true) &&
            api.EVP_CipherUpdate(ctx, nullptr, &written, record, static_cast<int>(HEADER)) == 1 &&
            (length == 0 || api.EVP_CipherUpdate(ctx, record + HEADER, &written, data, static_cast<int>(length)) == 1) &&
            api.EVP_CipherUpdate(ctx, record + HEADER + length, &written, &type, 1) == 1 &&
            api.EVP_CipherFinal_ex(ctx, record + HEADER + length + 1, &finished) == 1 &&
            api.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(TAG), record + HEADER + length + 1) == 1;
  ++write_.sequence;
  return ok;
}

bool Tls13Records::seal(const Tls13Ciphers& ciphers, const uint8_t* data, size_t length, ByteBuffer& out) {
  do {
    size_t piece = length < MAX_PLAINTEXT ? length : MAX_PLAINTEXT;
    if (!sealRecord(ciphers, CONTENT_APPLICATION_DATA, data, piece, out)) return false;
    data += piece;
    length -= piece;
  } while (length > 0);
  return true;
}

bool Tls13Records::sealCloseNotify(const Tls13Ciphers& ciphers, ByteBuffer& out) {
  static constexpr uint8_t CLOSE_NOTIFY[2] = {1, 0};
  return sealRecord(ciphers, CONTENT_ALERT, CLOSE_NOTIFY, sizeof CLOSE_NOTIFY, out);
}

size_t Tls13Records::recordLength(const uint8_t* data, size_t length) {
  if (length < HEADER) return 0;
  // After the handshake a peer sends protected records only (outer type application_data).
  if (data[0] != CONTENT_APPLICATION_DATA || data[1] != 0x03 || data[2] != 0x03) return SIZE_MAX;
  size_t body = (static_cast<size_t>(data[3]) << 8) | data[4];
  if (body < TAG + 1 || HEADER + body > MAX_RECORD) return SIZE_MAX;
  return length >= HEADER + body ? HEADER + body : 0;
}

Tls13Records::Status Tls13Records::open(const Tls13Ciphers& ciphers, uint8_t* record, size_t length,
                                        size_t& plaintext, ByteBuffer& reply) {
  const OpenSsl& api = ciphers.api();
  EVP_CIPHER_CTX* ctx = ciphers.context();
  plaintext = 0;
  size_t sealed = length - HEADER - TAG;
  uint8_t* body = record + HEADER;
  uint8_t nonce[12];
  read_.nonce(nonce);
  int produced = 0;
  int finished = 0;
  bool ok = ciphers.begin(cipher_, read_.key, nonce, false) &&
            api.EVP_CipherUpdate(ctx, nullptr, &produced, record, static_cast<int>(HEADER)) == 1 &&
            api.EVP_CipherUpdate(ctx, body, &produced, body, static_cast<int>(sealed)) == 1 &&
            api.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(TAG), body + sealed) == 1 &&
            api.EVP_CipherFinal_ex(ctx, body + sealed, &finished) == 1;
  if (!ok) return Status::FAILED;  // bad_record_mac: forged, corrupted or replayed
  ++read_.sequence;
  // The inner type is the last non-zero byte; zeros after it are padding.
  size_t end = sealed;
  while (end > 0 && body[end - 1] == 0) --end;
  if (end == 0) return Status::FAILED;
  uint8_t type = body[end - 1];
  size_t content = end - 1;
  if (type == CONTENT_APPLICATION_DATA) {
    plaintext = content;
    return Status::OK;
  }
  if (type == CONTENT_ALERT) {
    // close_notify (warning, 0) ends the stream; every other alert is fatal in TLS 1.3.
    return content == 2 && body[1] == 0 ? Status::CLOSE_NOTIFY : Status::FAILED;
  }
  if (type == CONTENT_HANDSHAKE && handshakeMessages(ciphers, body, content, reply)) return Status::OK;
  return Status::FAILED;
}

// After the handshake a client may send KeyUpdate only (no post-handshake authentication is ever
// asked for): the read keys move on; if it asks for ours, ours follows under the old write keys.
bool Tls13Records::handshakeMessages(const Tls13Ciphers& ciphers, const uint8_t* data, size_t length,
                                     ByteBuffer& reply) {
  while (length > 0) {
    if (length < 5 || data[0] != HANDSHAKE_KEY_UPDATE || data[1] != 0 || data[2] != 0 || data[3] != 1 || data[4] > 1) {
      return false;
    }
    bool requested = data[4] == 1;
    if (!update(ciphers, read_)) return false;
    if (requested) {
      static constexpr uint8_t OURS[5] = {HANDSHAKE_KEY_UPDATE, 0, 0, 1, 0};  // update_not_requested
      if (!sealRecord(ciphers, CONTENT_HANDSHAKE, OURS, sizeof OURS, reply) || !update(ciphers, write_)) return false;
    }
    data += 5;
    length -= 5;
  }
  return true;
}

}  // namespace epollws
