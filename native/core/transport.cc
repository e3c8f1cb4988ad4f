// FdTransport: today's syscalls, retried on EINTR, with errno folded into IoResult.
#include "transport.h"

#include <sys/socket.h>

#include <cerrno>

namespace epollws {

IoResult FdTransport::read(uint8_t* buffer, size_t capacity) {
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buffer, capacity, 0);
    if (n > 0) return {IoResult::Status::OK, static_cast<size_t>(n)};
    if (n == 0) return {IoResult::Status::END, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::Status::WOULD_BLOCK, 0};
    return {IoResult::Status::FAILED, 0};
  }
}

IoResult FdTransport::writev(const iovec* parts, int count) {
  // sendmsg rather than writev: MSG_NOSIGNAL spares the process a SIGPIPE when the peer is gone.
  msghdr message{};
  message.msg_iov = const_cast<iovec*>(parts);
  message.msg_iovlen = static_cast<size_t>(count);
  for (;;) {
    ssize_t n = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return {IoResult::Status::OK, static_cast<size_t>(n)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::Status::WOULD_BLOCK, 0};
    return {IoResult::Status::FAILED, 0};
  }
}

void FdTransport::shutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }

}  // namespace epollws
