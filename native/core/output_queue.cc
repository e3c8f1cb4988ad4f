#include "output_queue.h"

#include <algorithm>

namespace epollws {

size_t OutputQueue::footprint() const {
  size_t bytes = segments_.capacity() * sizeof(Segment);
  for (const Segment& segment : segments_) bytes += segment.block->capacity();
  return bytes;
}

void OutputQueue::appendCopy(const void* bytes, size_t length, size_t& total) {
  if (length == 0) return;
  queued_ += length;
  total += length;
  const uint8_t* from = static_cast<const uint8_t*>(bytes);
  if (!segments_.empty() && segments_.back().owned) {
    SharedFrame* tail = segments_.back().block;
    size_t room = std::min(tail->capacity() - tail->size(), length);
    if (room) std::memcpy(tail->grow(room), from, room);
    from += room;
    length -= room;
    if (length == 0) return;
  }
  SharedFrame* block = SharedFrame::create(std::max(TAIL_BLOCK, length));
  segments_.push_back({block, 0, true});
  std::memcpy(block->grow(length), from, length);
}

void OutputQueue::appendShared(SharedFrameRef frame, size_t offset, size_t& total) {
  size_t length = frame->size() - offset;
  if (length == 0) return;
  queued_ += length;
  total += length;
  // A frame appended after the tail closes the tail: later small frames start a new block, so
  // the order on the wire is the order of the calls.
  segments_.push_back({frame.release(), offset, false});
}

int OutputQueue::gather(iovec* parts, int max) const {
  int count = 0;
  for (const Segment& segment : segments_) {
    if (count == max) break;
    size_t length = segment.block->size() - segment.begin;
    if (length == 0) continue;  // a kept, empty tail
    parts[count++] = {const_cast<uint8_t*>(segment.block->bytes()) + segment.begin, length};
  }
  return count;
}

void OutputQueue::consume(size_t written, size_t& total) {
  queued_ -= written;
  total -= written;
  size_t done = 0;
  while (done < segments_.size()) {
    Segment& segment = segments_[done];
    size_t length = segment.block->size() - segment.begin;
    if (written < length) {
      segment.begin += written;
      break;
    }
    written -= length;
    bool last = done + 1 == segments_.size();
    if (last && segment.owned && segment.block->capacity() <= KEEP_BLOCK) {
      // The next turn's frames go here: a busy connection allocates nothing per turn.
      segment.block->resetSize();
      segment.begin = 0;
      break;
    }
    segment.block->unref();
    ++done;
  }
  if (done) segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(done));
}

void OutputQueue::release(size_t& total) {
  total -= queued_;
  queued_ = 0;
  dropAll();
  std::vector<Segment>().swap(segments_);
}

void OutputQueue::dropAll() {
  for (Segment& segment : segments_) segment.block->unref();
  segments_.clear();
}

}  // namespace epollws
