// TlsTransport's read path after the hand-over (tls_transport.h): ciphertext is read into the
// reactor's record buffer, each complete record opened there in place and its plaintext copied
// into the connection's buffer. An incomplete record waits in the socket's `partial` buffer (the
// only ciphertext a connection keeps between reads), plaintext the reader had no room for in
// `leftover` (hasBufferedInput() then asks for the next turn's read); both only while needed.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tls_transport.h"

namespace epollws {
namespace {

// Ciphertext read per recv(): a few records.
constexpr size_t RECORD_READ = 64 * 1024;

}  // namespace

IoResult TlsTransport::readRecords(uint8_t* buffer, size_t capacity) {
  const Tls13Ciphers& ciphers = shared_.ciphers_;
  size_t total = 0;
  Operation operation(*this);  // the shared buffers (and a KeyUpdate's answer)
  ByteBuffer& in = shared_.records_;
  in.clear();
  if (buffers_) {  // (no allocation on the common path: an idle socket has none)
    Buffers& held = *buffers_;
    if (held.leftoverBegin < held.leftover.size()) {
      total = std::min(capacity, held.leftover.size() - held.leftoverBegin);
      std::memcpy(buffer, held.leftover.data() + held.leftoverBegin, total);
      held.leftoverBegin += total;
      if (held.leftoverBegin == held.leftover.size()) {
        held.leftover.release();
        held.leftoverBegin = 0;
      }
    }
    in.append(held.partial.data(), held.partial.size());
    held.partial.release();
  }
  IoResult::Status end = IoResult::Status::WOULD_BLOCK;
  bool drained = false;
  while (end == IoResult::Status::WOULD_BLOCK && total < capacity) {
    size_t at = 0;
    while (total < capacity) {
      size_t length = Tls13Records::recordLength(in.data() + at, in.size() - at);
      if (length == 0) break;
      if (length == SIZE_MAX) {
        end = IoResult::Status::FAILED;  // not a protected record: garbage or a downgrade
        break;
      }
      size_t plaintext = 0;
      Tls13Records::Status opened = records_->open(ciphers, in.data() + at, length, plaintext, shared_.cipher_);
      const uint8_t* text = in.data() + at + Tls13Records::HEADER;
      at += length;
      if (opened != Tls13Records::Status::OK) {
        end = opened == Tls13Records::Status::CLOSE_NOTIFY ? IoResult::Status::END : IoResult::Status::FAILED;
        break;
      }
      size_t fits = std::min(plaintext, capacity - total);
      std::memcpy(buffer + total, text, fits);
      total += fits;
      if (fits < plaintext) buffers().leftover.append(text + fits, plaintext - fits);
    }
    if (at) in.eraseFront(at);
    if (end != IoResult::Status::WOULD_BLOCK || total >= capacity || drained) break;
    uint8_t* into = in.grow(RECORD_READ);
    ssize_t n;
    do {
      n = ::recv(fd_.get(), into, RECORD_READ, 0);
    } while (n < 0 && errno == EINTR);
    in.shrinkTo(in.size() - RECORD_READ + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n == 0) {
      end = IoResult::Status::END;  // a FIN (after close_notify or not: the close handshake decides)
    } else if (n < 0) {
      // Drained (or failed). What is left in `in` is an incomplete record: complete ones were
      // opened above, and no recv is made while the reader's buffer is full.
      if (errno != EAGAIN && errno != EWOULDBLOCK) end = IoResult::Status::FAILED;
      break;
    } else if (static_cast<size_t>(n) < RECORD_READ) {
      drained = true;  // the kernel had no more (epoll reports what comes next)
    }
  }
  bool completeWaiting = false;
  if (end == IoResult::Status::WOULD_BLOCK && !in.empty()) {
    // What is left is an incomplete record, or complete ones the reader had no room for.
    completeWaiting = Tls13Records::recordLength(in.data(), in.size()) != 0;
    buffers().partial.append(in.data(), in.size());
  }
  in.clear();
  bufferedInput_ = completeWaiting || (buffers_ && buffers_->leftoverBegin < buffers_->leftover.size());
  releaseBuffersIfEmpty();
  if (!sendCiphertext()) end = IoResult::Status::FAILED;  // a KeyUpdate's answer
  return finishRead(total, end);
}

}  // namespace epollws
