// The events of one reactor turn, in the shape the binding hands to JS in a single call:
// fixed-size records plus one byte area holding every small payload. Large messages are kept
// in their own buffers so they reach JS without a second copy.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "byte_buffer.h"

namespace epollws {

enum class EventKind : uint32_t {
  UPGRADE = 1,       // a valid upgrade request awaits accept/reject; payload: "addr\0port\0family\0rawHead"
  MESSAGE = 2,       // arg: MESSAGE_BINARY / MESSAGE_EXTERNAL flags
  PING = 3,          // payload: ping data (a pong was already queued)
  PONG = 4,          // payload: pong data
  CLOSE = 5,         // the TCP connection is gone; arg: close code (1005 none in frame, 1006 abnormal); payload: reason
  DRAIN = 6,         // the output queue emptied after it had to wait for the kernel
  ERROR = 7,         // protocol error; arg: ErrorCode. A CLOSE follows once the connection is down
  CLIENT_ERROR = 8,  // handshake refused by the core; arg: HTTP status; payload: "reason\0addr\0port"
  ACCEPT_ERROR = 9,  // accept() failed; arg: errno (reported once per condition)
  STOPPED = 10,      // not listening and the last connection is gone (a shutdown is complete)
  SUBSCRIPTION = 11, // a closing connection was a topic's last subscriber; arg: the count (0); payload: the topic
  WRITTEN = 12,      // the transport has taken this many bytes (offset: low 32 bits, arg: high); no payload
};

constexpr uint32_t MESSAGE_BINARY = 1;
constexpr uint32_t MESSAGE_EXTERNAL = 2;  // offset is an index into EventBatch::externals

struct EventRecord {
  uint32_t kind;
  uint32_t slot;
  uint32_t generation;
  uint32_t offset;
  uint32_t length;
  uint32_t arg;
};
static_assert(sizeof(EventRecord) == 24, "records are shared with JS as a Uint32Array");
constexpr size_t EVENT_RECORD_WORDS = sizeof(EventRecord) / sizeof(uint32_t);

struct EventBatch {
  std::vector<EventRecord> records;
  ByteBuffer data;
  std::vector<ByteBuffer> externals;

  // A batch this large came from a burst (a ping flood, thousands of closes at once).
  static constexpr size_t KEEP_DATA_BYTES = 1u << 20;
  static constexpr size_t KEEP_RECORDS = 64 * 1024 / EVENT_RECORD_WORDS;

  bool empty() const { return records.empty(); }
  // Gives back what a burst grew, once the batch is empty again; returns the payload bytes freed.
  size_t shrinkAfterBurst() {
    size_t freed = 0;
    if (data.capacity() > KEEP_DATA_BYTES) {
      freed = data.capacity();
      data.release();
    }
    if (records.capacity() > KEEP_RECORDS) std::vector<EventRecord>().swap(records);
    if (externals.capacity() > KEEP_RECORDS) std::vector<ByteBuffer>().swap(externals);
    return freed;
  }
  void clear() {
    records.clear();
    data.clear();
    externals.clear();
  }
  // Appends a record whose payload is `length` bytes in `data`; returns where to write them.
  uint8_t* add(EventKind kind, uint32_t slot, uint32_t generation, uint32_t length, uint32_t arg) {
    uint32_t offset = static_cast<uint32_t>(data.size());
    uint8_t* out = data.grow(length);
    records.push_back({static_cast<uint32_t>(kind), slot, generation, offset, length, arg});
    return out;
  }
  void addCopy(EventKind kind, uint32_t slot, uint32_t generation, const void* bytes, size_t length,
               uint32_t arg) {
    uint8_t* out = add(kind, slot, generation, static_cast<uint32_t>(length), arg);
    if (length) std::memcpy(out, bytes, length);
  }
  // WRITTEN: a count of bytes, no payload (length 0, offset holds the count's low word).
  void addWritten(uint32_t slot, uint32_t generation, uint64_t written) {
    records.push_back({static_cast<uint32_t>(EventKind::WRITTEN), slot, generation, static_cast<uint32_t>(written),
                       0, static_cast<uint32_t>(written >> 32)});
  }
  void addExternal(EventKind kind, uint32_t slot, uint32_t generation, ByteBuffer&& bytes, uint32_t arg) {
    uint32_t length = static_cast<uint32_t>(bytes.size());
    externals.push_back(std::move(bytes));
    records.push_back({static_cast<uint32_t>(kind), slot, generation,
                       static_cast<uint32_t>(externals.size() - 1), length, arg | MESSAGE_EXTERNAL});
  }
};

}  // namespace epollws
