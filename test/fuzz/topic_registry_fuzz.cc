// libFuzzer target for the topic registry (native/core/topic_registry.*): random subscribe,
// unsubscribe, close (removeAll) and publish (walk a topic's subscribers) sequences over 16 sockets
// and 8 topic names, checked after every step against a simple model (a set of (socket, topic)
// pairs) and for the registry's own consistency (every back-pointer on both sides).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../native/topic_check.h"
#include "topic_registry.h"

using namespace epollws;

namespace {

constexpr uint32_t SOCKETS = 16;
const char* const NAMES[] = {"a", "b", "room:1", "room:2", "", "a-much-longer-topic-name-than-sso", "x", "y"};
constexpr size_t NAME_COUNT = sizeof(NAMES) / sizeof(NAMES[0]);

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "topic_registry_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  topiccheck::Lists lists(SOCKETS);
  TopicRegistry registry(lists);
  std::set<std::pair<uint32_t, std::string>> model;
  for (size_t i = 0; i + 1 < size; i += 2) {
    uint32_t socket = data[i] % SOCKETS;
    std::string name = NAMES[(data[i + 1] >> 2) % NAME_COUNT];
    auto countOf = [&](const std::string& topic) {
      size_t n = 0;
      for (const auto& entry : model) n += entry.second == topic;
      return n;
    };
    switch (data[i + 1] & 3) {
      case 0: {  // subscribe
        bool fresh = model.insert({socket, name}).second;
        size_t count = registry.subscribe(name, socket, lists.lists[socket]);
        if (fresh ? count != countOf(name) : count != 0) fail("subscribe's count");
        break;
      }
      case 1: {  // unsubscribe
        bool held = model.erase({socket, name}) == 1;
        size_t after = 999;
        if (registry.unsubscribe(name, lists.lists[socket], &after) != held) fail("unsubscribe's answer");
        if (held && after != countOf(name)) fail("unsubscribe's count");
        break;
      }
      case 2: {  // the socket closes
        std::set<std::string> emptied;
        registry.removeAll(lists.lists[socket], [&](std::string_view topic) { emptied.emplace(topic); });
        std::set<std::string> expected;
        for (auto it = model.begin(); it != model.end();) {
          if (it->first == socket) {
            std::string topic = it->second;
            it = model.erase(it);
            if (countOf(topic) == 0) expected.insert(topic);
          } else {
            ++it;
          }
        }
        if (emptied != expected) fail("removeAll's emptied topics");
        if (!lists.lists[socket].empty()) fail("removeAll left memberships");
        break;
      }
      case 3: {  // publish: the subscribers are exactly the model's
        std::set<uint32_t> want, got;
        for (const auto& entry : model) {
          if (entry.second == name) want.insert(entry.first);
        }
        uint32_t topic = registry.find(name);
        if ((topic == TopicRegistry::NO_TOPIC) != want.empty()) fail("find");
        if (topic != TopicRegistry::NO_TOPIC) {
          for (size_t k = 0; k < registry.subscriberCount(topic); ++k) got.insert(registry.subscribers(topic)[k].slot);
          if (got.size() != registry.subscriberCount(topic)) fail("a subscriber twice");
        }
        if (got != want) fail("publish's subscribers");
        if (registry.isSubscribed(name, lists.lists[socket]) != (want.count(socket) == 1)) fail("isSubscribed");
        break;
      }
    }
    std::string wrong = topiccheck::inconsistency(registry, lists);
    if (!wrong.empty()) fail(wrong.c_str());
    if (registry.subscriptionCount() != model.size()) fail("subscription count");
  }
  return 0;
}
