// Shared by the topic registry's unit test and its fuzzer: the sockets' lists kept in a vector
// (the registry's TopicLists), and a full consistency check of both sides of the registry.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "topic_registry.h"

namespace topiccheck {

using namespace epollws;

struct Lists : TopicLists {
  std::vector<MemberTopics> lists;
  explicit Lists(size_t sockets) : lists(sockets) {}
  MemberTopics& listOf(uint32_t slot) override { return lists[slot]; }
};

// Every membership points at the subscriber entry that points back at it; the counts agree, so the
// two sides are one bijection. Returns an empty string or what is wrong.
inline std::string inconsistency(const TopicRegistry& registry, const Lists& lists) {
  size_t memberships = 0;
  std::set<uint32_t> topics;
  for (uint32_t slot = 0; slot < lists.lists.size(); ++slot) {
    const MemberTopics& list = lists.lists[slot];
    std::set<uint32_t> seen;
    for (uint32_t i = 0; i < list.size(); ++i) {
      const TopicMembership& m = list[i];
      if (!seen.insert(m.topic).second) return "a socket holds a topic twice";
      if (m.at >= registry.subscriberCount(m.topic)) return "membership index out of range";
      const TopicRegistry::Subscriber& s = registry.subscribers(m.topic)[m.at];
      if (s.slot != slot || s.at != i) return "subscriber entry does not point back";
      if (registry.find(registry.name(m.topic)) != m.topic) return "name does not find its topic";
      topics.insert(m.topic);
      ++memberships;
    }
  }
  if (memberships != registry.subscriptionCount()) return "subscription count differs";
  if (topics.size() != registry.topicCount()) return "a topic without subscribers is kept";
  size_t sum = 0;
  for (uint32_t topic : topics) sum += registry.subscriberCount(topic);
  if (sum != memberships) return "subscriber arrays hold entries no socket knows";
  return "";
}

}  // namespace topiccheck
