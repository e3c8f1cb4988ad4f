// Server lifecycle, the reactor turn, accepting and reading. Output is in server_output.cc and
// the opening handshake in server_handshake.cc.
#include "server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "clock.h"
#include "memory_return.h"
#include "net.h"

namespace epollws {
namespace {

// epoll_event.data tags. Connections use (generation << 32 | slot) with generation < 2^31.
constexpr uint64_t WAKE_TAG = 1ull << 63;
constexpr uint64_t LISTENER_TAG = 1ull << 62;
constexpr size_t READ_BUFFER_SIZE = 256 * 1024;
constexpr int MAX_EVENTS = 512;
constexpr int MAX_READS_PER_TURN = 4;  // fairness: a busy peer cannot starve the others
constexpr size_t MAX_INPUT_BEFORE_ACCEPT = 64 * 1024;
constexpr size_t DIRECT_READ_MIN = 64 * 1024;  // frames with less left go through the read buffer

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)), wheel_(monotonicMs()) {}

Server::~Server() {
  for (auto& conn : slots_) {
    if (conn && conn->fd >= 0) ::close(conn->fd);
  }
}

int Server::init() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return errno;
  wakeFd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeFd_.valid()) return errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = WAKE_TAG;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeFd_.get(), &ev) != 0) return errno;
  reserveFd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  readBuffer_.reset(new uint8_t[READ_BUFFER_SIZE]);
  return 0;
}

ListenResult Server::listen(const std::string& host, uint16_t port, int backlog, bool reusePort) {
  ListenResult result;
  SocketResult socket = openListener(host, port, backlog, reusePort);
  if (socket.error) {
    result.error = socket.error;
    result.syscall = socket.syscall;
    return result;
  }
  UniqueFd fd(socket.fd);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = LISTENER_TAG | listeners_.size();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
    result.error = errno;
    result.syscall = "epoll_ctl";
    return result;
  }
  listeners_.push_back(Listener{std::move(fd)});
  result.port = socket.port;
  return result;
}

void Server::stopListening() {
  for (auto& listener : listeners_) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener.fd.get(), nullptr);
  }
  listeners_.clear();
}

void Server::dropConnections(bool onlyUnknown) {
  for (auto& slot : slots_) {
    Connection* conn = slot.get();
    if (conn && conn->state != ConnState::CLOSED && (!onlyUnknown || !conn->known)) closeConnection(conn);
  }
}

void Server::runTurn(int timeoutMs) {
  epoll_event events[MAX_EVENTS];
  int ready;
  do {
    ready = ::epoll_wait(epoll_.get(), events, MAX_EVENTS, timeoutMs);
  } while (ready < 0 && errno == EINTR);
  inTurn_ = true;
  nowMs_ = monotonicMs();
  for (int i = 0; i < ready; ++i) {
    uint64_t tag = events[i].data.u64;
    if (tag == WAKE_TAG) {
      uint64_t count;
      while (::read(wakeFd_.get(), &count, sizeof count) > 0) {
      }
      wakePending_ = false;
    } else if (tag & LISTENER_TAG) {
      size_t index = static_cast<size_t>(tag & ~LISTENER_TAG);
      if (index < listeners_.size()) handleAccept(index);
    } else {
      uint32_t slot = static_cast<uint32_t>(tag);
      uint32_t generation = static_cast<uint32_t>(tag >> 32);
      if (slot >= slots_.size() || !slots_[slot]) continue;
      Connection* conn = slots_[slot].get();
      // A slot closed earlier in this turn keeps its object until releaseDelivered(): check it.
      if (conn->generation != generation || conn->state == ConnState::CLOSED) continue;
      handleConnectionEvent(conn, events[i].events);
    }
  }
  expireDeadlines();
  inTurn_ = false;
}

void Server::takeBatch(EventBatch& out) {
  out.clear();
  std::swap(out, batch_);
  closedDelivered_.insert(closedDelivered_.end(), closedUndelivered_.begin(), closedUndelivered_.end());
  closedUndelivered_.clear();
}

void Server::releaseDelivered() {
  for (uint32_t slot : closedDelivered_) {
    slots_[slot].reset();
    ++generations_[slot];
    freeSlots_.push_back(slot);
  }
  closedDelivered_.clear();
}

void Server::noteEventQueued() {
  // Events raised outside a turn (by the user's calls) must wake the driver.
  if (inTurn_ || wakePending_) return;
  uint64_t one = 1;
  if (::write(wakeFd_.get(), &one, sizeof one) == sizeof one) wakePending_ = true;
}

Connection* Server::lookup(ConnectionId id) const {
  if (id.slot >= slots_.size()) return nullptr;
  Connection* conn = slots_[id.slot].get();
  if (!conn || conn->generation != id.generation) return nullptr;
  return conn;
}

void Server::acceptFailed(int error) {
  if (error != lastAcceptError_) {
    lastAcceptError_ = error;
    batch_.add(EventKind::LISTEN_ERROR, 0, 0, 0, static_cast<uint32_t>(error));
    noteEventQueued();
  }
}

void Server::handleAccept(size_t listenerIndex) {
  int listenFd = listeners_[listenerIndex].fd.get();
  for (;;) {
    sockaddr_storage peer;
    socklen_t peerLength = sizeof peer;
    int fd = ::accept4(listenFd, reinterpret_cast<sockaddr*>(&peer), &peerLength, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN) return;
      if ((errno == EMFILE || errno == ENFILE) && reserveFd_.valid()) {
        // Out of fds: accept with the reserve and drop it, so the listener does not stay readable
        // and spin; report once. The open connections keep being served.
        int error = errno;
        reserveFd_.reset();
        int dropped = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
        if (dropped >= 0) ::close(dropped);
        reserveFd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        acceptFailed(error);
        if (dropped < 0) return;
        continue;
      }
      acceptFailed(errno);
      return;
    }
    lastAcceptError_ = 0;
    Connection* conn = addConnection(fd);
    if (!conn) continue;
    conn->handshake->peer = peer;
    if (options_.maxConnections && liveConnections_ > options_.maxConnections) {
      conn->handshake->refuseStatus = 503;
    }
    setDeadline(conn, options_.handshakeTimeoutMs);
  }
}

Connection* Server::addConnection(int fd) {
  setNoDelay(fd);
  uint32_t slot;
  if (!freeSlots_.empty()) {
    slot = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    generations_.push_back(1);
  }
  auto owned = std::make_unique<Connection>();
  Connection* conn = owned.get();
  conn->fd = fd;
  conn->slot = slot;
  conn->generation = generations_[slot] & 0x3fffffffu;
  conn->state = ConnState::HANDSHAKE;
  conn->handshake = std::make_unique<HandshakeState>(options_.maxHeaderSize);
  conn->handshake->awaitingProxyHeader = options_.proxyProtocol;
  FrameParserOptions parserOptions;
  parserOptions.maxPayload = options_.maxPayload;
  parserOptions.maxFragments = options_.maxFragments;
  conn->parser.setOptions(parserOptions);
  slots_[slot] = std::move(owned);
  ++liveConnections_;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = epollTag(*conn);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    closeConnection(conn);
    return nullptr;
  }
  return conn;
}

void Server::handleConnectionEvent(Connection* conn, uint32_t events) {
  if (events & EPOLLOUT) {
    flushConnection(conn);
    if (conn->state == ConnState::CLOSED) return;
  }
  if (conn->readPaused && (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
    closeConnection(conn);  // gone while the user decides on the upgrade
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) handleReadable(conn);
}

void Server::handleReadable(Connection* conn) {
  for (int reads = 0; reads < MAX_READS_PER_TURN; ++reads) {
    if (conn->state == ConnState::CLOSED || conn->readPaused) return;
    // The rest of a large frame goes straight into the message's reassembly buffer (sized from
    // the frame header): the payload is copied once, by the kernel. Reading exactly up to the
    // frame's end keeps the next frame's bytes for the normal path.
    uint8_t* buffer = readBuffer_.get();
    size_t capacity = READ_BUFFER_SIZE;
    if (conn->state == ConnState::OPEN && conn->parser.inDataPayload()) {
      uint64_t remaining = conn->parser.framePayloadRemaining();
      size_t room = conn->message.capacity() - conn->message.size();
      if (remaining >= DIRECT_READ_MIN && room >= remaining) {
        buffer = conn->message.data() + conn->message.size();
        capacity = static_cast<size_t>(remaining);
      }
    }
    ssize_t n = ::recv(conn->fd, buffer, capacity, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      closeConnection(conn);  // ECONNRESET and friends: abnormal closure (1006)
      return;
    }
    if (n == 0) {
      closeConnection(conn);  // FIN: a close handshake completed, or 1006 without one
      return;
    }
    size_t len = static_cast<size_t>(n);
    conn->lastActivityMs = nowMs_;  // the timer wheel notices when its entry comes due
    conn->pingSent = false;
    switch (conn->state) {
      case ConnState::HANDSHAKE:
        readHandshake(conn, buffer, len);
        break;
      case ConnState::OPEN:
      case ConnState::CLOSING:
        consumeFrames(conn, buffer, len);
        break;
      case ConnState::DRAINING:
        break;  // everything after the close frame is discarded
      case ConnState::AWAITING_ACCEPT: {
        // Kept for after the accept. Past a bound, reading pauses until the user decides, so a
        // client cannot queue unbounded data before it is accepted.
        std::vector<uint8_t>& pending = conn->handshake->pendingInput;
        pending.insert(pending.end(), buffer, buffer + len);
        if (pending.size() >= MAX_INPUT_BEFORE_ACCEPT) {
          conn->readPaused = true;
          updateInterest(conn);
          return;
        }
        break;
      }
      case ConnState::CLOSED:
        return;
    }
    if (len < capacity) return;
  }
}

void Server::consumeFrames(Connection* conn, uint8_t* data, size_t len) {
  FrameSink sink{this, conn};
  conn->parser.consume(data, len, sink);
}

void Server::setDeadline(Connection* conn, uint32_t afterMs) {
  conn->deadlineMs = afterMs ? monotonicMs() + afterMs : 0;
  armTimer(conn);
}

// The earliest moment something must happen to this connection: its handshake or close deadline,
// or (while open) the idle ping and the idle expiry. 0 when nothing is due.
uint64_t Server::nextDueMs(const Connection* conn) const {
  uint64_t due = conn->deadlineMs;
  if (conn->state == ConnState::OPEN && options_.idleTimeoutMs) {
    uint64_t idle = conn->lastActivityMs + options_.idleTimeoutMs;
    if (options_.sendPings && !conn->pingSent) idle = conn->lastActivityMs + options_.idleTimeoutMs / 2;
    if (due == 0 || idle < due) due = idle;
  }
  return due;
}

void Server::armTimer(Connection* conn) {
  uint64_t due = nextDueMs(conn);
  // One live entry per connection; an earlier due time adds one (the later one goes stale).
  if (due == 0 || (conn->wheelDueMs != 0 && conn->wheelDueMs <= due)) return;
  conn->wheelDueMs = due;
  wheel_.schedule({conn->slot, conn->generation, due});
}

int64_t Server::msUntilNextDeadline() const { return wheel_.msUntilNextTick(monotonicMs()); }

void Server::expireDeadlines() {
  if (wheel_.size() == 0) return;
  nowMs_ = monotonicMs();
  bool wasInTurn = inTurn_;
  inTurn_ = true;
  wheel_.advance(nowMs_, [this](const TimerWheel::Entry& entry) { onTimer(entry); });
  inTurn_ = wasInTurn;
  if (!inTurn_ && !batch_.empty()) noteEventQueued();
  if (!inTurn_ && !dirty_.empty()) noteEventQueued();  // idle pings wait for a flush
}

void Server::onTimer(const TimerWheel::Entry& entry) {
  Connection* conn = lookup({entry.slot, entry.generation});
  if (!conn || conn->state == ConnState::CLOSED || conn->wheelDueMs != entry.dueMs) return;
  conn->wheelDueMs = 0;
  if (conn->deadlineMs && conn->deadlineMs <= nowMs_) {
    closeConnection(conn);  // handshake or close handshake took too long
    return;
  }
  if (conn->state == ConnState::OPEN && options_.idleTimeoutMs) {
    uint64_t idleFor = nowMs_ - conn->lastActivityMs;
    if (idleFor >= options_.idleTimeoutMs) {
      closeConnection(conn);  // silent peer: vanished without a FIN, or ignored our ping
      return;
    }
    if (options_.sendPings && !conn->pingSent && idleFor >= options_.idleTimeoutMs / 2) {
      conn->pingSent = true;
      queueFrame(conn, Opcode::PING, nullptr, 0);
    }
  }
  armTimer(conn);
}

void Server::closeConnection(Connection* conn) {
  if (conn->state == ConnState::CLOSED) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn->fd, nullptr);
  ::close(conn->fd);
  conn->fd = -1;
  conn->state = ConnState::CLOSED;
  conn->deadlineMs = 0;
  --liveConnections_;
  if (conn->known) {
    uint16_t code = conn->closeReceived ? conn->closeCode : close_code::ABNORMAL;
    std::string_view reason = conn->receivedCloseReason();
    batch_.addCopy(EventKind::CLOSE, conn->slot, conn->generation, reason.data(), reason.size(), code);
    noteEventQueued();
  }
  conn->handshake.reset();
  noteFreedMemory(conn->message.capacity() + conn->output.capacity());
  conn->message.release();
  conn->output.release();
  closedUndelivered_.push_back(conn->slot);
  if (liveConnections_ == 0 && listeners_.empty()) {
    batch_.add(EventKind::IDLE, 0, 0, 0, 0);
    noteEventQueued();
  }
}

}  // namespace epollws
