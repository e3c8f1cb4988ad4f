#include "topic_registry.h"

namespace epollws {
namespace {

// A subscriber array this much larger than its contents gives memory back (a topic that emptied
// out after a burst of subscribers); small arrays keep their room.
constexpr size_t SHRINK_MIN_CAPACITY = 64;

template <class T>
void maybeShrink(std::vector<T>& array) {
  if (array.capacity() >= SHRINK_MIN_CAPACITY && array.size() < array.capacity() / 4) array.shrink_to_fit();
}

}  // namespace

uint32_t TopicRegistry::find(std::string_view name) const {
  auto found = index_.find(name);
  return found == index_.end() ? NO_TOPIC : found->second;
}

size_t TopicRegistry::subscriberCount(std::string_view name) const {
  uint32_t topic = find(name);
  return topic == NO_TOPIC ? 0 : topics_[topic]->subscribers.size();
}

size_t TopicRegistry::subscribe(std::string_view name, uint32_t slot, MemberTopics& list) {
  if (name.size() > MAX_TOPIC_LENGTH) return 0;
  uint32_t topic = find(name);
  if (topic != NO_TOPIC) {
    for (const TopicMembership& membership : list) {
      if (membership.topic == topic) return 0;
    }
  } else {
    if (!freeIds_.empty()) {
      topic = freeIds_.back();
      freeIds_.pop_back();
    } else {
      topic = static_cast<uint32_t>(topics_.size());
      topics_.emplace_back();
    }
    topics_[topic] = std::make_unique<Topic>();
    topics_[topic]->name.assign(name.data(), name.size());
    index_.emplace(std::string_view(topics_[topic]->name), topic);
  }
  Topic& entry = *topics_[topic];
  entry.subscribers.push_back({slot, static_cast<uint32_t>(list.size())});
  list.push_back({topic, static_cast<uint32_t>(entry.subscribers.size() - 1)});
  ++subscriptions_;
  return entry.subscribers.size();
}

bool TopicRegistry::unsubscribe(std::string_view name, MemberTopics& list, size_t* countAfter) {
  uint32_t topic = find(name);
  if (topic == NO_TOPIC) return false;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].topic != topic) continue;
    size_t after = topics_[topic]->subscribers.size() - 1;
    removeAt(list, i);
    if (countAfter) *countAfter = after;
    return true;
  }
  return false;
}

bool TopicRegistry::isSubscribed(std::string_view name, const MemberTopics& list) const {
  uint32_t topic = find(name);
  if (topic == NO_TOPIC) return false;
  for (const TopicMembership& membership : list) {
    if (membership.topic == topic) return true;
  }
  return false;
}

void TopicRegistry::removeAt(MemberTopics& list, size_t i) {
  TopicMembership gone = list[i];
  Topic& entry = *topics_[gone.topic];
  // The topic's side: the last subscriber fills the hole and its socket's entry learns where.
  size_t last = entry.subscribers.size() - 1;
  if (gone.at != last) {
    Subscriber moved = entry.subscribers[last];
    entry.subscribers[gone.at] = moved;
    lists_.listOf(moved.slot)[moved.at].at = gone.at;  // another socket: a topic holds a socket once
  }
  entry.subscribers.pop_back();
  // The socket's side, likewise.
  size_t lastMembership = list.size() - 1;
  if (i != lastMembership) {
    TopicMembership moved = list[lastMembership];
    list[i] = moved;
    topics_[moved.topic]->subscribers[moved.at].at = static_cast<uint32_t>(i);
  }
  list.pop_back();
  --subscriptions_;
  if (entry.subscribers.empty()) {
    index_.erase(std::string_view(entry.name));
    topics_[gone.topic].reset();
    freeIds_.push_back(gone.topic);
  } else {
    maybeShrink(entry.subscribers);
  }
}

size_t TopicRegistry::footprint() const {
  // An unordered_map node: the key and value, the next pointer and the cached hash.
  constexpr size_t INDEX_NODE = sizeof(std::pair<const std::string_view, uint32_t>) + 2 * sizeof(void*);
  size_t bytes = topics_.capacity() * sizeof(topics_[0]) + freeIds_.capacity() * sizeof(uint32_t) +
                 index_.bucket_count() * sizeof(void*);
  for (const auto& topic : topics_) {
    if (!topic) continue;
    bytes += sizeof(Topic) + INDEX_NODE + topic->subscribers.capacity() * sizeof(Subscriber);
    if (topic->name.capacity() > 15) bytes += topic->name.capacity() + 1;  // past the inline buffer
  }
  return bytes;
}

}  // namespace epollws
