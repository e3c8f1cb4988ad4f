// Topics: which connections subscribe to which names, in dense arrays both ways, so that a publish
// walks one contiguous array and every change is O(1) (plus a scan of one socket's own short list):
//
//   names ──hash──► topic id ──► Topic { name, subscribers: [ {slot, at}, {slot, at}, ... ] }
//                                                               │    ▲
//   a socket's list (its extras): [ {topic, at}, {topic, at} ]◄─┘    │  each entry remembers where its
//                                          └────────────────────────┘  partner sits in the other array
//
// Removal swap-removes from both arrays and fixes the one entry that moved. Each subscription costs
// 16 bytes (an 8-byte entry on each side) plus the arrays' growth room; a topic with no subscriber
// is freed at once (its id is reused), so publishing to a topic nobody holds is one hash lookup.
// A socket's list lives in its on-demand extras (ConnectionExtras::topics): a socket with no
// subscription pays nothing. The registry knows slots only, not connections, so it can be tested
// and fuzzed on its own: its owner keeps the lists (TopicLists finds another socket's list when a
// swap-remove moves that socket's entry) and calls removeAll() when a connection closes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace epollws {

// One entry of a socket's list: the topic and the index of the socket's entry in its subscribers.
struct TopicMembership {
  uint32_t topic;
  uint32_t at;
};
using MemberTopics = std::vector<TopicMembership>;

// Where the registry finds a socket's list when one of its entries moved (the Server: the
// connection's extras).
class TopicLists {
 public:
  virtual MemberTopics& listOf(uint32_t slot) = 0;

 protected:
  ~TopicLists() = default;
};

class TopicRegistry {
 public:
  // Longest topic name, in bytes of UTF-8 (lib refuses longer ones with a RangeError). Names are kept
  // once per topic; the bound keeps a hostile name from costing more than a frame header does.
  static constexpr size_t MAX_TOPIC_LENGTH = 1024;
  static constexpr uint32_t NO_TOPIC = UINT32_MAX;

  // One entry of a topic's subscriber array: the socket's slot and its membership's index.
  struct Subscriber {
    uint32_t slot;
    uint32_t at;
  };

  explicit TopicRegistry(TopicLists& lists) : lists_(lists) {}
  TopicRegistry(const TopicRegistry&) = delete;
  TopicRegistry& operator=(const TopicRegistry&) = delete;

  // Adds `slot` (whose list is `list`) to the topic. Returns the topic's count after it, or 0 when
  // nothing changed (already subscribed, or the name is longer than MAX_TOPIC_LENGTH).
  size_t subscribe(std::string_view name, uint32_t slot, MemberTopics& list);
  // Removes it. Returns false when it was not subscribed; `countAfter` is then left alone.
  bool unsubscribe(std::string_view name, MemberTopics& list, size_t* countAfter = nullptr);
  bool isSubscribed(std::string_view name, const MemberTopics& list) const;
  // Ends every subscription of one socket (it closed); `onEmpty(name)` is called for each topic
  // whose last subscriber it was, before the topic is freed. The list is left empty.
  template <class OnEmpty>
  void removeAll(MemberTopics& list, OnEmpty&& onEmpty) {
    while (!list.empty()) {
      uint32_t topic = list.back().topic;
      if (topics_[topic]->subscribers.size() == 1) onEmpty(std::string_view(topics_[topic]->name));
      removeAt(list, list.size() - 1);
    }
  }

  // NO_TOPIC when nobody subscribes to `name`.
  uint32_t find(std::string_view name) const;
  size_t subscriberCount(std::string_view name) const;
  // The subscribers of a live topic id (valid until the registry next changes).
  const Subscriber* subscribers(uint32_t topic) const { return topics_[topic]->subscribers.data(); }
  size_t subscriberCount(uint32_t topic) const { return topics_[topic]->subscribers.size(); }
  std::string_view name(uint32_t topic) const { return topics_[topic]->name; }

  size_t topicCount() const { return index_.size(); }
  size_t subscriptionCount() const { return subscriptions_; }
  // Bytes the registry holds for its topics and subscriber arrays (capacities, not sizes; the
  // hash table's nodes estimated), without the sockets' own lists (see listFootprint).
  size_t footprint() const;
  static size_t listFootprint(const MemberTopics& list) { return list.capacity() * sizeof(TopicMembership); }

 private:
  struct Topic {
    std::string name;
    std::vector<Subscriber> subscribers;
  };
  // Removes list[i] from both arrays (swap-remove on each side) and frees the topic when emptied.
  void removeAt(MemberTopics& list, size_t i);

  TopicLists& lists_;
  // Topic records are held by pointer so that the index's keys (views of their names) stay put.
  std::vector<std::unique_ptr<Topic>> topics_;
  std::vector<uint32_t> freeIds_;
  std::unordered_map<std::string_view, uint32_t> index_;
  size_t subscriptions_ = 0;
};

}  // namespace epollws
