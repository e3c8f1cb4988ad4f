// Listeners on their own: the accept loop on a real loopback listener, and the EMFILE reserve
// (in a forked child with a lowered RLIMIT_NOFILE): a full fd table drops the connection instead
// of spinning, reports the error once per condition, and serving resumes when fds come back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "check.h"
#include "listener.h"

using namespace epollws;

namespace {

struct RecordingSink : AcceptSink {
  std::vector<sockaddr_storage> peers;
  std::vector<int> errors;
  void onAccepted(int fd, const sockaddr_storage& peer) override {
    peers.push_back(peer);
    ::close(fd);
  }
  void onAcceptError(int error) override { errors.push_back(error); }
};

int connectTo(uint16_t port, int fd = -1) {
  if (fd < 0) fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? fd : -1;
}

// Whether the server end was closed: waits for the client to become readable (bounded, so a
// regression fails instead of hanging), then expects the end of the stream.
bool droppedByServer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10000) != 1) return false;
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) == 0;
}

// Blocks until the listener is readable; returns its tag (0 if something else woke us).
uint64_t waitForListener(Reactor& reactor) {
  Readiness ready[4];
  int n = reactor.wait(ready, 4, -1);
  return n > 0 ? ready[0].tag : 0;
}

void acceptLoop() {
  Reactor reactor;
  reactor.init();
  Listeners listeners(reactor);
  listeners.init();
  ListenResult bound = listeners.listen("127.0.0.1", 0, 16, false);
  CHECK_EQ(bound.error, 0);
  CHECK(bound.port != 0);
  CHECK_EQ(listeners.count(), size_t(1));
  int clients[3];
  for (int& c : clients) c = connectTo(bound.port);
  uint64_t tag = waitForListener(reactor);
  CHECK(listeners.owns(tag));
  CHECK(!listeners.owns(Reactor::WAKE_TAG));
  CHECK(!listeners.owns((uint64_t(1) << 32) | 5));  // a connection's tag
  RecordingSink sink;
  listeners.acceptPending(tag, sink);  // every pending connection, until EAGAIN
  CHECK_EQ(sink.peers.size(), size_t(3));
  CHECK(sink.errors.empty());
  for (const sockaddr_storage& peer : sink.peers) CHECK_EQ(peer.ss_family, AF_INET);
  Readiness ready[4];
  CHECK_EQ(reactor.wait(ready, 4, 0), 0);  // nothing left: not readable any more
  for (int c : clients) ::close(c);
  listeners.closeAll();
  CHECK_EQ(listeners.count(), size_t(0));
}

// Runs in the child; returns the number of failed checks.
int emfileInChild() {
  Reactor reactor;
  reactor.init();
  Listeners listeners(reactor);
  listeners.init();
  ListenResult bound = listeners.listen("127.0.0.1", 0, 16, false);
  int first = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int second = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int third = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  rlimit limit{256, 256};
  ::setrlimit(RLIMIT_NOFILE, &limit);
  std::vector<int> fillers;
  for (;;) {
    int fd = ::dup(0);
    if (fd < 0) break;
    fillers.push_back(fd);
  }
  CHECK_EQ(errno, EMFILE);

  RecordingSink sink;
  CHECK(connectTo(bound.port, first) >= 0);
  listeners.acceptPending(waitForListener(reactor), sink);
  CHECK(sink.peers.empty());
  CHECK_EQ(sink.errors.size(), size_t(1));
  if (!sink.errors.empty()) CHECK_EQ(sink.errors[0], EMFILE);
  CHECK(droppedByServer(first));  // accepted with the reserve and dropped
  Readiness ready[4];
  CHECK_EQ(reactor.wait(ready, 4, 0), 0);  // the listener does not stay readable (no spinning)

  CHECK(connectTo(bound.port, second) >= 0);
  listeners.acceptPending(waitForListener(reactor), sink);
  CHECK_EQ(sink.errors.size(), size_t(1));  // the same condition is reported once
  CHECK(droppedByServer(second));

  // Fds come back: the next connection is served, and a later EMFILE would be reported again.
  ::close(fillers.back());
  fillers.pop_back();
  CHECK(connectTo(bound.port, third) >= 0);
  listeners.acceptPending(waitForListener(reactor), sink);
  CHECK_EQ(sink.peers.size(), size_t(1));
  CHECK_EQ(sink.errors.size(), size_t(1));
  for (int fd : fillers) ::close(fd);
  ::close(first);
  ::close(second);
  ::close(third);
  return check::failures();
}

void emfileReserve() {
  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child == 0) _exit(emfileInChild() == 0 ? 0 : 1);
  int status = 0;
  CHECK_EQ(::waitpid(child, &status, 0), child);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);  // the child printed its failures, if any
}

}  // namespace

int main() {
  acceptLoop();
  emfileReserve();
  return CHECK_SUMMARY("listener_test");
}
