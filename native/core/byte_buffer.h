// A growable byte array that, unlike std::vector<uint8_t>, does not zero the bytes it adds:
// every append is followed by a memcpy or a direct write, so zeroing would write them twice.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace epollws {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }

  // Grows by `length` uninitialised bytes and returns where they start.
  uint8_t* grow(size_t length) {
    if (size_ + length > capacity_) growCapacity(size_ + length);
    uint8_t* out = data_ + size_;
    size_ += length;
    return out;
  }
  void append(const void* bytes, size_t length) {
    if (length) std::memcpy(grow(length), bytes, length);
  }
  void shrinkTo(size_t size) { size_ = size; }
  void reserve(size_t wanted) {
    if (wanted > capacity_) reallocate(wanted);
  }
  void clear() { size_ = 0; }
  // Drops the first `count` bytes.
  void eraseFront(size_t count) {
    std::memmove(data_, data_ + count, size_ - count);
    size_ -= count;
  }
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }
  // Hands the memory over (for external buffers); the buffer is empty afterwards.
  uint8_t* detach() {
    uint8_t* out = std::exchange(data_, nullptr);
    size_ = capacity_ = 0;
    return out;
  }

 private:
  void growCapacity(size_t wanted) {
    size_t capacity = capacity_ ? capacity_ : 256;
    while (capacity < wanted) capacity *= 2;
    reallocate(capacity);
  }
  void reallocate(size_t capacity) {
    auto* grown = static_cast<uint8_t*>(std::realloc(data_, capacity));
    if (!grown) std::abort();  // out of memory: nothing sensible to do in a reactor turn
    data_ = grown;
    capacity_ = capacity;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace epollws
