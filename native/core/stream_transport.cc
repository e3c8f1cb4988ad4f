// StreamTransport: two byte buffers and the flags a socket would hold in the kernel.
#include "stream_transport.h"

#include <algorithm>
#include <cstring>

namespace epollws {

void StreamTransport::feed(const uint8_t* bytes, size_t length) {
  if (closed_ || ended_) return;  // a closed socket discards what still arrives
  if (inputBegin_ == input_.size()) {
    input_.clear();  // everything was read: start over at the front, keeping the capacity
    inputBegin_ = 0;
  }
  input_.append(bytes, length);
}

size_t StreamTransport::takeOutput(ByteBuffer& out) {
  size_t moved = output_.size();
  out.append(output_.data(), moved);
  output_.clear();
  return moved;
}

IoResult StreamTransport::read(uint8_t* buffer, size_t capacity) {
  if (closed_) return {IoResult::Status::FAILED, 0};
  if (hasInput()) {
    size_t n = std::min(capacity, input_.size() - inputBegin_);
    std::memcpy(buffer, input_.data() + inputBegin_, n);
    inputBegin_ += n;
    return {IoResult::Status::OK, n};
  }
  if (ended_) return {IoResult::Status::END, 0};
  return {IoResult::Status::WOULD_BLOCK, 0};
}

IoResult StreamTransport::writev(const iovec* parts, int count) {
  if (closed_ || writeShut_) return {IoResult::Status::FAILED, 0};  // EPIPE
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
