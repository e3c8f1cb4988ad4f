// TimerWheel: entries fire on the first tick at or after their due time, lazily rescheduled entries
// fire again, and a burst does not pin its storage once it has fired.
#include <cstdint>
#include <vector>

#include "check.h"
#include "timer_wheel.h"

using namespace epollws;

namespace {

constexpr uint64_t START_MS = 1'000'000;

void testFiresInOrder() {
  TimerWheel wheel(START_MS);
  wheel.schedule({1, 1, START_MS + 250});
  wheel.schedule({2, 1, START_MS + 50});
  wheel.schedule({3, 1, START_MS - 10});  // already due: the next tick
  CHECK_EQ(wheel.size(), size_t{3});
  CHECK_EQ(wheel.msUntilNextTick(START_MS), int64_t{100});
  std::vector<uint32_t> fired;
  auto fire = [&fired](const TimerWheel::Entry& entry) { fired.push_back(entry.slot); };
  wheel.advance(START_MS + 99, fire);
  CHECK(fired.empty());
  wheel.advance(START_MS + 100, fire);
  CHECK_EQ(fired.size(), size_t{2});
  wheel.advance(START_MS + 299, fire);
  CHECK_EQ(fired.size(), size_t{2});
  wheel.advance(START_MS + 300, fire);
  CHECK_EQ(fired.size(), size_t{3});
  CHECK_EQ(fired.back(), 1u);
  CHECK_EQ(wheel.size(), size_t{0});
  CHECK_EQ(wheel.msUntilNextTick(START_MS + 300), int64_t{-1});
  // Further than a lap: parked in the last bucket, so it fires early and the owner reschedules.
  wheel.schedule({4, 1, START_MS + 300 + 10 * 60 * 1000});
  wheel.advance(START_MS + 300 + TimerWheel::BUCKETS * TimerWheel::TICK_MS, fire);
  CHECK_EQ(fired.size(), size_t{4});
}

void testBurstIsGivenBack() {
  // 5000 connections opened within one tick: one bucket grows to thousands of entries.
  constexpr uint32_t BURST = 5000;
  TimerWheel wheel(START_MS);
  for (uint32_t i = 0; i < BURST; ++i) wheel.schedule({i, 1, START_MS + 500});
  CHECK(wheel.reservedEntries() >= BURST);
  // Every entry is superseded once (the lazy reschedule of an active connection), then fires.
  uint32_t rescheduled = 0;
  uint32_t fired = 0;
  uint64_t now = START_MS;
  auto fire = [&](const TimerWheel::Entry& entry) {
    if (entry.dueMs == START_MS + 500) {
      ++rescheduled;
      wheel.schedule({entry.slot, entry.generation, START_MS + 2000});
    } else {
      ++fired;
    }
  };
  for (; now <= START_MS + 2100; now += TimerWheel::TICK_MS) wheel.advance(now, fire);
  CHECK_EQ(rescheduled, BURST);
  CHECK_EQ(fired, BURST);
  CHECK_EQ(wheel.size(), size_t{0});
  // Nothing of the burst stays: not in the bucket it filled, not in the one it moved to.
  CHECK(wheel.reservedEntries() <= TimerWheel::KEEP_CAPACITY);

  // Small buckets keep their storage: steady churn does not allocate every tick.
  for (uint32_t i = 0; i < 100; ++i) wheel.schedule({i, 2, now + 100});
  wheel.advance(now + 200, [](const TimerWheel::Entry&) {});
  CHECK(wheel.reservedEntries() >= 100);
  CHECK(wheel.reservedEntries() <= TimerWheel::KEEP_CAPACITY);
}

}  // namespace

int main() {
  testFiresInOrder();
  testBurstIsGivenBack();
  return CHECK_SUMMARY("timer_wheel_test");
}
