#include "message_assembler.h"

#include "connection.h"
#include "memory_return.h"

namespace epollws {

// Small messages are copied into the batch's shared byte area; large ones go to JS in a buffer of
// their own, without a second copy when the reassembly buffer already holds them.
void MessageAssembler::emitMessage(const uint8_t* data, size_t len) {
  uint32_t flags = conn_.messageBinary ? MESSAGE_BINARY : 0;
  if (len < EXTERNAL_MESSAGE_MIN) {
    host_.batch.addCopy(EventKind::MESSAGE, conn_.slot, conn_.generation, data, len, flags);
  } else if (data == conn_.message.data()) {
    host_.batch.addExternal(EventKind::MESSAGE, conn_.slot, conn_.generation, std::move(conn_.message), flags);
  } else {
    ByteBuffer copy;
    copy.append(data, len);
    host_.batch.addExternal(EventKind::MESSAGE, conn_.slot, conn_.generation, std::move(copy), flags);
  }
}

void MessageAssembler::finishReassembly() {
  // Small reassembly buffers are kept for the next message; large ones went to JS or go now.
  ByteBuffer& message = conn_.message;
  if (message.capacity() > EXTERNAL_MESSAGE_MIN) {
    message.release();
  } else {
    message.clear();
  }
}

void MessageAssembler::consume(uint8_t* data, size_t len) {
  conn_.parser.consume(data, len, *this);
  if (pausedAt_) conn_.deflate()->keepUnparsed(pausedAt_, static_cast<size_t>(data + len - pausedAt_));
}

void MessageAssembler::resume() {
  PerMessageDeflate* codec = conn_.deflate();
  if (!codec || !codec->stalled()) return;
  bool last = codec->stalledLast();
  size_t before = conn_.message.size();
  PerMessageDeflate::InflateStatus status =
      codec->resume(conn_.message, host_.options.maxPayload, PerMessageDeflate::INFLATE_BUDGET);
  if (afterInflate(static_cast<int>(status), before, last)) return;
  ByteBuffer rest = codec->takeUnparsed();
  if (!rest.empty()) consume(rest.data(), rest.size());
}

// The inflated size is checked against maxPayload as it grows (the parser checked the compressed
// size), and inflated text is validated as it comes: the parser cannot see it.
bool MessageAssembler::onCompressedChunk(Opcode /*messageOpcode*/, const uint8_t* data, size_t len, bool first,
                                         bool last) {
  using Status = PerMessageDeflate::InflateStatus;
  PerMessageDeflate* codec = conn_.deflate();
  if (first) codec->inflatedUtf8().reset();
  if (first && last) {
    // A whole message in one chunk (the common case) is inflated into the thread's scratch
    // buffer, so an idle connection keeps no inflate buffer of its own.
    ByteBuffer& scratch = PerMessageDeflate::inflateScratch();
    scratch.clear();
    Status status = codec->inflate(data, len, true, scratch, host_.options.maxPayload, PerMessageDeflate::INFLATE_BUDGET);
    if (status == Status::OK && !conn_.messageBinary &&
        !(codec->inflatedUtf8().feed(scratch.data(), scratch.size()) && codec->inflatedUtf8().complete())) {
      scratch.clear();
      return failInflate(ErrorCode::INVALID_UTF8);
    }
    if (status == Status::OK) {
      uint32_t flags = conn_.messageBinary ? MESSAGE_BINARY : 0;
      if (scratch.size() < EXTERNAL_MESSAGE_MIN) {
        host_.batch.addCopy(EventKind::MESSAGE, conn_.slot, conn_.generation, scratch.data(), scratch.size(), flags);
      } else {
        host_.batch.addExternal(EventKind::MESSAGE, conn_.slot, conn_.generation, std::move(scratch), flags);
      }
      PerMessageDeflate::trimScratch();
      return false;
    }
    // Paused or failed: from here on the message is the connection's own.
    conn_.message = std::move(scratch);
    bool stop = afterInflate(static_cast<int>(status), 0, last);
    if (status == Status::PAUSED) pausedAt_ = data + len;
    return stop;
  }
  ByteBuffer& message = conn_.message;
  if (first) message.clear();
  size_t before = message.size();
  Status status = codec->inflate(data, len, last, message, host_.options.maxPayload, PerMessageDeflate::INFLATE_BUDGET);
  bool stop = afterInflate(static_cast<int>(status), before, last);
  if (status == Status::PAUSED) pausedAt_ = data + len;
  return stop;
}

bool MessageAssembler::failInflate(ErrorCode error) {
  // A bomb grew this to maxPayload: count it, so that a burst of them is given back to the system.
  noteFreedMemory(conn_.message.capacity());
  conn_.message.release();
  conn_.parser.abandon();
  onProtocolError(error, 0);
  return true;  // the connection is failing: nothing more is parsed
}

bool MessageAssembler::afterInflate(int result, size_t before, bool last) {
  using Status = PerMessageDeflate::InflateStatus;
  Status status = static_cast<Status>(result);
  PerMessageDeflate* codec = conn_.deflate();
  ByteBuffer& message = conn_.message;
  ErrorCode error = ErrorCode::NONE;
  if (status == Status::TOO_BIG) {
    error = ErrorCode::UNSUPPORTED_MESSAGE_LENGTH;
  } else if (status == Status::CORRUPT) {
    error = ErrorCode::INVALID_COMPRESSED_DATA;
  } else if (!conn_.messageBinary) {
    Utf8Validator& utf8 = codec->inflatedUtf8();
    bool done = last && status == Status::OK;
    if (!utf8.feed(message.data() + before, message.size() - before) || (done && !utf8.complete())) {
      error = ErrorCode::INVALID_UTF8;
    }
  }
  if (error != ErrorCode::NONE) return failInflate(error);
  if (status == Status::PAUSED) {
    host_.owner.onInflateStalled(conn_);
    return true;  // the parser stops here; the rest waits for the next turn
  }
  if (last) {
    emitMessage(message.data(), message.size());
    finishReassembly();
  }
  return false;
}

bool MessageAssembler::onDataChunk(Opcode messageOpcode, uint8_t* data, size_t len, bool first, bool last,
                                   bool compressed) {
  if (first) conn_.messageBinary = messageOpcode == Opcode::BINARY;
  if (compressed) return onCompressedChunk(messageOpcode, data, len, first, last);
  if (first && last) {
    emitMessage(data, len);  // the common case: a whole message in one read, no reassembly
    return false;
  }
  ByteBuffer& message = conn_.message;
  if (first) {
    // Size the reassembly buffer for the whole frame at once (maxPayload was checked already).
    message.reserve(len + static_cast<size_t>(conn_.parser.framePayloadRemaining()));
  }
  if (data == message.data() + message.size()) {
    message.grow(len);  // read straight into the buffer (Connection::onReady): nothing to copy
  } else {
    message.append(data, len);
  }
  if (last) {
    emitMessage(message.data(), message.size());
    finishReassembly();
  }
  return false;
}

bool MessageAssembler::onControl(Opcode op, uint8_t* payload, size_t len) {
  switch (op) {
    case Opcode::PING:
      // A ping flood from a peer that does not read must not grow the output without bound.
      // autoPong off (ws's option): the user answers, or not.
      if (host_.options.autoPong && conn_.canSend() && conn_.admitOutput(host_)) {
        conn_.queueFrame(host_, Opcode::PONG, payload, len);  // small
      }
      if (conn_.state == ConnState::CLOSED) return true;
      host_.batch.addCopy(EventKind::PING, conn_.slot, conn_.generation, payload, len, 0);
      return false;
    case Opcode::PONG:
      host_.batch.addCopy(EventKind::PONG, conn_.slot, conn_.generation, payload, len, 0);
      return false;
    case Opcode::CLOSE: {
      conn_.closeReceived = true;
      if (len >= 2) {
        conn_.closeCode = static_cast<uint16_t>((payload[0] << 8) | payload[1]);
        // Allocated only when there is a reason: most connections never get one.
        if (len > 2) conn_.setCloseReason({reinterpret_cast<const char*>(payload) + 2, len - 2});
      } else {
        conn_.closeCode = close_code::NO_STATUS;
      }
      // Echo the peer's code unless we already sent our own close (then this completes ours).
      conn_.replyClose(host_, conn_.closeCode, true);
      return true;  // nothing after a close frame is read
    }
    default:
      return false;
  }
}

// ERROR's arg: the ErrorCode in the low byte, the detail its message names above it.
void MessageAssembler::onProtocolError(ErrorCode code, uint32_t detail) {
  host_.batch.add(EventKind::ERROR, conn_.slot, conn_.generation, 0, static_cast<uint32_t>(code) | (detail << 8));
  conn_.replyClose(host_, errorCloseCode(code), false);
}

}  // namespace epollws
