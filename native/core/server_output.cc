// What the server sends: frames queued by the user and by the protocol (pongs, close replies),
// the end-of-turn flush, and the close handshake. Also the frame parser's callbacks.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

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
// Sends at least this large are written at once (see sendDirect) instead of being corked.
constexpr size_t DIRECT_SEND_MIN = 32 * 1024;

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

void Server::queueFrame(Connection* conn, Opcode opcode, const uint8_t* payload, size_t length, bool fin) {
  uint8_t* out = conn->output.append(frameHeaderSize(length) + length);
  out += writeFrameHeader(out, opcode, length, fin);
  if (length) std::memcpy(out, payload, length);
  markDirty(conn);
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
  queueFrame(conn, Opcode::CLOSE, payload, length);
  conn->closeSent = true;
}

// Applies the backpressure policy before more output is queued. False: do not queue (with the
// close policy the connection is gone by then).
bool Server::admitOutput(Connection* conn) {
  if (options_.maxBackpressure == 0 || conn->output.size() < options_.maxBackpressure) return true;
  conn->needDrain = true;
  if (!options_.dropOnBackpressure) closeConnection(conn);  // a reader that never reads
  return false;
}

int Server::send(ConnectionId id, Opcode opcode, const uint8_t* payload, size_t length, bool fin) {
  Connection* conn = lookup(id);
  if (!conn || !canSend(conn)) return static_cast<int>(CallStatus::CLOSED);
  if (!admitOutput(conn)) {
    return static_cast<int>(conn->state == ConnState::CLOSED ? CallStatus::CLOSED : CallStatus::DROPPED);
  }
  if (length >= DIRECT_SEND_MIN && !conn->writeArmed) {
    if (sendDirect(conn, opcode, payload, length, fin) != static_cast<int>(CallStatus::OK)) {
      return static_cast<int>(CallStatus::CLOSED);
    }
  } else {
    queueFrame(conn, opcode, payload, length, fin);
  }
  if (options_.maxBackpressure && conn->output.size() >= options_.maxBackpressure) conn->needDrain = true;
  return static_cast<int>(CallStatus::OK);
}

// A large message skips the copy into the output queue: queued bytes, header and payload go out
// in one writev now, and only what the kernel did not take is queued. (Corking buys nothing for a
// message that fills a write by itself.)
int Server::sendDirect(Connection* conn, Opcode opcode, const uint8_t* payload, size_t length, bool fin) {
  uint8_t header[MAX_FRAME_HEADER];
  size_t headerSize = writeFrameHeader(header, opcode, length, fin);
  iovec parts[3];
  int count = 0;
  size_t queued = conn->output.size();
  if (queued) parts[count++] = {const_cast<uint8_t*>(conn->output.data()), queued};
  parts[count++] = {header, headerSize};
  parts[count++] = {const_cast<uint8_t*>(payload), length};
  ssize_t written;
  do {
    written = ::writev(conn->fd, parts, count);
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    if (errno != EAGAIN) {
      closeConnection(conn);  // the peer is gone
      return static_cast<int>(CallStatus::CLOSED);
    }
    written = 0;
  }
  size_t done = static_cast<size_t>(written);
  size_t fromQueue = done < queued ? done : queued;
  conn->output.consume(fromQueue);
  done -= fromQueue;
  if (done < headerSize) conn->output.appendCopy(header + done, headerSize - done);
  size_t payloadDone = done > headerSize ? done - headerSize : 0;
  conn->output.appendCopy(payload + payloadDone, length - payloadDone);
  if (!conn->output.empty()) markDirty(conn);  // the flush arms EPOLLOUT for the rest
  return static_cast<int>(CallStatus::OK);
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
}

void Server::flushConnection(Connection* conn) {
  while (!conn->output.empty()) {
    ssize_t n = ::send(conn->fd, conn->output.data(), conn->output.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      closeConnection(conn);  // EPIPE, ECONNRESET: the peer is gone
      return;
    }
    conn->output.consume(static_cast<size_t>(n));
  }
  bool wasArmed = conn->writeArmed;
  conn->writeArmed = !conn->output.empty();
  if (!conn->writeArmed && conn->releaseOutput) {
    conn->releaseOutput = false;
    conn->output.release();
  }
  if (wasArmed != conn->writeArmed) updateInterest(conn);
  if (conn->writeArmed) return;
  if (conn->state == ConnState::DRAINING) {
    // Our last byte is out: send FIN first, as RFC 6455 §7.1.1 asks of servers.
    ::shutdown(conn->fd, SHUT_WR);
  } else if ((wasArmed || conn->needDrain) && conn->known) {
    conn->needDrain = false;
    batch_.add(EventKind::DRAIN, conn->slot, conn->generation, 0, 0);
    noteEventQueued();
  }
}

void Server::updateInterest(Connection* conn) {
  epoll_event ev{};
  // While reading is paused (an upgrade awaiting its decision buffered too much) only EPOLLRDHUP,
  // errors and hang-ups may wake us: a FIN then means the client left, and handleConnectionEvent
  // closes the connection at once, so the level-triggered event fires only once.
  ev.events |= conn->readPaused ? EPOLLRDHUP : (EPOLLIN | EPOLLRDHUP);
  if (conn->writeArmed) ev.events |= EPOLLOUT;
  ev.data.u64 = epollTag(*conn);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, conn->fd, &ev);
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
      if (canSend(conn) && server->admitOutput(conn)) server->queueFrame(conn, Opcode::PONG, payload, len);
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
        if (len > 2) {
          const char* reason = reinterpret_cast<const char*>(payload) + 2;
          conn->closeReason = std::make_unique<std::string>(reason, len - 2);
        }
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
