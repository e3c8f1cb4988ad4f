#include "reactor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace epollws {
namespace {

uint32_t eventsOf(Interest interest) {
  uint32_t events = 0;
  if (interest.read) events |= EPOLLIN | EPOLLRDHUP;
  if (interest.peerClosed) events |= EPOLLRDHUP;
  if (interest.write) events |= EPOLLOUT;
  return events;
}

constexpr int MAX_WAIT_EVENTS = 512;

}  // namespace

int Reactor::init() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return errno;
  wakeFd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeFd_.valid()) return errno;
  return add(wakeFd_.get(), WAKE_TAG, Interest{true, false, false});
}

int Reactor::add(int fd, uint64_t tag, Interest interest) {
  if (fd < 0) return 0;
  epoll_event ev{};
  ev.events = eventsOf(interest);
  ev.data.u64 = tag;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void Reactor::modify(int fd, uint64_t tag, Interest interest) {
  if (fd < 0) return;
  epoll_event ev{};
  ev.events = eventsOf(interest);
  ev.data.u64 = tag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
}

void Reactor::remove(int fd) {
  if (fd >= 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

int Reactor::wait(Readiness* out, int capacity, int timeoutMs) {
  epoll_event events[MAX_WAIT_EVENTS];
  if (capacity > MAX_WAIT_EVENTS) capacity = MAX_WAIT_EVENTS;
  int ready;
  do {
    ready = ::epoll_wait(epoll_.get(), events, capacity, timeoutMs);
  } while (ready < 0 && errno == EINTR);
  for (int i = 0; i < ready; ++i) out[i] = {events[i].data.u64, events[i].events};
  return ready < 0 ? 0 : ready;
}

void Reactor::wake() {
  if (wakePending_) return;
  uint64_t one = 1;
  if (::write(wakeFd_.get(), &one, sizeof one) == sizeof one) wakePending_ = true;
}

void Reactor::clearWake() {
  uint64_t count;
  while (::read(wakeFd_.get(), &count, sizeof count) > 0) {
  }
  wakePending_ = false;
}

}  // namespace epollws
