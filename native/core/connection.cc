// A connection's behaviour: the read-state switch, send/queue/flush, backpressure with read
// pausing, and the close handshake (RFC 6455 §7):
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
//
// Before OPEN: HANDSHAKE (the owner reads the request head) and AWAITING_ACCEPT (the user decides;
// what arrives meanwhile is kept, up to a bound, and parsed after the accept).
#include "connection.h"

#include <sys/epoll.h>
#include <sys/uio.h>
#include <limits.h>

#include <algorithm>
#include <cstring>

#include "clock.h"
#include "frame_writer.h"
#include "memory_return.h"
#include "tls_transport.h"

namespace epollws {
namespace {

constexpr int MAX_READS_PER_TURN = 4;  // fairness: a busy peer cannot starve the others
constexpr size_t MAX_INPUT_BEFORE_ACCEPT = 64 * 1024;
constexpr size_t DIRECT_READ_MIN = 64 * 1024;  // frames with less left go through the read buffer
// Payloads at least this large become a segment of their own instead of a copy into the tail,
// and are first offered to the kernel straight from the caller's memory (see queueFrame).
constexpr size_t LARGE_PAYLOAD_MIN = 32 * 1024;
// Segments written by one writev (Linux: 1024).
constexpr int MAX_IOV = IOV_MAX;

// Read pausing (see "Backpressure, the rules" below): paused at half of maxBackpressure.
bool shouldPauseReading(const ServerOptions& options, const Connection& conn) {
  return options.maxBackpressure != 0 && conn.output.size() >= options.maxBackpressure / 2;
}

// What a turn may still read from this connection: the room left below the pause threshold.
size_t readRoom(const ServerOptions& options, const Connection& conn, size_t readThisTurn) {
  if (options.maxBackpressure == 0) return SIZE_MAX;
  size_t threshold = options.maxBackpressure / 2;
  size_t used = conn.output.size() + readThisTurn;
  return used >= threshold ? 0 : threshold - used;
}

}  // namespace

// A connection whose peer just closed (or broke the protocol) still takes the user's sends until
// the batch that reports it has run: the echo of a message that arrived together with a close
// frame must leave before our close frame.
bool Connection::canSend() const { return (state == ConnState::OPEN || closeReplyPending) && !closeSent; }

void Connection::onReady(ConnectionHost& host, uint32_t events, uint8_t* readBuffer, size_t readBufferSize) {
  if (events & EPOLLOUT) {
    flush(host);
    if (state == ConnState::CLOSED) return;
  }
  if (readPaused && (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
    closeNow(host);  // gone while the user decides on the upgrade
    return;
  }
  // Paused for its output or by the user (it does not watch EPOLLIN): an error or hang-up means it is gone.
  if ((outputPaused || userPaused) && (events & (EPOLLHUP | EPOLLERR))) {
    closeNow(host);
    return;
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  // TLS handshakes cost far more than anything else a turn does: past the turn's budget a socket
  // still in its handshake waits (level-triggered epoll reports it again next turn), so a flood of
  // ClientHellos cannot starve the established connections.
  if (TlsTransport* tls = io().tls()) {
    if (tls->handshaking()) {
      if (host.tlsHandshakeBudget == 0) return;
      --host.tlsHandshakeBudget;
    }
  }

  size_t readThisTurn = 0;
  for (int reads = 0; reads < MAX_READS_PER_TURN; ++reads) {
    if (state == ConnState::CLOSED || readPaused || outputPaused || userPaused) return;
    if (inflateStalled()) return;  // a message is being inflated over several turns: it comes first
    if (shouldPauseReading(host.options, *this)) {
      outputPaused = true;
      updateInterest(host);
      return;
    }
    // What is read now may all be answered after the batch: read no more than the room left
    // below the pause threshold, so the answers cannot take the queue to the limit (level-
    // triggered epoll reports the rest next turn).
    size_t room = readRoom(host.options, *this, readThisTurn);
    if (room == 0) return;
    // The rest of a large frame goes straight into the message's reassembly buffer (sized from
    // the frame header): the payload is copied once, by the kernel. Reading exactly up to the
    // frame's end keeps the next frame's bytes for the normal path.
    uint8_t* buffer = readBuffer;
    size_t capacity = readBufferSize;
    // (Not for a compressed message: its buffer holds the inflated bytes.)
    if (state == ConnState::OPEN && parser.inDataPayload() && !parser.messageCompressed()) {
      uint64_t remaining = parser.framePayloadRemaining();
      size_t messageRoom = message.capacity() - message.size();
      if (remaining >= DIRECT_READ_MIN && messageRoom >= remaining) {
        buffer = message.data() + message.size();
        capacity = static_cast<size_t>(remaining);
      }
    }
    if (capacity > room) capacity = room;
    IoResult read = io().read(buffer, capacity);
    // A TLS read may have answered (handshake, alert, ticket) beyond what the kernel took.
    if (io().holdsOutput() && !writeArmed) markDirty(host);
    if (read.status == IoResult::Status::WOULD_BLOCK) return;
    if (read.status != IoResult::Status::OK) {
      // END: a FIN, after a close handshake or (1006) without one. FAILED: ECONNRESET and the like.
      closeNow(host);
      return;
    }
    size_t len = read.bytes;
    readThisTurn += len;
    lastActivityMs = host.nowMs;  // the timer wheel notices when its entry comes due
    pingSent = false;
    switch (state) {
      case ConnState::HANDSHAKE:
        host.owner.onHandshakeBytes(*this, buffer, len);
        break;
      case ConnState::OPEN:
      case ConnState::CLOSING:
        consumeFrames(host, buffer, len);
        break;
      case ConnState::DRAINING:
        break;  // everything after the close frame is discarded
      case ConnState::AWAITING_ACCEPT: {
        // Kept for after the accept. Past a bound, reading pauses until the user decides, so a
        // client cannot queue unbounded data before it is accepted.
        std::vector<uint8_t>& pending = handshake()->pendingInput;
        pending.insert(pending.end(), buffer, buffer + len);
        if (pending.size() >= MAX_INPUT_BEFORE_ACCEPT) {
          readPaused = true;
          updateInterest(host);
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

void Connection::consumeFrames(ConnectionHost& host, uint8_t* data, size_t len) {
  MessageAssembler(host, *this).consume(data, len);
}

void Connection::resumeInflate(ConnectionHost& host) {
  if (state == ConnState::OPEN || state == ConnState::CLOSING) MessageAssembler(host, *this).resume();
}

void Connection::markDirty(ConnectionHost& host) {
  if (!dirty) {
    dirty = true;
    host.dirty.push_back(slot);
  }
}

// Small frames are copied into the queue's tail (corked until the flush). A large payload is not
// worth corking: when nothing waits for EPOLLOUT, the queue and the payload go to the kernel in one
// writev now, straight from the caller's memory, and only what the kernel did not take is copied
// (once, into an exact-size segment).
bool Connection::queueFrame(ConnectionHost& host, Opcode opcode, const uint8_t* payload, size_t length, bool fin,
                            bool rsv1) {
  if (length < LARGE_PAYLOAD_MIN) {
    // The common case (small frames, a tail block with room): header and payload go straight
    // into the tail, one bounds check and one copy.
    size_t headerSize = frameHeaderSize(length);
    if (uint8_t* at = output.appendInPlace(headerSize + length, host.totalQueued)) {
      writeFrameHeader(at, opcode, length, fin, rsv1);
      if (length) std::memcpy(at + headerSize, payload, length);
    } else {
      uint8_t header[MAX_FRAME_HEADER];
      output.appendCopy(header, writeFrameHeader(header, opcode, length, fin, rsv1), host.totalQueued);
      output.appendCopy(payload, length, host.totalQueued);
    }
    markDirty(host);
    return true;
  }
  uint8_t header[MAX_FRAME_HEADER];
  output.appendCopy(header, writeFrameHeader(header, opcode, length, fin, rsv1), host.totalQueued);
  size_t payloadDone = 0;
  if (!writeArmed) {
    iovec parts[MAX_IOV];
    int count = output.gather(parts, MAX_IOV - 1);
    size_t queued = 0;
    for (int i = 0; i < count; ++i) queued += parts[i].iov_len;
    parts[count++] = {const_cast<uint8_t*>(payload), length};
    IoResult written = io().writev(parts, count);
    if (written.status == IoResult::Status::FAILED) {
      closeNow(host);  // the peer is gone
      return false;
    }
    size_t done = written.status == IoResult::Status::OK ? written.bytes : 0;
    size_t fromQueue = std::min(done, queued);
    output.consume(fromQueue, host.totalQueued);
    payloadDone = done - fromQueue;
    noteWritten(host, done);
  }
  if (payloadDone < length) {
    output.appendShared(SharedFrameRef(SharedFrame::copyOf(payload + payloadDone, length - payloadDone)), 0,
                        host.totalQueued);
  }
  if (!output.empty()) markDirty(host);  // the flush arms EPOLLOUT for the rest
  return true;
}

// Backpressure, the rules:
// - Per socket: a send made while the socket's queue is at or over maxBackpressure meets the policy:
//   'drop' refuses the message (DROPPED), 'close' drops the connection. One message of any size may
//   always be queued below the limit.
// - Server-wide: while all queues together hold maxTotalBackpressure or more, the policy applies to
//   the sockets holding the most (those at or above totalBudgetCutoff()); with 'close' they are
//   also dropped at the end of the turn (Server::enforceTotalBudget). Past the bound plus a
//   sixteenth of it, every socket holding output meets the policy, so the total stays within
//   that ceiling plus what one turn sends to sockets whose queues were empty.
// - Read pausing: a socket whose queue reaches half of maxBackpressure is not read until it drains
//   to a quarter, and a turn reads no more from a socket than the room left below that half (its
//   answers, queued after the batch, then stay under the limit). A request/response peer that does
//   not read its answers meets TCP backpressure (its sends block) instead of growing the server or
//   being dropped.
// The user learns of a refusal by the status and gets DRAIN once the queue has emptied.
bool Connection::admitOutput(ConnectionHost& host) {
  const ServerOptions& options = host.options;
  size_t queued = output.size();
  bool overSocket = options.maxBackpressure != 0 && queued >= options.maxBackpressure;
  bool overTotal = options.maxTotalBackpressure != 0 && host.totalQueued >= options.maxTotalBackpressure &&
                   queued != 0 && queued >= host.owner.totalBudgetCutoff();
  if (!overSocket && !overTotal) return true;
  needDrain = true;
  if (!options.dropOnBackpressure) closeNow(host);  // a reader that never reads
  return false;
}

SendResult Connection::send(ConnectionHost& host, Opcode opcode, const uint8_t* payload, size_t length, bool fin,
                            bool compress) {
  if (!canSend()) return {static_cast<int>(CallStatus::CLOSED), 0};
  if (!admitOutput(host)) {
    return {static_cast<int>(state == ConnState::CLOSED ? CallStatus::CLOSED : CallStatus::DROPPED), 0};
  }
  // permessage-deflate: a message's first frame decides for the whole message (RSV1 on it only).
  bool rsv1 = false;
  PerMessageDeflate* codec = deflate();
  if (codec && !isControl(opcode)) {
    if (opcode != Opcode::CONTINUATION) codec->sendingCompressed = compress && length >= codec->threshold();
    if (codec->sendingCompressed) {
      ByteBuffer& compressed = PerMessageDeflate::scratch();
      if (!codec->deflate(payload, length, fin, compressed)) {
        closeNow(host);  // zlib out of memory
        return {static_cast<int>(CallStatus::CLOSED), 0};
      }
      rsv1 = opcode != Opcode::CONTINUATION;
      payload = compressed.data();
      length = compressed.size();
    }
  }
  bool queued = queueFrame(host, opcode, payload, length, fin, rsv1);
  if (rsv1 || (codec && codec->sendingCompressed)) PerMessageDeflate::trimScratch();
  if (!queued) return {static_cast<int>(CallStatus::CLOSED), 0};
  if (!isControl(opcode)) sendFragmented = !fin;
  if (host.options.maxBackpressure && output.size() >= host.options.maxBackpressure) needDrain = true;
  return {static_cast<int>(CallStatus::OK), output.size()};
}

void Connection::flush(ConnectionHost& host) {
  // Output the transport took but the kernel did not (TLS ciphertext) goes first.
  if (output.empty() && io().holdsOutput() && io().writev(nullptr, 0).status == IoResult::Status::FAILED) {
    closeNow(host);
    return;
  }
  while (!output.empty()) {
    iovec parts[MAX_IOV];
    int count = output.gather(parts, MAX_IOV);
    size_t wanted = 0;
    for (int i = 0; i < count; ++i) wanted += parts[i].iov_len;
    IoResult written = io().writev(parts, count);
    if (written.status == IoResult::Status::WOULD_BLOCK) break;
    if (written.status == IoResult::Status::FAILED) {
      closeNow(host);  // EPIPE, ECONNRESET: the peer is gone
      return;
    }
    output.consume(written.bytes, host.totalQueued);
    noteWritten(host, written.bytes);
    if (written.bytes < wanted) break;  // the send buffer is full: wait for EPOLLOUT
  }
  bool wasArmed = writeArmed;
  bool wasPaused = outputPaused;
  writeArmed = !output.empty() || io().holdsOutput();
  if (output.empty() && releaseOutput) {
    releaseOutput = false;
    output.release(host.totalQueued);
  }
  if (outputPaused && output.size() <= host.options.maxBackpressure / 4) outputPaused = false;
  if (wasArmed != writeArmed || wasPaused != outputPaused) updateInterest(host);
  if (writeArmed) return;
  if (state == ConnState::DRAINING) {
    // Our last byte is out: send FIN first, as RFC 6455 §7.1.1 asks of servers. (Over TLS the
    // close_notify goes first; if the kernel does not take it, the FIN follows it.)
    io().shutdownWrite();
    if (io().holdsOutput()) {
      writeArmed = true;
      updateInterest(host);
    }
  } else if ((wasArmed || needDrain) && known) {
    needDrain = false;
    host.batch.add(EventKind::DRAIN, slot, generation, 0, 0);
    host.noteEventQueued();
  }
}

void Connection::updateInterest(ConnectionHost& host) {
  // While an upgrade awaiting its decision has buffered too much (readPaused) only EPOLLRDHUP,
  // errors and hang-ups may wake us: a FIN then means the client left, and onReady closes the
  // connection at once, so the level-triggered event fires only once. While paused for its
  // output, the connection waits for EPOLLOUT alone (a FIN is read once reading resumes).
  Interest interest{!readPaused && !outputPaused && !userPaused, readPaused, writeArmed};
  host.reactor.modify(io().pollFd(), epollTag(*this), interest);
  if (interest.read) checkBufferedInput(host);  // epoll will not report what TLS read ahead
}

void Connection::checkBufferedInput(ConnectionHost& host) {
  // After every ready event: the common case (no transport on the extras) is one pointer test.
  if (io().hasBufferedInput() && state != ConnState::CLOSED && !readPaused && !outputPaused && !userPaused &&
      !inflateStalled()) {
    host.owner.onInputBuffered(*this);
  }
}

void Connection::setDeadline(ConnectionHost& host, uint32_t afterMs) {
  deadlineMs = afterMs ? host.clockMs() + afterMs : 0;
  host.owner.armTimer(*this);
}

// --- The close handshake (the diagram at the top) ---

namespace {

void queueClose(ConnectionHost& host, Connection& conn, uint16_t code, std::string_view reason) {
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
  conn.queueFrame(host, Opcode::CLOSE, payload, length);  // small: never writes, cannot fail
  conn.closeSent = true;
}

}  // namespace

void Connection::startClose(ConnectionHost& host, uint16_t code, std::string_view reason) {
  if (state == ConnState::CLOSED) return;
  if (state == ConnState::HANDSHAKE || state == ConnState::AWAITING_ACCEPT) {
    closeNow(host);
    return;
  }
  if (closeSent) return;  // already closing
  queueClose(host, *this, code, reason);
  state = ConnState::CLOSING;
  setDeadline(host, host.options.closeTimeoutMs);
}

void Connection::beginDraining(ConnectionHost& host) {
  state = ConnState::DRAINING;
  setDeadline(host, host.options.closeTimeoutMs);
  markDirty(host);  // the flush sends FIN once the queue is empty
}

void Connection::replyClose(ConnectionHost& host, uint16_t code, bool echoReason) {
  beginDraining(host);  // nothing more is read
  if (closeSent) return;
  closeReplyPending = true;
  closeReplyCode = code;
  closeReplyEchoes = echoReason;
  host.closeReplies.push_back(slot);
}

void Connection::sendCloseReply(ConnectionHost& host) {
  if (!closeReplyPending) return;
  closeReplyPending = false;
  if (state != ConnState::CLOSED && !closeSent) {
    queueClose(host, *this, closeReplyCode, closeReplyEchoes ? receivedCloseReason() : std::string_view());
  }
}

void Connection::closeNow(ConnectionHost& host) {
  if (state == ConnState::CLOSED) return;
  host.reactor.remove(io().pollFd());
  io().close();
  state = ConnState::CLOSED;
  deadlineMs = 0;
  if (known) {
    // What the transport took before the end, so that the user's callbacks up to there succeed.
    if (extras && extras->progress.tracking) host.batch.addWritten(slot, generation, extras->progress.written);
    uint16_t code = closeReceived ? closeCode : close_code::ABNORMAL;
    std::string_view reason = receivedCloseReason();
    host.batch.addCopy(EventKind::CLOSE, slot, generation, reason.data(), reason.size(), code);
    host.noteEventQueued();
  }
  takeHandshake();
  noteFreedMemory(message.capacity() + output.footprint());
  message.release();
  output.release(host.totalQueued);
  outputPaused = false;
  host.owner.onConnectionClosed(*this);
}

}  // namespace epollws
