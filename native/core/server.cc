// Server lifecycle, the reactor turn, accepting and reading. Output and backpressure are in
// server_output.cc, the upgrade flow in server_handshake.cc.
#include "server.h"

#include <algorithm>
#include <cerrno>

#include "clock.h"
#include "memory_return.h"
#include "net.h"

namespace epollws {
namespace {

// Reactor tags: connections use epollTag() (generation << 32 | slot, generation below 2^30, so
// the two high bits stay free for Reactor::WAKE_TAG and Reactor::LISTENER_TAG).
constexpr size_t READ_BUFFER_SIZE = 256 * 1024;
constexpr int MAX_EVENTS = 512;
constexpr int MAX_READS_PER_TURN = 4;  // fairness: a busy peer cannot starve the others
constexpr size_t MAX_INPUT_BEFORE_ACCEPT = 64 * 1024;
constexpr size_t DIRECT_READ_MIN = 64 * 1024;  // frames with less left go through the read buffer

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)), wheel_(clockMs()) {}

// Every transport closes with its Connection.
Server::~Server() = default;

int Server::init() {
  if (int error = reactor_.init()) return error;
  listeners_.init();
  readBuffer_.reset(new uint8_t[READ_BUFFER_SIZE]);
  return 0;
}

ListenResult Server::listen(const std::string& host, uint16_t port, int backlog, bool reusePort) {
  return listeners_.listen(host, port, backlog, reusePort);
}

void Server::stopListening() { listeners_.closeAll(); }

void Server::dropConnections(bool onlyUnknown) {
  for (auto& slot : slots_) {
    Connection* conn = slot.get();
    if (conn && conn->state != ConnState::CLOSED && (!onlyUnknown || !conn->known)) closeConnection(conn);
  }
}

void Server::runTurn(int timeoutMs) {
  Readiness events[MAX_EVENTS];
  int ready = reactor_.wait(events, MAX_EVENTS, timeoutMs);
  inTurn_ = true;
  nowMs_ = clockMs();
  for (int i = 0; i < ready; ++i) {
    uint64_t tag = events[i].tag;
    if (tag == Reactor::WAKE_TAG) {
      reactor_.clearWake();
    } else if (listeners_.owns(tag)) {
      listeners_.acceptPending(tag, *this);
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
  serviceStreams();
  expireDeadlines();
  inTurn_ = false;
}

void Server::takeBatch(EventBatch& out) {
  out.clear();
  if (size_t freed = out.shrinkAfterBurst()) noteFreedMemory(freed);
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
  if (!inTurn_) reactor_.wake();
}

Connection* Server::lookup(ConnectionId id) const {
  if (id.slot >= slots_.size()) return nullptr;
  Connection* conn = slots_[id.slot].get();
  if (!conn || conn->generation != id.generation) return nullptr;
  return conn;
}

void Server::onAcceptError(int error) {
  batch_.add(EventKind::ACCEPT_ERROR, 0, 0, 0, static_cast<uint32_t>(error));
  noteEventQueued();
}

void Server::onAccepted(int fd, const sockaddr_storage& peer) {
  Connection* conn = addConnection(fd);
  if (!conn) return;
  conn->handshake()->peer = peer;
  if (options_.maxConnections && liveConnections_ > options_.maxConnections) {
    conn->handshake()->refuseStatus = 503;
  }
  setDeadline(conn, options_.handshakeTimeoutMs);
}

Connection* Server::addConnection(int fd) {
  if (fd >= 0) setNoDelay(fd);  // -1: a stream (attachStream)
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
  conn->fdIo = FdTransport(fd);
  conn->slot = slot;
  conn->generation = generations_[slot] & 0x3fffffffu;
  conn->state = ConnState::HANDSHAKE;
  conn->startHandshake(options_.maxHeaderSize);
  conn->handshake()->awaitingProxyHeader = options_.proxyProtocol;
  FrameParserOptions parserOptions;
  parserOptions.maxPayload = options_.maxPayload;
  parserOptions.maxFragments = options_.maxFragments;
  conn->parser.setOptions(parserOptions);
  slots_[slot] = std::move(owned);
  ++liveConnections_;
  if (reactor_.add(conn->io().pollFd(), epollTag(*conn), Interest{true, false, false}) != 0) {
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
  // Paused for its output (it watches only EPOLLOUT): an error or hang-up means it is gone.
  if (conn->outputPaused && (events & (EPOLLHUP | EPOLLERR))) {
    closeConnection(conn);
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) handleReadable(conn);
}

void Server::handleReadable(Connection* conn) {
  size_t readThisTurn = 0;
  for (int reads = 0; reads < MAX_READS_PER_TURN; ++reads) {
    if (conn->state == ConnState::CLOSED || conn->readPaused || conn->outputPaused) return;
    if (shouldPauseReading(conn)) {
      conn->outputPaused = true;
      updateInterest(conn);
      return;
    }
    // What is read now may all be answered after the batch: read no more than the room left
    // below the pause threshold, so the answers cannot take the queue to the limit (level-
    // triggered epoll reports the rest next turn).
    size_t room = readRoom(conn, readThisTurn);
    if (room == 0) return;
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
    if (capacity > room) capacity = room;
    IoResult read = conn->io().read(buffer, capacity);
    if (read.status == IoResult::Status::WOULD_BLOCK) return;
    if (read.status != IoResult::Status::OK) {
      // END: a FIN, after a close handshake or (1006) without one. FAILED: ECONNRESET and friends.
      closeConnection(conn);
      return;
    }
    size_t len = read.bytes;
    readThisTurn += len;
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
        std::vector<uint8_t>& pending = conn->handshake()->pendingInput;
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
  conn->deadlineMs = afterMs ? clockMs() + afterMs : 0;
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

int64_t Server::msUntilNextDeadline() const { return wheel_.msUntilNextTick(clockMs()); }

void Server::expireDeadlines() {
  if (wheel_.size() == 0) return;
  nowMs_ = clockMs();
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
  reactor_.remove(conn->io().pollFd());
  conn->io().close();
  conn->state = ConnState::CLOSED;
  conn->deadlineMs = 0;
  --liveConnections_;
  if (conn->known) {
    uint16_t code = conn->closeReceived ? conn->closeCode : close_code::ABNORMAL;
    std::string_view reason = conn->receivedCloseReason();
    batch_.addCopy(EventKind::CLOSE, conn->slot, conn->generation, reason.data(), reason.size(), code);
    noteEventQueued();
  }
  conn->takeHandshake();
  noteFreedMemory(conn->message.capacity() + conn->output.footprint());
  conn->message.release();
  conn->output.release(totalQueued_);
  conn->outputPaused = false;
  closedUndelivered_.push_back(conn->slot);
  if (liveConnections_ == 0 && listeners_.count() == 0) {
    batch_.add(EventKind::STOPPED, 0, 0, 0, 0);
    noteEventQueued();
  }
}

}  // namespace epollws
