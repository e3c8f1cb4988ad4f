// The epoll set: every epoll_ctl of the core happens here. Registrations carry a 64-bit tag the
// server chooses (connections: generation << 32 | slot; listeners and the wake fd: the high bits
// below). A wake eventfd lets calls made outside a turn (by the user) get the driver to run one.
#pragma once
#include <sys/epoll.h>

#include <cstdint>

#include "unique_fd.h"

namespace epollws {

// What a connection wants to hear about. Errors and hang-ups are always reported.
struct Interest {
  bool read;        // bytes to read (and the peer's FIN)
  bool peerClosed;  // the peer's FIN alone, while reading is paused
  bool write;       // room in the send buffer
};

// One ready registration of a turn.
struct Readiness {
  uint64_t tag;
  uint32_t events;  // EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP | EPOLLERR
};

class Reactor {
 public:
  static constexpr uint64_t WAKE_TAG = 1ull << 63;
  static constexpr uint64_t LISTENER_TAG = 1ull << 62;

  // Creates the epoll set and the wake eventfd. Returns 0 or an errno.
  int init();
  int pollFd() const { return epoll_.get(); }

  // A transport with no fd (fd < 0) has nothing to register: these calls then succeed and do
  // nothing, and its readiness comes from its driver instead. add() returns 0 or an errno.
  int add(int fd, uint64_t tag, Interest interest);
  void modify(int fd, uint64_t tag, Interest interest);
  void remove(int fd);

  // Waits at most timeoutMs (retrying EINTR); returns how many entries of `out` are filled.
  int wait(Readiness* out, int capacity, int timeoutMs);

  // Makes the next wait() return (once, however often it is called before that turn).
  void wake();
  // Consumes a wake-up (called when WAKE_TAG comes out of wait()).
  void clearWake();

 private:
  UniqueFd epoll_;
  UniqueFd wakeFd_;
  bool wakePending_ = false;
};

}  // namespace epollws
