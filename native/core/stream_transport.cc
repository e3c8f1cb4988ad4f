// StreamTransport: two byte buffers and the flags a socket would hold in the kernel.
#include "stream_transport.h"

#include <algorithm>
#include <cstring>

namespace epollws {
namespace {

// What a stream's buffers keep between turns; larger ones are given back once empty.
constexpr size_t KEPT_CAPACITY = 64 * 1024;

}  // namespace

bool StreamTransport::feed(const uint8_t* bytes, size_t length) {
  if (closed_ || ended_) return false;  // a closed socket discards what still arrives
  if (inputBegin_ == input_.size()) {
    input_.clear();  // everything was read: start over at the front, keeping the capacity
    inputBegin_ = 0;
  } else if (inputBegin_ > input_.size() / 2) {
    input_.eraseFront(inputBegin_);  // mostly read: move the rest down rather than grow
    inputBegin_ = 0;
  }
  input_.append(bytes, length);
  if (input_.size() - inputBegin_ >= INPUT_HIGH) inputHeld_ = true;
  return inputHeld_;
}

bool StreamTransport::takeDelivery(ByteBuffer& out, uint8_t& flags) {
  flags = 0;
  if (!output_.empty() && (!outputPaused_ || closed_)) {
    // Large output changes hands whole (no copy, and no large buffer kept by an idle stream);
    // small output is copied so the buffer's capacity serves the next turn.
    if (output_.size() > KEPT_CAPACITY) {
      out = std::move(output_);
    } else {
      out.append(output_.data(), output_.size());
      output_.clear();
      if (output_.capacity() > KEPT_CAPACITY) output_.release();
    }
  }
  if (writeShut_ && !shutReported_) {
    shutReported_ = true;
    flags |= DELIVERY_WRITE_SHUT;
  }
  if (closed_ && !closeReported_) {
    closeReported_ = true;
    flags |= DELIVERY_CLOSED;
  }
  if (inputHeld_ && !closed_ && input_.size() - inputBegin_ <= INPUT_LOW) {
    inputHeld_ = false;
    flags |= DELIVERY_RESUME_INPUT;
  }
  return flags != 0 || !out.empty();
}

size_t StreamTransport::takeOutput(ByteBuffer& out) {
  size_t moved = output_.size();
  out.append(output_.data(), moved);
  output_.clear();
  if (output_.capacity() > KEPT_CAPACITY) output_.release();
  return moved;
}

IoResult StreamTransport::read(uint8_t* buffer, size_t capacity) {
  if (closed_) return {IoResult::Status::FAILED, 0};
  if (hasInput()) {
    size_t n = std::min(capacity, input_.size() - inputBegin_);
    std::memcpy(buffer, input_.data() + inputBegin_, n);
    inputBegin_ += n;
    if (inputBegin_ == input_.size() && input_.capacity() > KEPT_CAPACITY) {
      input_.release();  // a large message went through: an idle stream keeps no large buffer
      inputBegin_ = 0;
    }
    return {IoResult::Status::OK, n};
  }
  if (failed_) return {IoResult::Status::FAILED, 0};
  if (ended_) return {IoResult::Status::END, 0};
  return {IoResult::Status::WOULD_BLOCK, 0};
}

IoResult StreamTransport::writev(const iovec* parts, int count) {
  if (closed_ || writeShut_ || failed_) return {IoResult::Status::FAILED, 0};  // EPIPE
  if (output_.size() >= window_) return {IoResult::Status::WOULD_BLOCK, 0};
  size_t room = window_ - output_.size();
  size_t done = 0;
  for (int i = 0; i < count && room > 0; ++i) {
    size_t n = std::min(room, parts[i].iov_len);
    output_.append(parts[i].iov_base, n);
    done += n;
    room -= n;
  }
  return {IoResult::Status::OK, done};
}

void StreamTransport::close() {
  closed_ = true;
  input_.release();
  inputBegin_ = 0;
}

}  // namespace epollws
