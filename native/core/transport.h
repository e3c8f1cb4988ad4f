// The seam every byte of a connection goes through: read into a given buffer, writev, shut down
// writing, close, peer address. Connection code never calls recv/send/writev/shutdown/close itself.
//
// Layout choice (sizeof(Connection) <= 184, see connection.h): plain TCP is by far the common case,
// so FdTransport is a 4-byte value held inline in every Connection, called without a vtable. The
// other transports (TLS over an fd, tls_transport.h; a stream fed by the driver with no fd at all,
// stream_transport.h) derive from `Transport` and hang off ConnectionExtras; Connection::io() then
// dispatches with one pointer test (extras && extras->transport) before the inline fd. A vtable pointer plus the fd inline would
// cost 8 more bytes on every idle connection for a capability most never use.
#pragma once
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "net.h"
#include "unique_fd.h"

namespace epollws {

// What one read or write did.
struct IoResult {
  enum class Status : uint8_t {
    OK,           // `bytes` moved (a write may be partial)
    WOULD_BLOCK,  // nothing now: wait for readiness
    END,          // the peer finished sending (read only)
    FAILED,       // the connection is broken (ECONNRESET, EPIPE...)
  };
  Status status;
  size_t bytes;
};

class StreamTransport;
class TlsTransport;

// The interface other transports implement (TLS, external streams); FdTransport has the same
// member functions without being virtual.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual IoResult read(uint8_t* buffer, size_t capacity) = 0;
  virtual IoResult writev(const iovec* parts, int count) = 0;
  virtual void shutdownWrite() = 0;
  virtual void close() = 0;
  virtual PeerAddress peerAddress() const = 0;
  // The fd the reactor watches, or -1 for a transport with none (the reactor then ignores it).
  virtual int pollFd() const = 0;
  // Output the transport took but the kernel has not yet (TLS ciphertext): the connection waits
  // for write readiness and calls writev(nullptr, 0) to send it.
  virtual bool holdsOutput() const { return false; }
  // Input that can be read without the fd becoming readable (TLS records OpenSSL read ahead):
  // the connection asks the Server to read it in the next turn.
  virtual bool hasBufferedInput() const { return false; }
  // The driver-fed stream behind this transport, if it is one (stream_transport.h).
  virtual StreamTransport* asStream() { return nullptr; }
  virtual TlsTransport* asTls() { return nullptr; }
};

// Plain TCP on a non-blocking socket the transport owns.
class FdTransport {
 public:
  FdTransport() = default;
  explicit FdTransport(int fd) : fd_(fd) {}

  IoResult read(uint8_t* buffer, size_t capacity);
  IoResult writev(const iovec* parts, int count);
  void shutdownWrite();
  void close() { fd_.reset(); }
  PeerAddress peerAddress() const { return peerAddressOf(fd_.get()); }
  int pollFd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

// What Connection::io() returns: the connection's transport, chosen once per call with one pointer
// test (a transport on the extras, else the inline fd), so call sites read `conn->io().read(...)`
// whatever moves the bytes.
class TransportRef {
 public:
  TransportRef(FdTransport& fd, Transport* other) : fd_(fd), other_(other) {}

  IoResult read(uint8_t* buffer, size_t capacity) { return other_ ? other_->read(buffer, capacity) : fd_.read(buffer, capacity); }
  IoResult writev(const iovec* parts, int count) { return other_ ? other_->writev(parts, count) : fd_.writev(parts, count); }
  void shutdownWrite() { other_ ? other_->shutdownWrite() : fd_.shutdownWrite(); }
  void close() { other_ ? other_->close() : fd_.close(); }
  PeerAddress peerAddress() const { return other_ ? other_->peerAddress() : fd_.peerAddress(); }
  int pollFd() const { return other_ ? other_->pollFd() : fd_.pollFd(); }
  bool holdsOutput() const { return other_ && other_->holdsOutput(); }
  bool hasBufferedInput() const { return other_ && other_->hasBufferedInput(); }
  TlsTransport* tls() const { return other_ ? other_->asTls() : nullptr; }

 private:
  FdTransport& fd_;
  Transport* other_;
};

}  // namespace epollws
