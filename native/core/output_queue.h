// Bytes framed for one connection and not yet taken by the kernel. Sends append here (corked);
// the server writes the queue once per turn. Memory is given back once the queue empties, so an
// idle connection owns no buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include "byte_buffer.h"

namespace epollws {

class OutputQueue {
 public:
  size_t size() const { return bytes_.size() - head_; }
  bool empty() const { return head_ == bytes_.size(); }
  const uint8_t* data() const { return bytes_.data() + head_; }
  size_t capacity() const { return bytes_.capacity(); }

  // Reserves `length` bytes at the end and returns where to write them.
  uint8_t* append(size_t length) {
    if (head_ > 0 && head_ >= bytes_.size() / 2) compact();
    return bytes_.grow(length);
  }
  void appendCopy(const void* bytes, size_t length) {
    if (length) std::memcpy(append(length), bytes, length);
  }

  void consume(size_t written) {
    head_ += written;
    if (head_ == bytes_.size()) clear();
  }
  void clear() {
    head_ = 0;
    // Keep a small buffer for busy connections; give large ones back so idle sockets stay cheap.
    if (bytes_.capacity() > KEEP_CAPACITY) {
      bytes_.release();
    } else {
      bytes_.clear();
    }
  }
  void release() {
    head_ = 0;
    bytes_.release();
  }

 private:
  static constexpr size_t KEEP_CAPACITY = 16 * 1024;
  void compact() {
    bytes_.eraseFront(head_);
    head_ = 0;
  }
  ByteBuffer bytes_;
  size_t head_ = 0;
};

}  // namespace epollws
