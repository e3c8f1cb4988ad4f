// The server's listening sockets and the accept loop, with the EMFILE reserve: a spare fd that is
// given up to accept-and-drop a connection when the fd table is full, so a full table neither
// spins the reactor (the listener would stay readable) nor stops serving the open connections.
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "reactor.h"
#include "unique_fd.h"

namespace epollws {

struct ListenResult {
  int error = 0;               // errno, 0 on success
  const char* syscall = "";    // which call failed
  uint16_t port = 0;           // the port actually bound (useful with port 0)
};

// Told about every accepted connection and about accept failures.
class AcceptSink {
 public:
  virtual void onAccepted(int fd, const sockaddr_storage& peer) = 0;
  // errno of a failed accept, once per condition (a success resets it).
  virtual void onAcceptError(int error) = 0;

 protected:
  ~AcceptSink() = default;
};

class Listeners {
 public:
  explicit Listeners(Reactor& reactor) : reactor_(reactor) {}
  Listeners(const Listeners&) = delete;
  Listeners& operator=(const Listeners&) = delete;

  // Opens the reserve fd (call once, after the reactor's init).
  void init();
  // Binds one listening socket. An empty host listens on every address (IPv6 dual-stack, or IPv4).
  ListenResult listen(const std::string& host, uint16_t port, int backlog, bool reusePort);
  void closeAll();
  size_t count() const { return fds_.size(); }
  bool owns(uint64_t tag) const { return (tag & Reactor::WAKE_TAG) == 0 && (tag & Reactor::LISTENER_TAG); }

  // Accepts every pending connection of the listener that `tag` names.
  void acceptPending(uint64_t tag, AcceptSink& sink);

 private:
  void reportError(int error, AcceptSink& sink);

  Reactor& reactor_;
  std::vector<UniqueFd> fds_;
  UniqueFd reserveFd_;
  int lastError_ = 0;
};

}  // namespace epollws
