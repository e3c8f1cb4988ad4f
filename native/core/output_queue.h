// Bytes framed for one connection and not yet taken by the kernel, as a list of segments:
//
//   [ owned block: frame frame frame ][ shared block: one large payload ][ owned tail: frame frame ]
//     ^ begin (written up to here)                                         ^ small frames append here
//
// Small frames are copied into the owned tail block (corking: one turn's frames leave in one
// write); a large payload, and later a frame published to many sockets, is a segment of its own
// held by reference (SharedFrame). The queue is written with one writev over many segments.
//
// Memory rule: blocks are never reallocated (no doubling), and a copy that does not fit the tail
// fills it and continues in a new block, so a connection holds at most its queued bytes plus one
// tail block's free room (the segment list itself is a few words per block). Written blocks are freed at once; an emptied queue
// keeps one small tail block for a busy connection, and release() leaves an idle one owning nothing.
//
// Every call that changes the queued size takes `total`, the server-wide count of queued bytes
// (maxTotalBackpressure), so the sum cannot drift from the queues.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "shared_frame.h"

namespace epollws {

class OutputQueue {
 public:
  // A new tail block holds at least this much, so small frames share blocks.
  static constexpr size_t TAIL_BLOCK = 16 * 1024;
  // An emptied queue keeps its tail block up to this size for the next turn's frames.
  static constexpr size_t KEEP_BLOCK = 16 * 1024;

  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;
  ~OutputQueue() { dropAll(); }

  // Exact bytes queued (bufferedAmount).
  size_t size() const { return queued_; }
  bool empty() const { return queued_ == 0; }
  // Memory the queue holds: its blocks (shared ones counted whole).
  size_t footprint() const;
  size_t segmentCount() const { return segments_.size(); }

  // Copies `length` bytes to the end: into the tail block's free room first, the rest into a new
  // tail block, so every block but the last is full.
  void appendCopy(const void* bytes, size_t length, size_t& total);
  // Room for `length` more bytes at the end of the tail block, counted as queued, for the caller to
  // fill at once; nullptr (nothing changed) when the tail lacks the room. Lets a small frame be
  // written straight into the queue, header and payload, with no staging copy.
  uint8_t* appendInPlace(size_t length, size_t& total) {
    if (segments_.empty() || !segments_.back().owned) return nullptr;
    SharedFrame* tail = segments_.back().block;
    if (tail->capacity() - tail->size() < length) return nullptr;
    queued_ += length;
    total += length;
    return tail->grow(length);
  }
  // Queues the bytes of `frame` by reference (from `offset` on).
  void appendShared(SharedFrameRef frame, size_t offset, size_t& total);

  // Fills `parts` with the queued bytes in order, at most `max` entries; returns the count.
  int gather(iovec* parts, int max) const;
  // Drops the first `written` bytes (what the transport took).
  void consume(size_t written, size_t& total);
  // Empties the queue and frees every block (closed connections, idle ones after the 101).
  void release(size_t& total);

 private:
  struct Segment {
    SharedFrame* block;  // one reference held
    size_t begin;        // bytes before this were written
    bool owned;          // the queue's own tail: it may still append here
  };
  void dropAll();

  std::vector<Segment> segments_;
  size_t queued_ = 0;
};

}  // namespace epollws
