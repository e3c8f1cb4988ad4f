// An immutable, reference-counted block of framed bytes: the unit an output queue holds by
// reference. A large send is copied once into one (exact size); a published message will be framed
// once into one and referenced by every subscriber's queue. The count is not atomic: a block lives
// on one reactor thread. The block and its bytes are one allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace epollws {

class SharedFrame {
 public:
  // A block of `capacity` bytes with a count of one, for the caller to fill (size() bytes are used).
  static SharedFrame* create(size_t capacity) {
    void* memory = std::malloc(sizeof(SharedFrame) + capacity);
    if (!memory) std::abort();  // out of memory: nothing sensible to do in a reactor turn
    return new (memory) SharedFrame(capacity);
  }
  static SharedFrame* copyOf(const void* bytes, size_t length) {
    SharedFrame* frame = create(length);
    if (length) std::memcpy(frame->bytes(), bytes, length);
    frame->size_ = length;
    return frame;
  }

  void ref() { ++refs_; }
  void unref() {
    if (--refs_ == 0) {
      this->~SharedFrame();
      std::free(this);
    }
  }
  uint32_t refs() const { return refs_; }

  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  // Only the sole owner may still write into a block (an output queue's tail).
  uint8_t* grow(size_t length) {
    uint8_t* out = bytes() + size_;
    size_ += length;
    return out;
  }
  void resetSize() { size_ = 0; }

 private:
  explicit SharedFrame(size_t capacity) : capacity_(capacity) {}
  size_t size_ = 0;
  size_t capacity_;
  uint32_t refs_ = 1;
};
static_assert(sizeof(SharedFrame) % 8 == 0,
              "the bytes follow the header");

// Holds one reference; moves hand it over.
class SharedFrameRef {
 public:
  SharedFrameRef() = default;
  // Adopts the reference `frame` came with.
  explicit SharedFrameRef(SharedFrame* frame) : frame_(frame) {}
  SharedFrameRef(const SharedFrameRef& other) : frame_(other.frame_) {
    if (frame_) frame_->ref();
  }
  SharedFrameRef& operator=(const SharedFrameRef& other) {
    SharedFrameRef copy(other);
    std::swap(frame_, copy.frame_);
    return *this;
  }
  SharedFrameRef(SharedFrameRef&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  SharedFrameRef& operator=(SharedFrameRef&& other) noexcept {
    std::swap(frame_, other.frame_);
    return *this;
  }
  ~SharedFrameRef() {
    if (frame_) frame_->unref();
  }
  SharedFrame* get() const { return frame_; }
  // Hands the reference to the caller.
  SharedFrame* release() { return std::exchange(frame_, nullptr); }
  SharedFrame* operator->() const { return frame_; }
  explicit operator bool() const { return frame_ != nullptr; }

 private:
  SharedFrame* frame_ = nullptr;
};

}  // namespace epollws
