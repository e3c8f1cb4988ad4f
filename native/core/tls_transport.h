// TLS over a non-blocking TCP socket, with OpenSSL (openssl_api.h), as one more Transport: the
// Connection above it reads plaintext and writes plaintext frames exactly as over FdTransport.
//
// Where the bytes go:
// - Reading: OpenSSL's read BIO is recv() on the socket itself, so ciphertext goes from the
//   kernel into OpenSSL's record buffer and is decrypted straight into the buffer the Connection
//   reads into (the reactor's read buffer, or a large frame's reassembly buffer): no copy of our
//   own. read() decrypts until the buffer is full or the socket is drained, so a short read means
//   drained, as with recv(). What OpenSSL still holds when the buffer is full (read-ahead) is
//   reported by hasBufferedInput(): epoll cannot see it, so the Server reads it next turn.
// - Writing: writev() encrypts the coalesced frames of a flush with as few SSL_write calls as the
//   record size allows (small frames are gathered into one buffer, so a WebSocket header is never
//   alone in a record; large payloads are encrypted from where they lie), into the reactor's
//   ciphertext buffer, then send()s it. Only what the kernel does not take is copied into this
//   socket's own buffer (holdsOutput()); nothing more is encrypted until that is out, so a socket
//   under backpressure holds at most one step of ciphertext (ENCRYPT_STEP and its records).
// - After a TLS 1.3 handshake (the common case) the SSL is freed: OpenSSL 3.0 keeps about 16 KB
//   per SSL, where the record layer needs two traffic secrets and two sequence numbers
//   (tls13_records.h). The secrets come from OpenSSL's keylog callback and the sequence numbers
//   from its message callback (records counted since each side's Finished), both while the
//   handshake runs; the hand-over happens once OpenSSL holds no unread input. Records are then
//   opened in the reactor's record buffer and sealed into its ciphertext buffer. TLS 1.2, and a
//   TLS 1.3 connection whose keys changed during the handshake, stay with OpenSSL (with
//   SSL_MODE_RELEASE_BUFFERS). Either way the BIO is the reactor's (TlsSharedIo) and the
//   pending-ciphertext buffer is freed once sent.
//
// Handshake, alerts, session tickets and close_notify are written by OpenSSL during read() and
// shutdownWrite(): they are sent at once, with the same rule for what the kernel refuses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <memory>

#include "byte_buffer.h"
#include "openssl_api.h"
#include "tls13_records.h"
#include "tls_session_info.h"
#include "transport.h"
#include "unique_fd.h"

namespace epollws {

class TlsTransport;

// What every TLS socket of one reactor shares: the BIO that points OpenSSL at the socket being
// served, and the plaintext and ciphertext buffers one operation uses. One per Server (a reactor
// runs on one thread), so it needs no lock; it outlives the transports (Server declares it first).
class TlsSharedIo {
 public:
  explicit TlsSharedIo(const OpenSsl& ssl);
  ~TlsSharedIo();
  TlsSharedIo(const TlsSharedIo&) = delete;
  TlsSharedIo& operator=(const TlsSharedIo&) = delete;
  bool ok() const { return bio_ != nullptr; }

 private:
  friend class TlsTransport;
  static int bioRead(BIO* bio, char* out, int length);
  static int bioWrite(BIO* bio, const char* in, int length);
  static long bioControl(BIO* bio, int command, long number, void* pointer);

  const OpenSsl& ssl_;
  BIO* bio_ = nullptr;
  TlsTransport* current_ = nullptr;  // the socket OpenSSL is working on now
  ByteBuffer cipher_;                // ciphertext the current operation produced
  ByteBuffer plain_;                 // small frames gathered for one SSL_write
  ByteBuffer records_;               // ciphertext being opened (handed-over connections)
  Tls13Ciphers ciphers_;

 public:
  uint64_t handshakes = 0;  // TLS handshakes completed on this reactor
  uint64_t handedOver = 0;  // ... of which the SSL was freed (TLS 1.3, see TlsTransport)
};

class TlsTransport final : public Transport {
 public:
  // Plaintext encrypted per send(): larger steps mean fewer syscalls, smaller ones less
  // ciphertext held by a socket the kernel stops taking.
  static constexpr size_t ENCRYPT_STEP = 64 * 1024;
  // Below this, frames are gathered before SSL_write (one TLS record's plaintext).
  static constexpr size_t RECORD = 16 * 1024;

  // Takes `fd` and `ssl` (made by TlsContextSet::newSsl, in accept state).
  TlsTransport(int fd, SSL* ssl, TlsSharedIo& shared);
  ~TlsTransport() override;

  IoResult read(uint8_t* buffer, size_t capacity) override;
  IoResult writev(const iovec* parts, int count) override;
  void shutdownWrite() override;
  void close() override;
  PeerAddress peerAddress() const override { return peerAddressOf(fd_.get()); }
  int pollFd() const override { return fd_.get(); }
  bool holdsOutput() const override { return buffers_ && buffers_->pendingBegin < buffers_->pending.size(); }
  bool hasBufferedInput() const override { return bufferedInput_; }
  TlsTransport* asTls() override { return this; }

  // The TLS handshake is not finished (the Server budgets these per turn).
  bool handshaking() const { return ssl_ && shared_.ssl_.SSL_in_init(ssl_); }
  // The session as node:tls describes it, once the handshake is done (false before). After the
  // hand-over it was captured then, and is given out once (the upgrade request takes it).
  bool takeSessionInfo(TlsSessionInfo& out);
  // Installs the callbacks the hand-over needs on a context every TLS socket may use.
  static void prepareContext(const OpenSsl& api, SSL_CTX* ctx);
  bool handedOver() const { return records_ != nullptr; }

 private:
  friend class TlsSharedIo;
  // One OpenSSL call (or a few) on behalf of this socket: points the shared BIO at it, and
  // starts with an empty ciphertext buffer.
  class Operation {
   public:
    explicit Operation(TlsTransport& transport);
    ~Operation();
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

   private:
    TlsSharedIo& io_;
    TlsSharedIo* previous_;
  };
  struct HandshakeKeys;
  static void onKeylog(const SSL* ssl, const char* line);
  static void onMessage(int writing, int version, int contentType, const void* data, size_t length, SSL* ssl, void* arg);
  IoResult readRecords(uint8_t* buffer, size_t capacity);
  IoResult finishRead(size_t total, IoResult::Status end);
  void handOver();
  bool encrypt(const uint8_t* data, size_t length);
  // Sends the pending ciphertext, then the operation's (the rest of which becomes pending).
  // False: the socket failed.
  bool sendCiphertext();
  bool sendPending();
  size_t sendSome(const uint8_t* data, size_t length);

  TlsSharedIo& shared_;
  SSL* ssl_;                                  // until the hand-over
  std::unique_ptr<HandshakeKeys> keys_;       // while the handshake runs
  std::unique_ptr<Tls13Records> records_;     // after the hand-over
  std::unique_ptr<TlsSessionInfo> session_;   // captured at the hand-over, until taken
  // What a socket holds only now and then, allocated while it does (an idle socket has none).
  struct Buffers {
    ByteBuffer pending;   // ciphertext the kernel has not taken yet
    size_t pendingBegin = 0;
    ByteBuffer partial;   // after the hand-over: ciphertext of a record not complete yet
    ByteBuffer leftover;  // after the hand-over: plaintext the reader had no room for
    size_t leftoverBegin = 0;
    bool empty() const { return pendingBegin == pending.size() && partial.empty() && leftoverBegin == leftover.size(); }
  };
  Buffers& buffers() {
    if (!buffers_) buffers_ = std::make_unique<Buffers>();
    return *buffers_;
  }
  void releaseBuffersIfEmpty() {
    if (buffers_ && buffers_->empty()) buffers_.reset();
  }
  std::unique_ptr<Buffers> buffers_;
  UniqueFd fd_;
  IoResult::Status latched_ = IoResult::Status::WOULD_BLOCK;  // an end met after data was returned
  bool bufferedInput_ = false;  // OpenSSL holds input epoll does not know of (or latched_ is set)
  bool peerEnded_ = false;      // recv() saw the peer's FIN
  bool socketFailed_ = false;   // recv()/send() failed
  bool writeShut_ = false;
  bool shutdownPending_ = false;  // shut down TCP writing once the pending ciphertext is out
};

}  // namespace epollws
