// The Reactor on its own: registrations carry the caller's tag, interest changes take effect, the
// wake eventfd fires once however often it is rung, and fd-less transports are ignored.
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "reactor.h"

using namespace epollws;

namespace {

struct Pair {
  Pair() {
    int fds[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
    ours = fds[0];
    theirs = fds[1];
  }
  ~Pair() {
    ::close(ours);
    if (theirs >= 0) ::close(theirs);
  }
  int ours;
  int theirs;
};

// One wait that does not block: what is ready now.
int readyNow(Reactor& reactor, Readiness* out, int capacity = 8) { return reactor.wait(out, capacity, 0); }

void tagsAndReadInterest() {
  Reactor reactor;
  CHECK_EQ(reactor.init(), 0);
  Pair a, b;
  const uint64_t tagA = (uint64_t(5) << 32) | 11, tagB = (uint64_t(6) << 32) | 12;
  CHECK_EQ(reactor.add(a.ours, tagA, Interest{true, false, false}), 0);
  CHECK_EQ(reactor.add(b.ours, tagB, Interest{true, false, false}), 0);
  Readiness ready[8];
  CHECK_EQ(readyNow(reactor, ready), 0);  // nothing to read yet
  CHECK_EQ(::write(b.theirs, "x", 1), 1);
  CHECK_EQ(readyNow(reactor, ready), 1);
  CHECK_EQ(ready[0].tag, tagB);
  CHECK(ready[0].events & EPOLLIN);
  CHECK(!(ready[0].events & EPOLLOUT));  // write interest was not asked for
  CHECK_EQ(reactor.add(a.ours, tagA, Interest{true, false, false}), EEXIST);  // errno comes back
}

void interestChanges() {
  Reactor reactor;
  reactor.init();
  Pair p;
  const uint64_t tag = 42;
  reactor.add(p.ours, tag, Interest{false, false, false});
  Readiness ready[8];
  CHECK_EQ(readyNow(reactor, ready), 0);
  reactor.modify(p.ours, tag, Interest{false, false, true});  // room to write: at once
  CHECK_EQ(readyNow(reactor, ready), 1);
  CHECK(ready[0].events & EPOLLOUT);
  ::write(p.theirs, "x", 1);
  reactor.modify(p.ours, tag, Interest{false, true, false});  // paused: only the peer's FIN counts
  CHECK_EQ(readyNow(reactor, ready), 0);                       // the byte waiting does not wake it
  ::shutdown(p.theirs, SHUT_WR);
  CHECK_EQ(readyNow(reactor, ready), 1);
  CHECK(ready[0].events & EPOLLRDHUP);
  CHECK(!(ready[0].events & EPOLLIN));
  reactor.modify(p.ours, tag + 1, Interest{true, false, false});  // a new tag replaces the old
  CHECK_EQ(readyNow(reactor, ready), 1);
  CHECK_EQ(ready[0].tag, tag + 1);
  CHECK(ready[0].events & EPOLLIN);
  reactor.remove(p.ours);
  CHECK_EQ(readyNow(reactor, ready), 0);
}

void wakeFiresOnce() {
  Reactor reactor;
  reactor.init();
  Readiness ready[8];
  reactor.wake();
  reactor.wake();  // rung twice before the turn: one wake-up
  CHECK_EQ(readyNow(reactor, ready), 1);
  CHECK_EQ(ready[0].tag, Reactor::WAKE_TAG);
  reactor.clearWake();
  CHECK_EQ(readyNow(reactor, ready), 0);
  reactor.wake();  // rings again after being cleared
  CHECK_EQ(readyNow(reactor, ready), 1);
  CHECK_EQ(ready[0].tag, Reactor::WAKE_TAG);
  reactor.clearWake();
}

void fdLessTransportsAreIgnored() {
  Reactor reactor;
  reactor.init();
  CHECK_EQ(reactor.add(-1, 1, Interest{true, false, true}), 0);
  reactor.modify(-1, 1, Interest{true, false, false});
  reactor.remove(-1);
  Readiness ready[8];
  CHECK_EQ(readyNow(reactor, ready), 0);
}

void waitHonoursCapacity() {
  Reactor reactor;
  reactor.init();
  Pair pairs[3];
  for (uint64_t i = 0; i < 3; ++i) {
    reactor.add(pairs[i].ours, i, Interest{false, false, true});
  }
  Readiness ready[2];
  CHECK_EQ(reactor.wait(ready, 2, 0), 2);
}

}  // namespace

int main() {
  tagsAndReadInterest();
  interestChanges();
  wakeFiresOnce();
  fdLessTransportsAreIgnored();
  waitHonoursCapacity();
  return CHECK_SUMMARY("reactor_test");
}
