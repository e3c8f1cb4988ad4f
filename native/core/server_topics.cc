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
#include <cstring>

#include "frame_writer.h"
#include "server.h"

namespace epollws {
namespace {

// Frames at least this large are shared by reference rather than copied into every queue.
constexpr size_t PUBLISH_SHARE_MIN = 2 * 1024;

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

bool Server::queuePublished(Connection* conn, const OutgoingFrame& frame, PublishResult& result) {
  if (!conn->canSend()) return false;  // closing: like a send, nothing is queued or counted
  if (conn->sendFragmented) {
    ++result.refused;  // a data frame now would break the message the user has not finished
    return false;
  }
  if (!conn->admitOutput(host_)) {  // 'drop': skipped; 'close': dropped (it leaves the topic)
    ++result.refused;
    return false;
  }
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
  return true;
}

Server::PublishResult Server::publish(std::string_view topic, Opcode opcode, const uint8_t* payload, size_t length,
                                      const ConnectionId* except) {
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
  OutgoingFrame frame{header, headerLength, payload, length, nullptr};
  SharedFrameRef shared;
  if (headerLength + length >= PUBLISH_SHARE_MIN && count > (exceptSlot == UINT32_MAX ? 0u : 1u)) {
    shared = SharedFrameRef(SharedFrame::create(headerLength + length));
    std::memcpy(shared->grow(headerLength), header, headerLength);
    if (length) std::memcpy(shared->grow(length), payload, length);
    frame.shared = shared.get();
  }
  for (uint32_t slot : publishTargets_) {
    if (slot == exceptSlot) continue;
    Connection* conn = slots_[slot].get();
    if (conn && conn->state != ConnState::CLOSED) queuePublished(conn, frame, result);
  }
  publishStats_.queued += result.queued;
  publishStats_.refused += result.refused;
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
