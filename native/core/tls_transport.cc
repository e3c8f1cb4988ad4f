// TlsTransport and the reactor's shared BIO (see tls_transport.h for where the bytes go).
#include "tls_transport.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "memory_return.h"

namespace epollws {
namespace {

// What a TLS handshake allocates and frees again (OpenSSL's handshake buffer, both record
// buffers, the key exchange): counted as freed when it finishes, so that after a burst of
// handshakes the heap they fragmented is given back (memory_return.h), and an idle TLS socket
// costs the server what its SSL keeps, not what its handshake once used.
constexpr size_t HANDSHAKE_TRANSIENT_BYTES = 48 * 1024;

// The reactor whose socket OpenSSL is working on, on this thread. OpenSSL calls the BIO only from
// inside an SSL_* call made by an Operation, so this is set whenever the BIO runs.
thread_local TlsSharedIo* activeIo = nullptr;

// The BIO method: made once per process and never freed (every reactor's BIO uses it).
BIO_METHOD* bioMethod(const OpenSsl& ssl, int (*read)(BIO*, char*, int), int (*write)(BIO*, const char*, int),
                      long (*control)(BIO*, int, long, void*)) {
  static BIO_METHOD* method = nullptr;
  static std::once_flag once;
  std::call_once(once, [&] {
    method = ssl.BIO_meth_new(BIO_TYPE_SOURCE_SINK, "epollws socket");
    if (!method) return;
    ssl.BIO_meth_set_read(method, read);
    ssl.BIO_meth_set_write(method, write);
    ssl.BIO_meth_set_ctrl(method, control);
  });
  return method;
}

}  // namespace

TlsTransport::Operation::Operation(TlsTransport& transport) : io_(transport.shared_), previous_(activeIo) {
  activeIo = &io_;
  io_.current_ = &transport;
  io_.cipher_.clear();
}

TlsTransport::Operation::~Operation() {
  io_.current_ = nullptr;
  activeIo = previous_;
}

// --- The shared BIO ---

TlsSharedIo::TlsSharedIo(const OpenSsl& ssl) : ssl_(ssl), ciphers_(ssl) {
  BIO_METHOD* method = bioMethod(ssl, bioRead, bioWrite, bioControl);
  if (!method) return;
  bio_ = ssl.BIO_new(method);
  if (bio_) ssl.BIO_set_init(bio_, 1);
}

TlsSharedIo::~TlsSharedIo() {
  if (bio_) ssl_.BIO_free(bio_);  // our reference; an SSL still open holds its own
}

int TlsSharedIo::bioRead(BIO* bio, char* out, int length) {
  TlsSharedIo* io = activeIo;
  io->ssl_.BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY);
  TlsTransport* t = io->current_;
  for (;;) {
    ssize_t n = ::recv(t->fd_.get(), out, static_cast<size_t>(length), 0);
    if (n > 0) return static_cast<int>(n);
    if (n == 0) {
      t->peerEnded_ = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      io->ssl_.BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY);
    } else {
      t->socketFailed_ = true;
    }
    return -1;
  }
}

// Never refuses: the ciphertext is gathered and sent by the transport after the SSL call, so
// OpenSSL never sees a partial write (and never needs its retry rules).
int TlsSharedIo::bioWrite(BIO*, const char* in, int length) {
  activeIo->cipher_.append(in, static_cast<size_t>(length));
  return length;
}

long TlsSharedIo::bioControl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // flushing happens after the call
}

// --- What the hand-over needs from the handshake ---

// The TLS 1.3 traffic secrets (from the keylog callback) and the sequence numbers (records
// counted by the message callback since each side's Finished, after which each side's
// application keys start at 0). Lives only while the handshake runs.
struct TlsTransport::HandshakeKeys {
  uint8_t client[48];
  uint8_t server[48];
  uint8_t clientLength = 0;
  uint8_t serverLength = 0;
  uint64_t readSequence = 0;
  uint64_t writeSequence = 0;
  bool readCounting = false;
  bool writeCounting = false;
  bool unusable = false;  // the keys changed during the handshake (KeyUpdate): stay with OpenSSL
};

namespace {

// "LABEL <client random hex> <secret hex>" -> the secret, if the label is `label`.
size_t secretFrom(const char* line, const char* label, uint8_t out[48]) {
  size_t labelLength = std::strlen(label);
  if (std::strncmp(line, label, labelLength) != 0 || line[labelLength] != ' ') return 0;
  const char* secret = std::strrchr(line, ' ');
  if (!secret) return 0;
  ++secret;
  size_t hexLength = std::strlen(secret);
  if (hexLength % 2 != 0 || hexLength / 2 > 48) return 0;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i < hexLength / 2; ++i) {
    out[i] = static_cast<uint8_t>((nibble(secret[2 * i]) << 4) | nibble(secret[2 * i + 1]));
  }
  return hexLength / 2;
}

}  // namespace

void TlsTransport::prepareContext(const OpenSsl& api, SSL_CTX* ctx) {
  api.SSL_CTX_set_keylog_callback(ctx, onKeylog);
  api.SSL_CTX_set_msg_callback(ctx, onMessage);
}

// OpenSSL calls both from inside an SSL call an Operation made, for the socket it is serving.
void TlsTransport::onKeylog(const SSL*, const char* line) {
  TlsTransport* t = activeIo ? activeIo->current_ : nullptr;
  if (!t || !t->keys_) return;
  HandshakeKeys& keys = *t->keys_;
  if (size_t n = secretFrom(line, "CLIENT_TRAFFIC_SECRET_0", keys.client)) keys.clientLength = static_cast<uint8_t>(n);
  if (size_t n = secretFrom(line, "SERVER_TRAFFIC_SECRET_0", keys.server)) keys.serverLength = static_cast<uint8_t>(n);
}

void TlsTransport::onMessage(int writing, int, int contentType, const void* data, size_t length, SSL*, void*) {
  TlsTransport* t = activeIo ? activeIo->current_ : nullptr;
  if (!t || !t->keys_) return;
  HandshakeKeys& keys = *t->keys_;
  if (contentType == SSL3_RT_HEADER) {
    // One record read or written: the write side's header comes before its message's callback,
    // the read side's before the message it carries, so a Finished's own record is not counted.
    if (writing && keys.writeCounting) ++keys.writeSequence;
    if (!writing && keys.readCounting) ++keys.readSequence;
  } else if (contentType == SSL3_RT_HANDSHAKE && length > 0) {
    uint8_t type = static_cast<const uint8_t*>(data)[0];
    if (type == SSL3_MT_FINISHED) {
      (writing ? keys.writeCounting : keys.readCounting) = true;
      (writing ? keys.writeSequence : keys.readSequence) = 0;
    } else if (type == SSL3_MT_KEY_UPDATE) {
      keys.unusable = true;
    }
  }
}

// --- The transport ---

TlsTransport::TlsTransport(int fd, SSL* ssl, TlsSharedIo& shared)
    : shared_(shared), ssl_(ssl), keys_(std::make_unique<HandshakeKeys>()), fd_(fd) {
  // The SSL gets its own reference to the shared BIO (one for both directions).
  shared_.ssl_.BIO_up_ref(shared_.bio_);
  shared_.ssl_.SSL_set_bio(ssl_, shared_.bio_, shared_.bio_);
}

TlsTransport::~TlsTransport() { close(); }

void TlsTransport::close() {
  fd_.reset();
  if (ssl_) {
    shared_.ssl_.SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (keys_) shared_.ssl_.OPENSSL_cleanse(keys_.get(), sizeof *keys_);
  keys_.reset();
  records_.reset();
  session_.reset();
  buffers_.reset();
  bufferedInput_ = false;
}

bool TlsTransport::takeSessionInfo(TlsSessionInfo& out) {
  if (session_) {
    out = std::move(*session_);
    session_.reset();
    return true;
  }
  if (!ssl_ || handshaking()) return false;
  out = describeTlsSession(shared_.ssl_, ssl_);
  return true;
}

// Called after a read once the handshake is done: frees the SSL of a TLS 1.3 connection whose
// records this class can carry on with (see tls_transport.h).
void TlsTransport::handOver() {
  const OpenSsl& api = shared_.ssl_;
  std::unique_ptr<HandshakeKeys> keys = std::move(keys_);
  if (!keys || keys->unusable || !keys->readCounting || !keys->writeCounting || api.SSL_version(ssl_) != TLS1_3_VERSION ||
      keys->clientLength == 0 || keys->clientLength != keys->serverLength) {
    if (keys) api.OPENSSL_cleanse(keys.get(), sizeof *keys);
    return;  // stays with OpenSSL for good
  }
  const SSL_CIPHER* cipher = api.SSL_get_current_cipher(ssl_);
  auto suite = static_cast<uint16_t>(cipher ? api.SSL_CIPHER_get_id(cipher) & 0xffff : 0);
  auto records = std::make_unique<Tls13Records>();
  bool started = records->start(shared_.ciphers_, suite, keys->client, keys->server, keys->clientLength,
                                keys->readSequence, keys->writeSequence);
  api.OPENSSL_cleanse(keys.get(), sizeof *keys);
  if (!started) return;
  session_ = std::make_unique<TlsSessionInfo>(describeTlsSession(api, ssl_));
  records_ = std::move(records);
  api.SSL_free(ssl_);
  ssl_ = nullptr;
  ++shared_.handedOver;
}

IoResult TlsTransport::read(uint8_t* buffer, size_t capacity) {
  if (latched_ != IoResult::Status::WOULD_BLOCK) {
    bufferedInput_ = false;
    return {latched_, 0};
  }
  if (records_) return readRecords(buffer, capacity);
  if (!ssl_) return {IoResult::Status::FAILED, 0};
  const OpenSsl& api = shared_.ssl_;
  Operation operation(*this);
  bool wasHandshaking = api.SSL_in_init(ssl_);
  size_t total = 0;
  IoResult::Status end = IoResult::Status::WOULD_BLOCK;
  while (total < capacity) {
    size_t n = 0;
    if (api.SSL_read_ex(ssl_, buffer + total, capacity - total, &n) == 1) {
      total += n;
      continue;
    }
    int error = api.SSL_get_error(ssl_, 0);
    if (error == SSL_ERROR_WANT_READ) break;  // drained: epoll says when more comes
    if (error == SSL_ERROR_ZERO_RETURN) {
      end = IoResult::Status::END;  // close_notify
    } else if (error == SSL_ERROR_SYSCALL && peerEnded_ && !socketFailed_) {
      // A FIN without close_notify: for WebSocket the close handshake, not TLS, says whether
      // the peer finished, so this is an end like a plain socket's FIN.
      end = IoResult::Status::END;
    } else {
      // A bad record or MAC, a handshake failure (plaintext HTTP on a TLS port, no shared
      // cipher...), renegotiation, a reset. OpenSSL has queued an alert where one is due.
      end = IoResult::Status::FAILED;
    }
    api.ERR_clear_error();
    break;
  }
  if (!sendCiphertext()) end = IoResult::Status::FAILED;  // handshake replies, alerts, tickets
  bool established = !api.SSL_in_init(ssl_);
  if (wasHandshaking && established) {
    ++shared_.handshakes;
    noteFreedMemory(HANDSHAKE_TRANSIENT_BYTES);
  }
  bool pending = api.SSL_has_pending(ssl_) == 1;
  bufferedInput_ = total == capacity && pending;
  if (keys_ && established && !pending && end == IoResult::Status::WOULD_BLOCK) handOver();
  return finishRead(total, end);
}

// A read that met the end (or a failure) after returning data reports the data now and the end
// on the next read, which the Server makes next turn (hasBufferedInput()).
IoResult TlsTransport::finishRead(size_t total, IoResult::Status end) {
  if (total == 0) return {end, 0};
  if (end != IoResult::Status::WOULD_BLOCK) {
    latched_ = end;
    bufferedInput_ = true;
  }
  return {IoResult::Status::OK, total};
}

IoResult TlsTransport::writev(const iovec* parts, int count) {
  if ((!ssl_ && !records_) || socketFailed_) return {IoResult::Status::FAILED, 0};
  if (!sendPending()) return {IoResult::Status::FAILED, 0};
  if (holdsOutput() || count == 0) return {holdsOutput() ? IoResult::Status::WOULD_BLOCK : IoResult::Status::OK, 0};
  Operation operation(*this);
  ByteBuffer& plain = shared_.plain_;
  size_t taken = 0;
  int part = 0;
  size_t offset = 0;  // into parts[part]
  while (part < count && !holdsOutput()) {
    // One step: up to ENCRYPT_STEP of plaintext, then one send().
    size_t stepped = 0;
    while (part < count && stepped < ENCRYPT_STEP) {
      const uint8_t* base = static_cast<const uint8_t*>(parts[part].iov_base) + offset;
      size_t left = parts[part].iov_len - offset;
      size_t used;
      if (plain.empty() && left >= RECORD) {
        used = std::min(left, ENCRYPT_STEP - stepped);  // a large payload, encrypted in place
        if (!encrypt(base, used)) return {IoResult::Status::FAILED, 0};
      } else {
        // Small frames are gathered up to a record; a large payload tops the record up, so its
        // header goes out with its first bytes.
        used = std::min(left, RECORD - plain.size());
        plain.append(base, used);
        if (plain.size() == RECORD || part + 1 == count || offset + used < parts[part].iov_len) {
          bool encrypted = encrypt(plain.data(), plain.size());
          plain.clear();
          if (!encrypted) return {IoResult::Status::FAILED, 0};
        }
      }
      stepped += used;
      offset += used;
      if (offset == parts[part].iov_len) {
        ++part;
        offset = 0;
      }
    }
    if (!plain.empty()) {
      bool encrypted = encrypt(plain.data(), plain.size());
      plain.clear();
      if (!encrypted) return {IoResult::Status::FAILED, 0};
    }
    taken += stepped;
    if (!sendCiphertext()) return {IoResult::Status::FAILED, 0};
    shared_.cipher_.clear();
  }
  return {IoResult::Status::OK, taken};
}

bool TlsTransport::encrypt(const uint8_t* data, size_t length) {
  if (records_) return records_->seal(shared_.ciphers_, data, length, shared_.cipher_);
  size_t written = 0;
  if (shared_.ssl_.SSL_write_ex(ssl_, data, length, &written) == 1 && written == length) return true;
  shared_.ssl_.ERR_clear_error();
  return false;
}

void TlsTransport::shutdownWrite() {
  if (writeShut_ || (!ssl_ && !records_)) return;
  writeShut_ = true;
  {
    Operation operation(*this);
    // close_notify, unless the handshake never finished (nothing to close politely then).
    if (records_) {
      records_->sealCloseNotify(shared_.ciphers_, shared_.cipher_);
    } else if (!shared_.ssl_.SSL_in_init(ssl_)) {
      shared_.ssl_.SSL_shutdown(ssl_);
    }
    shared_.ssl_.ERR_clear_error();
    if (!sendCiphertext()) return;
  }
  if (holdsOutput()) {
    shutdownPending_ = true;  // once the close_notify is out
  } else {
    ::shutdown(fd_.get(), SHUT_WR);
  }
}

bool TlsTransport::sendCiphertext() {
  ByteBuffer& cipher = shared_.cipher_;
  if (cipher.empty()) return !socketFailed_;
  size_t sent = 0;
  if (!holdsOutput()) sent = sendSome(cipher.data(), cipher.size());
  if (socketFailed_) return false;
  if (sent < cipher.size()) {
    Buffers& held = buffers();
    if (held.pendingBegin == held.pending.size()) {
      held.pending.clear();
      held.pendingBegin = 0;
    }
    held.pending.append(cipher.data() + sent, cipher.size() - sent);
  }
  cipher.clear();
  return true;
}

bool TlsTransport::sendPending() {
  if (!holdsOutput()) return !socketFailed_;
  Buffers& held = *buffers_;
  held.pendingBegin += sendSome(held.pending.data() + held.pendingBegin, held.pending.size() - held.pendingBegin);
  if (socketFailed_) return false;
  if (!holdsOutput()) {
    held.pending.release();  // an idle socket owns no ciphertext buffer
    held.pendingBegin = 0;
    releaseBuffersIfEmpty();
    if (shutdownPending_) {
      shutdownPending_ = false;
      ::shutdown(fd_.get(), SHUT_WR);
    }
  }
  return true;
}

size_t TlsTransport::sendSome(const uint8_t* data, size_t length) {
  size_t sent = 0;
  while (sent < length) {
    ssize_t n = ::send(fd_.get(), data + sent, length - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    socketFailed_ = true;
    break;
  }
  return sent;
}

}  // namespace epollws
