// What the server sends: frames queued by the user and by the protocol (pongs, close replies),
// backpressure (per socket, server-wide, and read pausing), the end-of-turn flush, and the close
// handshake. Also the frame parser's callbacks.
//
// The close handshake (RFC 6455 §7), per connection:
//
//            user close()                          peer's close frame
//   OPEN ──────────────────► CLOSING ──────────────────────────────┐
//    │   (our close queued,    │  (close timeout armed)             │
//    │    closeSent)           │ peer's close frame                 ▼
//    │                         └──────────────────────────────► DRAINING ── queue empty: FIN (shutdown
//    │ peer's close frame or protocol error:                      │  write), discard input until
//    └── replyClose(): DRAINING, our reply queued after the ──────┘  the peer's FIN or the timeout
//        user's batch has run (closeReplyPending)                 │
//                                                                 ▼
//   any state ── FIN, reset, timeout, terminate(), EPIPE ──────► CLOSED (fd closed; CLOSE event;
//                                                                slot freed at releaseDelivered)
#include <sys/epoll.h>
#include <sys/uio.h>
#include <limits.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "frame_writer.h"
#include "server.h"

namespace epollws {
namespace {

// Messages at least this large reach JS in their own buffer instead of the batch's shared one.
constexpr size_t EXTERNAL_MESSAGE_MIN = 64 * 1024;
// Payloads at least this large become a segment of their own instead of a copy into the tail,
// and are first offered to the kernel straight from the caller's memory (see queueFrame).
constexpr size_t LARGE_PAYLOAD_MIN = 32 * 1024;
// Segments written by one writev (Linux: 1024).
constexpr int MAX_IOV = IOV_MAX;

// A connection whose peer just closed (or broke the protocol) still takes the user's sends until
// the batch that reports it has run: the echo of a message that arrived together with a close
// frame must leave before our close frame.
bool canSend(const Connection* conn) {
  return (conn->state == ConnState::OPEN || conn->closeReplyPending) && !conn->closeSent;
}

}  // namespace

void Server::markDirty(Connection* conn) {
  if (!conn->dirty) {
    conn->dirty = true;
    dirty_.push_back(conn->slot);
  }
}

// Small frames are copied into the queue's tail (corked until the flush). A large payload is not
// worth corking: when nothing waits for EPOLLOUT, the queue and the payload go to the kernel in one
// writev now, straight from the caller's memory, and only what the kernel did not take is copied
// (once, into an exact-size segment). False: the connection broke and is closed.
bool Server::queueFrame(Connection* conn, Opcode opcode, const uint8_t* payload, size_t length, bool fin) {
  uint8_t header[MAX_FRAME_HEADER];
  conn->output.appendCopy(header, writeFrameHeader(header, opcode, length, fin), totalQueued_);
  if (length < LARGE_PAYLOAD_MIN) {
    conn->output.appendCopy(payload, length, totalQueued_);
    markDirty(conn);
    return true;
  }
  size_t payloadDone = 0;
  if (!conn->writeArmed) {
    iovec parts[MAX_IOV];
    int count = conn->output.gather(parts, MAX_IOV - 1);
    size_t queued = 0;
    for (int i = 0; i < count; ++i) queued += parts[i].iov_len;
    parts[count++] = {const_cast<uint8_t*>(payload), length};
    IoResult written = conn->io().writev(parts, count);
    if (written.status == IoResult::Status::FAILED) {
      closeConnection(conn);  // the peer is gone
      return false;
    }
    size_t done = written.status == IoResult::Status::OK ? written.bytes : 0;
    size_t fromQueue = std::min(done, queued);
    conn->output.consume(fromQueue, totalQueued_);
    payloadDone = done - fromQueue;
  }
  if (payloadDone < length) {
    conn->output.appendShared(SharedFrameRef(SharedFrame::copyOf(payload + payloadDone, length - payloadDone)), 0,
                              totalQueued_);
  }
  if (!conn->output.empty()) markDirty(conn);  // the flush arms EPOLLOUT for the rest
  return true;
}

void Server::queueClose(Connection* conn, uint16_t code, std::string_view reason) {
  uint8_t payload[MAX_CONTROL_PAYLOAD];
  size_t length = 0;
  // 1005 means "no code": it is answered with an empty close frame, never sent as a code.
  if (code != 0 && code != close_code::NO_STATUS && code != close_code::ABNORMAL) {
    payload[0] = static_cast<uint8_t>(code >> 8);
    payload[1] = static_cast<uint8_t>(code);
    size_t reasonLength = std::min(reason.size(), MAX_CONTROL_PAYLOAD - 2);
    if (reasonLength) std::memcpy(payload + 2, reason.data(), reasonLength);
    length = 2 + reasonLength;
  }
  queueFrame(conn, Opcode::CLOSE, payload, length);  // small: never writes, cannot fail
  conn->closeSent = true;
}

// Backpressure, the rules:
// - Per socket: a send made while the socket's queue is at or over maxBackpressure meets the policy:
//   'drop' refuses the message (DROPPED), 'close' drops the connection. One message of any size may
//   always be queued below the limit.
// - Server-wide: while all queues together hold maxTotalBackpressure or more, the policy applies to
//   the sockets holding the most (those at or above totalBudgetCutoff()); with 'close' they are
//   also dropped at the end of the turn, so the total stays within the bound plus one turn's output.
// - Read pausing: a socket whose queue reaches half of maxBackpressure is not read until it drains
//   to a quarter, and a turn reads no more from a socket than the room left below that half (its
//   answers, queued after the batch, then stay under the limit). A request/response peer that does
//   not read its answers meets TCP backpressure (its sends block) instead of growing the server or
//   being dropped.
// The user learns of a refusal by the status and gets DRAIN once the queue has emptied.
bool Server::admitOutput(Connection* conn) {
  size_t queued = conn->output.size();
  bool overSocket = options_.maxBackpressure != 0 && queued >= options_.maxBackpressure;
  bool overTotal = options_.maxTotalBackpressure != 0 && totalQueued_ >= options_.maxTotalBackpressure &&
                   queued != 0 && queued >= totalBudgetCutoff();
  if (!overSocket && !overTotal) return true;
  conn->needDrain = true;
  if (!options_.dropOnBackpressure) closeConnection(conn);  // a reader that never reads
  return false;
}

// The queue size from which a socket counts among those holding the most: the largest queues,
// taken in order, whose removal would bring the total under the bound. Computed once per turn
// and only while over the bound (a scan of the slots, which only an overloaded server pays).
size_t Server::totalBudgetCutoff() {
  if (budgetCutoff_) return budgetCutoff_;
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
    size_t cutoff = totalBudgetCutoff();
    for (auto& slot : slots_) {
      if (totalQueued_ < options_.maxTotalBackpressure) break;
      Connection* conn = slot.get();
      if (conn && conn->state != ConnState::CLOSED && !conn->output.empty() && conn->output.size() >= cutoff) {
        closeConnection(conn);
      }
    }
  }
  budgetCutoff_ = 0;  // recomputed next turn, from the queues as they are then
}

bool Server::shouldPauseReading(const Connection* conn) const {
  return options_.maxBackpressure != 0 && conn->output.size() >= options_.maxBackpressure / 2;
}

size_t Server::readRoom(const Connection* conn, size_t readThisTurn) const {
  if (options_.maxBackpressure == 0) return SIZE_MAX;
  size_t threshold = options_.maxBackpressure / 2;
  size_t used = conn->output.size() + readThisTurn;
  return used >= threshold ? 0 : threshold - used;
}

SendResult Server::send(ConnectionId id, Opcode opcode, const uint8_t* payload, size_t length, bool fin) {
  Connection* conn = lookup(id);
  if (!conn || !canSend(conn)) return {static_cast<int>(CallStatus::CLOSED), 0};
  if (!admitOutput(conn)) {
    return {static_cast<int>(conn->state == ConnState::CLOSED ? CallStatus::CLOSED : CallStatus::DROPPED), 0};
  }
  if (!queueFrame(conn, opcode, payload, length, fin)) return {static_cast<int>(CallStatus::CLOSED), 0};
  if (options_.maxBackpressure && conn->output.size() >= options_.maxBackpressure) conn->needDrain = true;
  return {static_cast<int>(CallStatus::OK), conn->output.size()};
}

int Server::close(ConnectionId id, uint16_t code, std::string_view reason) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  if (conn->state == ConnState::HANDSHAKE || conn->state == ConnState::AWAITING_ACCEPT) {
    closeConnection(conn);
    return static_cast<int>(CallStatus::OK);
  }
  if (conn->closeSent) return static_cast<int>(CallStatus::OK);  // already closing
  queueClose(conn, code, reason);
  conn->state = ConnState::CLOSING;
  setDeadline(conn, options_.closeTimeoutMs);
  return static_cast<int>(CallStatus::OK);
}

int Server::terminate(ConnectionId id) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  closeConnection(conn);
  return static_cast<int>(CallStatus::OK);
}

int64_t Server::bufferedAmount(ConnectionId id) const {
  Connection* conn = lookup(id);
  if (!conn) return -1;
  return static_cast<int64_t>(conn->output.size());
}

void Server::flush() {
  queueCloseReplies();
  // flushConnection may close connections; slots stay valid until releaseDelivered().
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Connection* conn = slots_[dirty_[i]].get();
    if (!conn) continue;
    conn->dirty = false;
    if (conn->state != ConnState::CLOSED && !conn->writeArmed) flushConnection(conn);
  }
  dirty_.clear();
  enforceTotalBudget();
}

void Server::flushConnection(Connection* conn) {
  while (!conn->output.empty()) {
    iovec parts[MAX_IOV];
    int count = conn->output.gather(parts, MAX_IOV);
    size_t wanted = 0;
    for (int i = 0; i < count; ++i) wanted += parts[i].iov_len;
    IoResult written = conn->io().writev(parts, count);
    if (written.status == IoResult::Status::WOULD_BLOCK) break;
    if (written.status == IoResult::Status::FAILED) {
      closeConnection(conn);  // EPIPE, ECONNRESET: the peer is gone
      return;
    }
    conn->output.consume(written.bytes, totalQueued_);
    if (written.bytes < wanted) break;  // the send buffer is full: wait for EPOLLOUT
  }
  bool wasArmed = conn->writeArmed;
  bool wasPaused = conn->outputPaused;
  conn->writeArmed = !conn->output.empty();
  if (!conn->writeArmed && conn->releaseOutput) {
    conn->releaseOutput = false;
    conn->output.release(totalQueued_);
  }
  if (conn->outputPaused && conn->output.size() <= options_.maxBackpressure / 4) conn->outputPaused = false;
  if (wasArmed != conn->writeArmed || wasPaused != conn->outputPaused) updateInterest(conn);
  if (conn->writeArmed) return;
  if (conn->state == ConnState::DRAINING) {
    // Our last byte is out: send FIN first, as RFC 6455 §7.1.1 asks of servers.
    conn->io().shutdownWrite();
  } else if ((wasArmed || conn->needDrain) && conn->known) {
    conn->needDrain = false;
    batch_.add(EventKind::DRAIN, conn->slot, conn->generation, 0, 0);
    noteEventQueued();
  }
}

void Server::updateInterest(Connection* conn) {
  // While an upgrade awaiting its decision has buffered too much (readPaused) only EPOLLRDHUP,
  // errors and hang-ups may wake us: a FIN then means the client left, and handleConnectionEvent
  // closes the connection at once, so the level-triggered event fires only once. While paused for
  // its output, the connection waits for EPOLLOUT alone (a FIN is read once reading resumes).
  Interest interest{!conn->readPaused && !conn->outputPaused, conn->readPaused, conn->writeArmed};
  reactor_.modify(conn->io().pollFd(), epollTag(*conn), interest);
}

void Server::beginDraining(Connection* conn) {
  conn->state = ConnState::DRAINING;
  setDeadline(conn, options_.closeTimeoutMs);
  markDirty(conn);  // the flush sends FIN once the queue is empty
}

void Server::replyClose(Connection* conn, uint16_t code, bool echoReason) {
  beginDraining(conn);  // nothing more is read
  if (conn->closeSent) return;
  conn->closeReplyPending = true;
  conn->closeReplyCode = code;
  conn->closeReplyEchoes = echoReason;
  closeReplies_.push_back(conn->slot);
}

void Server::queueCloseReplies() {
  for (uint32_t slot : closeReplies_) {
    Connection* conn = slots_[slot].get();
    if (!conn || !conn->closeReplyPending) continue;
    conn->closeReplyPending = false;
    if (conn->state != ConnState::CLOSED && !conn->closeSent) {
      queueClose(conn, conn->closeReplyCode,
                 conn->closeReplyEchoes ? conn->receivedCloseReason() : std::string_view());
    }
  }
  closeReplies_.clear();
}

void Server::emitMessage(Connection* conn, const uint8_t* data, size_t len) {
  uint32_t flags = conn->messageBinary ? MESSAGE_BINARY : 0;
  if (len < EXTERNAL_MESSAGE_MIN) {
    batch_.addCopy(EventKind::MESSAGE, conn->slot, conn->generation, data, len, flags);
  } else if (data == conn->message.data()) {
    batch_.addExternal(EventKind::MESSAGE, conn->slot, conn->generation, std::move(conn->message), flags);
  } else {
    ByteBuffer copy;
    copy.append(data, len);
    batch_.addExternal(EventKind::MESSAGE, conn->slot, conn->generation, std::move(copy), flags);
  }
}

bool FrameSink::onDataChunk(Opcode messageOpcode, uint8_t* data, size_t len, bool first, bool last,
                            bool /*compressed*/) {
  if (first) conn->messageBinary = messageOpcode == Opcode::BINARY;
  if (first && last) {
    server->emitMessage(conn, data, len);
    return false;
  }
  if (first) {
    // Size the reassembly buffer for the whole frame at once (maxPayload was checked already).
    conn->message.reserve(len + static_cast<size_t>(conn->parser.framePayloadRemaining()));
  }
  if (data == conn->message.data() + conn->message.size()) {
    conn->message.grow(len);  // read straight into the buffer (handleReadable): nothing to copy
  } else {
    conn->message.append(data, len);
  }
  if (last) {
    server->emitMessage(conn, conn->message.data(), conn->message.size());
    // Small reassembly buffers are kept for the next message; large ones went to JS or go now.
    if (conn->message.capacity() > EXTERNAL_MESSAGE_MIN) {
      conn->message.release();
    } else {
      conn->message.clear();
    }
  }
  return false;
}

bool FrameSink::onControl(Opcode op, uint8_t* payload, size_t len) {
  switch (op) {
    case Opcode::PING:
      // A ping flood from a peer that does not read must not grow the output without bound.
      if (canSend(conn) && server->admitOutput(conn)) server->queueFrame(conn, Opcode::PONG, payload, len);  // small
      if (conn->state == ConnState::CLOSED) return true;
      server->batch_.addCopy(EventKind::PING, conn->slot, conn->generation, payload, len, 0);
      return false;
    case Opcode::PONG:
      server->batch_.addCopy(EventKind::PONG, conn->slot, conn->generation, payload, len, 0);
      return false;
    case Opcode::CLOSE: {
      conn->closeReceived = true;
      if (len >= 2) {
        conn->closeCode = static_cast<uint16_t>((payload[0] << 8) | payload[1]);
        // Allocated only when there is a reason: most connections never get one.
        if (len > 2) conn->setCloseReason({reinterpret_cast<const char*>(payload) + 2, len - 2});
      } else {
        conn->closeCode = close_code::NO_STATUS;
      }
      // Echo the peer's code unless we already sent our own close (then this completes ours).
      server->replyClose(conn, conn->closeCode, true);
      return true;  // nothing after a close frame is read
    }
    default:
      return false;
  }
}

void FrameSink::onProtocolError(ErrorCode code) {
  server->batch_.add(EventKind::ERROR, conn->slot, conn->generation, 0, static_cast<uint32_t>(code));
  server->replyClose(conn, errorCloseCode(code), false);
}

}  // namespace epollws
