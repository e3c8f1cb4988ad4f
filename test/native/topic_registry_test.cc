// The topic registry on its own: counts, swap-remove on both sides keeping every back-pointer
// right, removeAll and the topics it empties, id reuse, the name bound, and memory per
// subscription (the goal: 32 bytes or less, both sides and the arrays' room included).
#include <cstdio>
#include <string>
#include <vector>

#include "check.h"
#include "topic_check.h"

using namespace epollws;
using topiccheck::Lists;

namespace {

void countsAndChanges() {
  Lists lists(4);
  TopicRegistry registry(lists);
  CHECK_EQ(registry.subscribe("a", 0, lists.lists[0]), size_t{1});
  CHECK_EQ(registry.subscribe("a", 0, lists.lists[0]), size_t{0});  // already: no change
  CHECK_EQ(registry.subscribe("a", 1, lists.lists[1]), size_t{2});
  CHECK_EQ(registry.subscribe("b", 1, lists.lists[1]), size_t{1});
  CHECK_EQ(registry.subscriberCount("a"), size_t{2});
  CHECK_EQ(registry.subscriberCount("nobody"), size_t{0});
  CHECK(registry.find("nobody") == TopicRegistry::NO_TOPIC);
  CHECK(registry.isSubscribed("a", lists.lists[0]));
  CHECK(!registry.isSubscribed("b", lists.lists[0]));
  CHECK_EQ(registry.topicCount(), size_t{2});
  CHECK_EQ(registry.subscriptionCount(), size_t{3});
  size_t after = 99;
  CHECK(!registry.unsubscribe("b", lists.lists[0], &after));  // not subscribed
  CHECK_EQ(after, size_t{99});
  CHECK(registry.unsubscribe("a", lists.lists[0], &after));
  CHECK_EQ(after, size_t{1});
  CHECK(!registry.unsubscribe("a", lists.lists[0], &after));
  CHECK(registry.unsubscribe("b", lists.lists[1], &after));
  CHECK_EQ(after, size_t{0});
  CHECK(registry.find("b") == TopicRegistry::NO_TOPIC);  // freed with its last subscriber
  CHECK_EQ(registry.topicCount(), size_t{1});
  CHECK_EQ(topiccheck::inconsistency(registry, lists), std::string());
}

void nameBound() {
  Lists lists(1);
  TopicRegistry registry(lists);
  std::string longest(TopicRegistry::MAX_TOPIC_LENGTH, 't');
  CHECK_EQ(registry.subscribe(longest, 0, lists.lists[0]), size_t{1});
  CHECK_EQ(registry.subscribe(longest + "t", 0, lists.lists[0]), size_t{0});
  CHECK_EQ(registry.subscribe("", 0, lists.lists[0]), size_t{1});  // the empty name is a name
  CHECK_EQ(registry.subscriptionCount(), size_t{2});
  // Names are bytes: one differing only past a NUL is another topic.
  CHECK_EQ(registry.subscribe(std::string("x\0y", 3), 0, lists.lists[0]), size_t{1});
  CHECK_EQ(registry.subscriberCount(std::string("x\0z", 3)), size_t{0});
}

// Removing from the middle of both arrays moves the last entries; every pointer must follow.
void swapRemoveKeepsBackPointers() {
  const uint32_t sockets = 50;
  Lists lists(sockets);
  TopicRegistry registry(lists);
  for (uint32_t s = 0; s < sockets; ++s) {
    for (int t = 0; t < 8; ++t) registry.subscribe("topic" + std::to_string((s + t) % 12), s, lists.lists[s]);
  }
  CHECK_EQ(topiccheck::inconsistency(registry, lists), std::string());
  for (uint32_t s = 0; s < sockets; s += 3) registry.unsubscribe("topic" + std::to_string((s + 3) % 12), lists.lists[s]);
  CHECK_EQ(topiccheck::inconsistency(registry, lists), std::string());
  for (uint32_t s = 1; s < sockets; s += 2) {
    registry.removeAll(lists.lists[s], [](std::string_view) {});
    CHECK(lists.lists[s].empty());
  }
  CHECK_EQ(topiccheck::inconsistency(registry, lists), std::string());
}

void removeAllReportsEmptiedTopics() {
  Lists lists(2);
  TopicRegistry registry(lists);
  registry.subscribe("shared", 0, lists.lists[0]);
  registry.subscribe("shared", 1, lists.lists[1]);
  registry.subscribe("mine", 0, lists.lists[0]);
  registry.subscribe("also mine", 0, lists.lists[0]);
  std::vector<std::string> emptied;
  registry.removeAll(lists.lists[0], [&](std::string_view name) { emptied.emplace_back(name); });
  CHECK_EQ(emptied.size(), size_t{2});
  CHECK(emptied.size() == 2 && ((emptied[0] == "mine" && emptied[1] == "also mine") ||
                                (emptied[0] == "also mine" && emptied[1] == "mine")));
  CHECK_EQ(registry.subscriberCount("shared"), size_t{1});
  CHECK_EQ(registry.topicCount(), size_t{1});
  // Ids of freed topics are reused: churn does not grow the table.
  for (int i = 0; i < 1000; ++i) {
    std::string name = "churn" + std::to_string(i);
    registry.subscribe(name, 0, lists.lists[0]);
    registry.unsubscribe(name, lists.lists[0]);
  }
  CHECK_EQ(registry.topicCount(), size_t{1});
  CHECK(registry.footprint() < 4096);
  CHECK_EQ(topiccheck::inconsistency(registry, lists), std::string());
}

// Memory per subscription: the registry's arrays and topic records plus the sockets' lists, over
// the subscriptions they hold. 10,000 sockets in 10 topics each (100 topics of 1,000).
void memoryPerSubscription() {
  const uint32_t sockets = 10000;
  Lists lists(sockets);
  TopicRegistry registry(lists);
  for (uint32_t s = 0; s < sockets; ++s) {
    for (int t = 0; t < 10; ++t) registry.subscribe("room:" + std::to_string((s / 100 + t * 10) % 100), s, lists.lists[s]);
  }
  size_t bytes = registry.footprint();
  for (const MemberTopics& list : lists.lists) bytes += TopicRegistry::listFootprint(list);
  double perSubscription = static_cast<double>(bytes) / static_cast<double>(registry.subscriptionCount());
  std::printf("topic_registry_test: %zu subscriptions in %zu topics, %.1f bytes each (registry and lists)\n",
              registry.subscriptionCount(), registry.topicCount(), perSubscription);
  CHECK_EQ(registry.subscriptionCount(), size_t{100000});
  CHECK(perSubscription <= 32.0);
  // One subscription per socket to one big topic: the socket's one-entry list dominates.
  Lists single(sockets);
  TopicRegistry fanout(single);
  for (uint32_t s = 0; s < sockets; ++s) fanout.subscribe("ticker", s, single.lists[s]);
  bytes = fanout.footprint();
  for (const MemberTopics& list : single.lists) bytes += TopicRegistry::listFootprint(list);
  perSubscription = static_cast<double>(bytes) / sockets;
  std::printf("topic_registry_test: %u sockets in one topic, %.1f bytes each\n", sockets, perSubscription);
  CHECK(perSubscription <= 32.0);
}

}  // namespace

int main() {
  countsAndChanges();
  nameBound();
  swapRemoveKeepsBackPointers();
  removeAllReportsEmptiedTopics();
  memoryPerSubscription();
  return CHECK_SUMMARY("topic_registry_test");
}
