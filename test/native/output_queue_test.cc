// The segmented output queue alone: order across owned and shared segments, partial writes at
// every offset, reference counts, the no-doubling memory bound, and the server-wide total.
#include <sys/socket.h>
#include <sys/uio.h>
#include <limits.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "check.h"
#include "output_queue.h"
#include "transport.h"

using namespace epollws;

namespace {

std::string gathered(const OutputQueue& queue) {
  iovec parts[64];
  int count = queue.gather(parts, 64);
  std::string out;
  for (int i = 0; i < count; ++i) out.append(static_cast<const char*>(parts[i].iov_base), parts[i].iov_len);
  return out;
}

void testOrderAcrossSegments() {
  size_t total = 0;
  OutputQueue queue;
  queue.appendCopy("ab", 2, total);
  SharedFrameRef large(SharedFrame::copyOf("LARGE", 5));
  queue.appendShared(large, 0, total);  // the test keeps its own reference
  queue.appendCopy("cd", 2, total);     // after a shared segment: a new tail, never before it
  CHECK_EQ(gathered(queue), std::string("abLARGEcd"));
  CHECK_EQ(queue.size(), 9u);
  CHECK_EQ(total, 9u);
  CHECK_EQ(large->refs(), 2u);
  CHECK_EQ(queue.segmentCount(), 3u);
  queue.release(total);
  CHECK_EQ(total, 0u);
  CHECK_EQ(large->refs(), 1u);  // the queue gave its reference back
}

// Every split of a write: what remains is exactly the unwritten suffix, and the totals agree.
void testPartialConsumeAtEveryOffset() {
  const std::string expected = "head" "shared-payload" "tail";
  for (size_t cut = 0; cut <= expected.size(); ++cut) {
    size_t total = 0;
    OutputQueue queue;
    queue.appendCopy("head", 4, total);
    queue.appendShared(SharedFrameRef(SharedFrame::copyOf("shared-payload", 14)), 0, total);
    queue.appendCopy("tail", 4, total);
    queue.consume(cut, total);
    CHECK_EQ(gathered(queue), expected.substr(cut));
    CHECK_EQ(queue.size(), expected.size() - cut);
    CHECK_EQ(total, expected.size() - cut);
    CHECK_EQ(queue.empty(), cut == expected.size());
    queue.release(total);
  }
}

// The old queue doubled a contiguous buffer: 70 MiB queued could hold 128 MiB. Blocks are never
// reallocated now, so the memory held stays within the bytes queued plus one tail block.
void testNoDoublingBound() {
  size_t total = 0;
  OutputQueue queue;
  std::string frame(1000, 'x');
  size_t queued = 0;
  while (queued < 8 * 1024 * 1024) {
    queue.appendCopy(frame.data(), frame.size(), total);
    queued += frame.size();
    size_t slack = OutputQueue::TAIL_BLOCK + queue.segmentCount() * 64;  // one block + the list
    CHECK(queue.footprint() <= queued + slack);
    if (queue.footprint() > queued + slack) break;
  }
  CHECK_EQ(queue.size(), queued);
  // A large payload takes an exact-size segment, not a doubled one.
  std::string big(3 * 1024 * 1024 + 7, 'y');
  size_t before = queue.footprint();
  queue.appendShared(SharedFrameRef(SharedFrame::copyOf(big.data(), big.size())), 0, total);
  CHECK(queue.footprint() - before <= big.size() + 64);
  queue.release(total);
  CHECK_EQ(queue.footprint(), 0u);
}

// Emptied by a complete write, a small tail block is kept for the next turn; release() frees all.
void testTailReuse() {
  size_t total = 0;
  OutputQueue queue;
  queue.appendCopy("hello", 5, total);
  size_t held = queue.footprint();
  queue.consume(5, total);
  CHECK(queue.empty());
  CHECK_EQ(queue.footprint(), held);
  CHECK_EQ(gathered(queue), std::string());
  queue.appendCopy("again", 5, total);
  CHECK_EQ(queue.footprint(), held);  // no allocation for the next turn's frame
  CHECK_EQ(gathered(queue), std::string("again"));
  queue.release(total);
  CHECK_EQ(queue.footprint(), 0u);
}

// appendInPlace: room in the tail or nothing at all (never a partial reservation), counted as queued.
void testAppendInPlace() {
  size_t total = 0;
  OutputQueue queue;
  CHECK(queue.appendInPlace(4, total) == nullptr);  // no tail yet
  CHECK_EQ(total, 0u);
  queue.appendCopy("ab", 2, total);
  uint8_t* at = queue.appendInPlace(3, total);
  CHECK(at != nullptr);
  std::memcpy(at, "cde", 3);
  CHECK_EQ(gathered(queue), std::string("abcde"));
  CHECK_EQ(queue.size(), 5u);
  CHECK_EQ(total, 5u);
  size_t room = OutputQueue::TAIL_BLOCK - queue.size();  // one tail block so far
  CHECK(queue.appendInPlace(room + 1, total) == nullptr);  // would not fit: the queue is unchanged
  CHECK_EQ(queue.size(), 5u);
  CHECK(queue.appendInPlace(room, total) != nullptr);      // exactly fits
  CHECK_EQ(queue.size(), 5u + room);
  SharedFrameRef large(SharedFrame::copyOf("L", 1));
  queue.appendShared(large, 0, total);
  CHECK(queue.appendInPlace(1, total) == nullptr);  // after a shared segment there is no tail to write into
  queue.release(total);
  CHECK_EQ(total, 0u);
}

// One shared block referenced by many queues (a published frame): each write consumes its own view.
void testSharedBlockAcrossQueues() {
  size_t total = 0;
  SharedFrameRef frame(SharedFrame::copyOf("published", 9));
  {
    OutputQueue a, b;
    a.appendShared(frame, 0, total);
    b.appendShared(frame, 0, total);
    CHECK_EQ(frame->refs(), 3u);
    a.consume(4, total);
    CHECK_EQ(gathered(a), std::string("ished"));
    CHECK_EQ(gathered(b), std::string("published"));
    a.consume(5, total);
    CHECK_EQ(frame->refs(), 2u);
    CHECK_EQ(total, 9u);
    b.release(total);
  }
  CHECK_EQ(frame->refs(), 1u);
  CHECK_EQ(total, 0u);
}

// Through a real socket pair with a small send buffer: writev takes part of a multi-segment queue.
void testPartialWritevThroughTransport() {
  int pair[2];
  CHECK_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
  int small = 4096;
  ::setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  FdTransport writer(pair[0]);
  FdTransport reader(pair[1]);
  size_t total = 0;
  OutputQueue queue;
  std::string expected;
  for (int i = 0; i < 40; ++i) {
    std::string chunk(5000, static_cast<char>('a' + i % 26));
    if (i % 3 == 0) {
      queue.appendShared(SharedFrameRef(SharedFrame::copyOf(chunk.data(), chunk.size())), 0, total);
    } else {
      queue.appendCopy(chunk.data(), chunk.size(), total);
    }
    expected += chunk;
  }
  std::string received;
  int partial = 0;
  for (int round = 0; round < 10000 && !queue.empty(); ++round) {
    iovec parts[IOV_MAX];
    int count = queue.gather(parts, IOV_MAX);
    IoResult written = writer.writev(parts, count);
    if (written.status == IoResult::Status::OK) {
      if (written.bytes < queue.size()) ++partial;
      queue.consume(written.bytes, total);
    }
    uint8_t buffer[8192];
    IoResult read;
    while ((read = reader.read(buffer, sizeof buffer)).status == IoResult::Status::OK) {
      received.append(reinterpret_cast<char*>(buffer), read.bytes);
    }
  }
  uint8_t buffer[8192];
  IoResult read;
  while ((read = reader.read(buffer, sizeof buffer)).status == IoResult::Status::OK) {
    received.append(reinterpret_cast<char*>(buffer), read.bytes);
  }
  CHECK(partial > 0);
  CHECK_EQ(received.size(), expected.size());
  CHECK(received == expected);
  CHECK_EQ(total, 0u);
}

}  // namespace

int main() {
  testOrderAcrossSegments();
  testPartialConsumeAtEveryOffset();
  testNoDoublingBound();
  testTailReuse();
  testAppendInPlace();
  testSharedBlockAcrossQueues();
  testPartialWritevThroughTransport();
  return CHECK_SUMMARY("output_queue_test");
}
