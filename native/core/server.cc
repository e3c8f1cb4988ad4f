// Server lifecycle, the reactor turn, the slot table, the timer wheel, the server-wide output bound,
// and the user's calls (lookup and delegate to the Connection). The upgrade flow is in
// server_handshake.cc.
#include "server.h"

#include <sys/epoll.h>
#include <unistd.h>

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
  // Inflates paused in the last turn go on in this one, after the ready sockets (a wake was rung).
  std::vector<ConnectionId> resuming;
  resuming.swap(inflateStalled_);
  // So does input a TLS socket read ahead (epoll cannot report it).
  std::vector<ConnectionId> buffered;
  buffered.swap(inputBuffered_);
  int ready = reactor_.wait(events, MAX_EVENTS, resuming.empty() && buffered.empty() ? timeoutMs : 0);
  inTurn_ = true;
  nowMs_ = clockMs();
  tlsHandshakeBudget_ = options_.tlsHandshakesPerTurn;
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
      onReady(conn, events[i].events);
    }
  }
  for (ConnectionId id : resuming) {
    if (Connection* conn = lookup(id)) {
      conn->resumeInflate(host_);
      conn->checkBufferedInput(host_);
    }
  }
  for (ConnectionId id : buffered) {
    Connection* conn = lookup(id);
    if (conn && conn->state != ConnState::CLOSED && conn->io().hasBufferedInput()) onReady(conn, EPOLLIN);
  }
  serviceStreams();
  expireDeadlines();
  inTurn_ = false;
}

void Server::onInflateStalled(Connection& conn) {
  inflateStalled_.push_back({conn.slot, conn.generation});
  reactor_.wake();  // the next wait() returns at once, so the next turn comes
}

void Server::onInputBuffered(Connection& conn) {
  inputBuffered_.push_back({conn.slot, conn.generation});
  reactor_.wake();
}

void Server::onReady(Connection* conn, uint32_t events) {
  conn->onReady(host_, events, readBuffer_.get(), READ_BUFFER_SIZE);
  conn->checkBufferedInput(host_);
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
  SSL* ssl = nullptr;
  if (tls_) {
    ssl = tls_->newSsl();
    if (!ssl) {
      ::close(fd);  // out of memory in OpenSSL: refuse this one, as a full fd table would
      return;
    }
  }
  Connection* conn = addConnection(fd, ssl);
  if (!conn) return;
  conn->handshake()->peer = peer;
  if (options_.maxConnections && liveConnections_ > options_.maxConnections) {
    conn->handshake()->refuseStatus = 503;
  }
  setDeadline(conn, options_.handshakeTimeoutMs);
}

Connection* Server::addConnection(int fd, SSL* ssl) {
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
  if (ssl) {
    conn->ensureExtras().transport = std::make_unique<TlsTransport>(fd, ssl, *tlsIo_);
  } else {
    conn->fdIo = FdTransport(fd);
  }
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

void Server::armTimer(Connection& conn) {
  uint64_t due = nextDueMs(&conn);
  // One live entry per connection; an earlier due time adds one (the later one goes stale).
  if (due == 0 || (conn.wheelDueMs != 0 && conn.wheelDueMs <= due)) return;
  conn.wheelDueMs = due;
  wheel_.schedule({conn.slot, conn.generation, due});
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
      conn->queueFrame(host_, Opcode::PING, nullptr, 0);
    }
  }
  armTimer(conn);
}

// The connection has closed itself (Connection::closeNow): the slot waits for its CLOSE event
// to be handed out.
void Server::onConnectionClosed(Connection& conn) {
  endSubscriptions(conn);
  --liveConnections_;
  closedUndelivered_.push_back(conn.slot);
  if (liveConnections_ == 0 && listeners_.count() == 0) {
    batch_.add(EventKind::STOPPED, 0, 0, 0, 0);
    noteEventQueued();
  }
}

// --- The user's calls: look the connection up, let it act. ---

SendResult Server::send(ConnectionId id, Opcode opcode, const uint8_t* payload, size_t length, bool fin,
                        bool compress) {
  Connection* conn = lookup(id);
  if (!conn) return {static_cast<int>(CallStatus::CLOSED), 0};
  return conn->send(host_, opcode, payload, length, fin, compress);
}

int Server::close(ConnectionId id, uint16_t code, std::string_view reason) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  conn->startClose(host_, code, reason);
  return static_cast<int>(CallStatus::OK);
}

int Server::terminate(ConnectionId id) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  conn->closeNow(host_);
  return static_cast<int>(CallStatus::OK);
}

int64_t Server::bufferedAmount(ConnectionId id) const {
  Connection* conn = lookup(id);
  if (!conn) return -1;
  return static_cast<int64_t>(conn->output.size());
}

void Server::flush() {
  for (uint32_t slot : closeReplies_) {
    if (Connection* conn = slots_[slot].get()) conn->sendCloseReply(host_);
  }
  closeReplies_.clear();
  // A flush may close connections; slots stay valid until releaseDelivered().
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Connection* conn = slots_[dirty_[i]].get();
    if (!conn) continue;
    conn->dirty = false;
    if (conn->state != ConnState::CLOSED && !conn->writeArmed) conn->flush(host_);
  }
  dirty_.clear();
  enforceTotalBudget();
}

// --- The server-wide output bound (the rules are in connection.cc, "Backpressure") ---

// Whether a send to a socket holding `queued` bytes meets the policy while the total is over the
// bound: it does when the socket counts among those holding the most (heavyQueueCutoff), and past
// the bound plus a sixteenth whenever it holds anything — the ceiling that holds whatever the
// sizes (with 'drop' the heavy queues stay until they are read).
size_t Server::totalBudgetCutoff() {
  if (totalQueued_ >= options_.maxTotalBackpressure + options_.maxTotalBackpressure / 16) return 1;
  return heavyQueueCutoff();
}

// The queue size from which a socket counts among those holding the most: the largest queues,
// taken in order, whose removal would bring the total under the bound. Computed only while over
// the bound (a scan of the slots, which only an overloaded server pays), and again each time the
// total has grown by a sixteenth of the bound since (sends to the lighter sockets are admitted
// meanwhile).
size_t Server::heavyQueueCutoff() {
  if (budgetCutoff_ && totalQueued_ < budgetCutoffAt_ + options_.maxTotalBackpressure / 16) return budgetCutoff_;
  budgetCutoffAt_ = totalQueued_;
  std::vector<size_t> sizes;
  for (const auto& slot : slots_) {
    if (slot && slot->state != ConnState::CLOSED && !slot->output.empty()) sizes.push_back(slot->output.size());
  }
  std::sort(sizes.begin(), sizes.end(), [](size_t a, size_t b) { return a > b; });
  size_t remaining = totalQueued_;
  budgetCutoff_ = 1;
  for (size_t size : sizes) {
    budgetCutoff_ = size;
    remaining -= size;
    if (remaining < options_.maxTotalBackpressure) break;
  }
  return budgetCutoff_;
}

void Server::enforceTotalBudget() {
  if (options_.maxTotalBackpressure != 0 && totalQueued_ >= options_.maxTotalBackpressure &&
      !options_.dropOnBackpressure) {
    budgetCutoff_ = 0;  // from the queues as the turn left them: the heaviest go first
    size_t cutoff = heavyQueueCutoff();
    for (auto& slot : slots_) {
      if (totalQueued_ < options_.maxTotalBackpressure) break;
      Connection* conn = slot.get();
      if (conn && conn->state != ConnState::CLOSED && !conn->output.empty() && conn->output.size() >= cutoff) {
        conn->closeNow(host_);
      }
    }
  }
  budgetCutoff_ = 0;  // recomputed when next needed, from the queues as they are then
}

}  // namespace epollws
