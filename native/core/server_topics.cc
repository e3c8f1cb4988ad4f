// Topics on the server: the user's subscribe/unsubscribe calls, the end of a closed connection's
// subscriptions, and publish: one frame for every subscriber.
//
// A publish frames the message once. Frames of PUBLISH_SHARE_MIN bytes and more become one
// immutable SharedFrame that every subscriber's queue references (one copy of the payload in
// all, whatever the count: a 16 MiB message to 1,000 sockets holds 16 MiB); smaller ones are
// copied into each queue's corked tail block, which costs less than a reference would: a shared
// segment closes the queue's tail, so the next small send or publish to that socket would start
// a new block, and each reference is one more iovec for the socket's writev (measured: README,
// "Topics"). Either way the frame lands in the queue in call order with the socket's sends,
// and each subscriber's backpressure policy applies to that subscriber alone.
//
// permessage-deflate (a publish with `compress`, to subscribers that negotiated it, at or over
// their threshold):
// - without server context takeover, a subscriber's compressor starts empty for every message,
//   so the compressed bytes depend only on the message, the window size the subscriber agreed on
//   and the server-wide level/memLevel/strategy: the message is deflated once per window size
//   (at most 7: 9..15) and that one RSV1 frame is shared exactly like the plain one;
// - with server context takeover, the subscriber's window holds its own history, so it gets the
//   message deflated by its own stream (as its send() would: one deflate per such subscriber;
//   README "Topics" has the cost, and perMessageDeflate.serverNoContextTakeover avoids it).
// The plain frame is built (once) only if some subscriber takes it uncompressed.
#include <cstring>

#include "frame_writer.h"
#include "permessage_deflate.h"
#include "server.h"

namespace epollws {
namespace {

// Frames at least this large are shared by reference rather than copied into every queue.
constexpr size_t PUBLISH_SHARE_MIN = 2 * 1024;

// Window sizes a server compressor may use (9..15; a negotiated 8 is deflated with 9).
constexpr int MIN_WINDOW_BITS = 9;
constexpr int WINDOW_SIZES = 15 - MIN_WINDOW_BITS + 1;
constexpr size_t DEFLATED_KEPT = 256 * 1024;  // what a reused buffer keeps after a large publish

// One publish's compressed frame for one window size, built the first time a subscriber needs it.
struct DeflatedFrame {
  enum class State { NONE, BUILT, FAILED } state = State::NONE;
  uint8_t header[MAX_FRAME_HEADER];
  size_t headerLength = 0;
  SharedFrameRef shared;  // large ones; small ones are copied from the thread's payload buffer
};

// The compressed payloads of the publish in progress, one per window size: reused from publish to
// publish (a Server runs on one thread), so a small compressed publish allocates nothing.
thread_local ByteBuffer deflatedPayloads[WINDOW_SIZES];

int windowIndex(const PerMessageDeflate& codec) {
  int bits = codec.params().serverMaxWindowBits;
  if (bits < MIN_WINDOW_BITS) bits = MIN_WINDOW_BITS;
  return bits - MIN_WINDOW_BITS;
}

}  // namespace

// A frame being published: its bytes (a header and a payload, either may be empty), and the
// shared block holding both when it is large.
struct Server::OutgoingFrame {
  const uint8_t* header;
  size_t headerLength;
  const uint8_t* payload;
  size_t payloadLength;
  SharedFrame* shared;  // nullptr: copy header + payload into each queue
};

size_t Server::subscribe(ConnectionId id, std::string_view topic) {
  Connection* conn = lookup(id);
  if (!conn || !conn->canSend() || topic.size() > TopicRegistry::MAX_TOPIC_LENGTH) return 0;
  MemberTopics& list = conn->ensureExtras().topics;
  size_t count = topics_.subscribe(topic, conn->slot, list);
  if (list.empty() && conn->extras->empty()) conn->extras.reset();  // nothing changed: own nothing
  return count;
}

bool Server::unsubscribe(ConnectionId id, std::string_view topic, size_t* countAfter) {
  Connection* conn = lookup(id);
  if (!conn || !conn->extras || conn->extras->topics.empty()) return false;
  if (!topics_.unsubscribe(topic, conn->extras->topics, countAfter)) return false;
  if (conn->extras->topics.empty()) {
    MemberTopics().swap(conn->extras->topics);  // a socket with no subscription owns nothing for them
    if (conn->extras->empty()) conn->extras.reset();
  }
  return true;
}

bool Server::isSubscribed(ConnectionId id, std::string_view topic) const {
  Connection* conn = lookup(id);
  return conn && conn->extras && topics_.isSubscribed(topic, conn->extras->topics);
}

void Server::subscriptions(ConnectionId id, std::vector<std::string_view>& out) const {
  Connection* conn = lookup(id);
  if (!conn || !conn->extras) return;
  for (const TopicMembership& membership : conn->extras->topics) out.push_back(topics_.name(membership.topic));
}

// From onConnectionClosed: the registry forgets the connection before its slot can be reused, so
// a publish never reaches a closed socket. A topic left with nobody is reported after the CLOSE.
void Server::endSubscriptions(Connection& conn) {
  if (!conn.extras || conn.extras->topics.empty()) return;
  bool reported = false;
  topics_.removeAll(conn.extras->topics, [&](std::string_view topic) {
    batch_.addCopy(EventKind::SUBSCRIPTION, conn.slot, conn.generation, topic.data(), topic.size(), 0);
    reported = true;
  });
  MemberTopics().swap(conn.extras->topics);
  if (reported) noteEventQueued();
}

// Whether `conn` takes a publish now; a refusal is counted. Checked before the frame is chosen: a
// subscriber with context takeover must not deflate a message it will not send (its window would
// no longer match the client's).
static bool admitPublished(Connection* conn, ConnectionHost& host, Server::PublishResult& result) {
  if (!conn->canSend()) return false;  // closing: like a send, nothing is queued or counted
  if (conn->sendFragmented) {
    ++result.refused;  // a data frame now would break the message the user has not finished
    return false;
  }
  if (!conn->admitOutput(host)) {  // 'drop': skipped; 'close': dropped (it leaves the topic)
    ++result.refused;
    return false;
  }
  return true;
}

bool Server::queuePublished(Connection* conn, const OutgoingFrame& frame, PublishResult& result) {
  if (!admitPublished(conn, host_, result)) return false;
  appendPublished(conn, frame, result);
  return true;
}

void Server::appendPublished(Connection* conn, const OutgoingFrame& frame, PublishResult& result) {
  if (frame.shared) {
    frame.shared->ref();
    conn->output.appendShared(SharedFrameRef(frame.shared), 0, totalQueued_);
  } else {
    conn->output.appendCopy(frame.header, frame.headerLength, totalQueued_);
    conn->output.appendCopy(frame.payload, frame.payloadLength, totalQueued_);
  }
  markDirty(conn);
  if (options_.maxBackpressure && conn->output.size() >= options_.maxBackpressure) conn->needDrain = true;
  ++result.queued;
}

Server::PublishResult Server::publish(std::string_view topic, Opcode opcode, const uint8_t* payload, size_t length,
                                      const ConnectionId* except, bool compress) {
  PublishResult result;
  ++publishStats_.publishes;
  uint32_t id = topics_.find(topic);
  if (id == TopicRegistry::NO_TOPIC) return result;  // nobody holds it: one hash lookup
  // The subscribers are copied first: a socket the 'close' policy drops leaves the topic (and may
  // free it) while the loop runs.
  const TopicRegistry::Subscriber* subscribers = topics_.subscribers(id);
  size_t count = topics_.subscriberCount(id);
  publishTargets_.resize(count);
  for (size_t i = 0; i < count; ++i) publishTargets_[i] = subscribers[i].slot;
  uint32_t exceptSlot = UINT32_MAX;
  if (Connection* excluded = except ? lookup(*except) : nullptr) exceptSlot = excluded->slot;

  uint8_t header[MAX_FRAME_HEADER];
  size_t headerLength = writeFrameHeader(header, opcode, length);
  OutgoingFrame plain{header, headerLength, payload, length, nullptr};
  SharedFrameRef plainShared;
  bool sharePlain = headerLength + length >= PUBLISH_SHARE_MIN && count > (exceptSlot == UINT32_MAX ? 0u : 1u);
  DeflatedFrame deflated[WINDOW_SIZES];
  bool deflatedAny = false;
  uint64_t deflates = 0;

  for (uint32_t slot : publishTargets_) {
    if (slot == exceptSlot) continue;
    Connection* conn = slots_[slot].get();
    if (!conn || conn->state == ConnState::CLOSED || !admitPublished(conn, host_, result)) continue;
    PerMessageDeflate* codec = compress ? conn->deflate() : nullptr;
    if (codec && length >= codec->threshold()) {
      if (!codec->params().serverNoContextTakeover) {
        // Its own stream, its own history: deflated for this subscriber alone.
        ByteBuffer& own = PerMessageDeflate::scratch();
        ++deflates;
        if (!codec->deflate(payload, length, true, own)) {
          conn->closeNow(host_);  // zlib out of memory, as in send()
          ++result.refused;
          continue;
        }
        uint8_t ownHeader[MAX_FRAME_HEADER];
        size_t ownHeaderLength = writeFrameHeader(ownHeader, opcode, own.size(), true, true);
        appendPublished(conn, OutgoingFrame{ownHeader, ownHeaderLength, own.data(), own.size(), nullptr}, result);
        PerMessageDeflate::trimScratch();
        continue;
      }
      int index = windowIndex(*codec);
      DeflatedFrame& frame = deflated[index];
      ByteBuffer& bytes = deflatedPayloads[index];
      if (frame.state == DeflatedFrame::State::NONE) {
        // This codec's stream starts empty and keeps nothing: its output is every such subscriber's.
        ++deflates;
        deflatedAny = true;
        frame.state = codec->deflate(payload, length, true, bytes) ? DeflatedFrame::State::BUILT
                                                                    : DeflatedFrame::State::FAILED;
        if (frame.state == DeflatedFrame::State::BUILT) {
          frame.headerLength = writeFrameHeader(frame.header, opcode, bytes.size(), true, true);
          if (frame.headerLength + bytes.size() >= PUBLISH_SHARE_MIN) {
            frame.shared = SharedFrameRef(SharedFrame::create(frame.headerLength + bytes.size()));
            std::memcpy(frame.shared->grow(frame.headerLength), frame.header, frame.headerLength);
            std::memcpy(frame.shared->grow(bytes.size()), bytes.data(), bytes.size());
          }
        }
      }
      if (frame.state == DeflatedFrame::State::BUILT) {  // FAILED (zlib out of memory): plain is valid too
        appendPublished(conn, OutgoingFrame{frame.header, frame.headerLength, bytes.data(), bytes.size(),
                                            frame.shared.get()},
                        result);
        continue;
      }
    }
    if (sharePlain && !plain.shared) {
      plainShared = SharedFrameRef(SharedFrame::create(headerLength + length));
      std::memcpy(plainShared->grow(headerLength), header, headerLength);
      if (length) std::memcpy(plainShared->grow(length), payload, length);
      plain.shared = plainShared.get();
    }
    appendPublished(conn, plain, result);
  }
  if (deflatedAny) {
    for (ByteBuffer& bytes : deflatedPayloads) {
      if (bytes.capacity() > DEFLATED_KEPT) bytes.release();
    }
  }
  publishStats_.queued += result.queued;
  publishStats_.refused += result.refused;
  publishStats_.deflates += deflates;
  return result;
}

Server::PublishResult Server::publishFrame(const uint8_t* bytes, size_t length, const ConnectionId* ids,
                                           size_t count) {
  PublishResult result;
  ++publishStats_.publishes;
  OutgoingFrame frame{bytes, length, nullptr, 0, nullptr};
  SharedFrameRef shared;
  if (length >= PUBLISH_SHARE_MIN && count > 1) {
    shared = SharedFrameRef(SharedFrame::copyOf(bytes, length));
    frame.shared = shared.get();
  }
  for (size_t i = 0; i < count; ++i) {
    Connection* conn = lookup(ids[i]);
    if (conn && conn->state != ConnState::CLOSED) queuePublished(conn, frame, result);
  }
  publishStats_.queued += result.queued;
  publishStats_.refused += result.refused;
  return result;
}

}  // namespace epollws
