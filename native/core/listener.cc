#include "listener.h"

#include <fcntl.h>

#include <cerrno>

#include "net.h"

namespace epollws {

void Listeners::init() { reserveFd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

ListenResult Listeners::listen(const std::string& host, uint16_t port, int backlog, bool reusePort) {
  ListenResult result;
  SocketResult socket = openListener(host, port, backlog, reusePort);
  if (socket.error) {
    result.error = socket.error;
    result.syscall = socket.syscall;
    return result;
  }
  UniqueFd fd(socket.fd);
  if (int error = reactor_.add(fd.get(), Reactor::LISTENER_TAG | fds_.size(), Interest{true, false, false})) {
    result.error = error;
    result.syscall = "epoll_ctl";
    return result;
  }
  fds_.push_back(std::move(fd));
  result.port = socket.port;
  return result;
}

void Listeners::closeAll() {
  for (UniqueFd& fd : fds_) reactor_.remove(fd.get());
  fds_.clear();
}

void Listeners::reportError(int error, AcceptSink& sink) {
  if (error == lastError_) return;
  lastError_ = error;
  sink.onAcceptError(error);
}

void Listeners::acceptPending(uint64_t tag, AcceptSink& sink) {
  size_t index = static_cast<size_t>(tag & ~Reactor::LISTENER_TAG);
  if (index >= fds_.size()) return;
  int listenFd = fds_[index].get();
  for (;;) {
    sockaddr_storage peer;
    socklen_t peerLength = sizeof peer;
    int fd = ::accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &peerLength, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN) return;
      if ((errno == EMFILE || errno == ENFILE) && reserveFd_.valid()) {
        // Out of fds: accept with the reserve and drop it; report once.
        int error = errno;
        reserveFd_.reset();
        bool accepted = UniqueFd(::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC)).valid();
        reserveFd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        reportError(error, sink);
        if (!accepted) return;
        continue;
      }
      reportError(errno, sink);
      return;
    }
    lastError_ = 0;
    sink.onAccepted(fd, peer);
  }
}

}  // namespace epollws
