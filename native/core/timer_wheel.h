// A hashed timing wheel of connection ids, one per server (never a timer per connection).
// Entries are lazy: a connection's real due time lives in the connection, and an entry that fires
// early (the connection was active, or its deadline moved) is simply scheduled again. So the hot
// path (a read resetting the idle timer) stores a timestamp and touches no wheel at all.
#pragma once
#include <cstdint>
#include <vector>

namespace epollws {

class TimerWheel {
 public:
  struct Entry {
    uint32_t slot;
    uint32_t generation;
    uint64_t dueMs;  // lets the owner recognise entries that were superseded
  };
  static constexpr uint64_t TICK_MS = 100;
  static constexpr size_t BUCKETS = 1024;  // one lap is ~102 s; later entries ride around again
  static constexpr size_t KEEP_CAPACITY = 1024;  // entries a drained bucket keeps room for (16 KiB)

  explicit TimerWheel(uint64_t nowMs) : buckets_(BUCKETS), currentTick_(nowMs / TICK_MS) {}

  // Schedules the entry for the first tick at or after dueMs.
  void schedule(Entry entry) {
    uint64_t tick = (entry.dueMs + TICK_MS - 1) / TICK_MS;
    if (tick <= currentTick_) tick = currentTick_ + 1;
    if (tick - currentTick_ >= BUCKETS) tick = currentTick_ + BUCKETS - 1;
    buckets_[tick % BUCKETS].push_back(entry);
    ++size_;
  }

  // Hands every entry whose tick has passed to `fire(entry)`; fire may schedule again.
  template <class Fire>
  void advance(uint64_t nowMs, Fire&& fire) {
    uint64_t target = nowMs / TICK_MS;
    while (currentTick_ < target && size_ > 0) {
      ++currentTick_;
      std::vector<Entry>& bucket = buckets_[currentTick_ % BUCKETS];
      if (bucket.empty()) continue;
      // The bucket takes due_'s emptied storage, which is never large (see below).
      due_.swap(bucket);
      size_ -= due_.size();
      for (const Entry& entry : due_) fire(entry);
      due_.clear();
      // A burst (thousands of connections opened in one tick) fills one bucket; without this its
      // storage would pass from bucket to bucket forever. Small storage is kept: steady churn then
      // allocates nothing.
      if (due_.capacity() > KEEP_CAPACITY) std::vector<Entry>().swap(due_);
    }
    if (size_ == 0) currentTick_ = target;
  }

  size_t size() const { return size_; }
  // Entries the wheel has storage for, scheduled or not: what it holds on to (tests check that a
  // burst is given back).
  size_t reservedEntries() const {
    size_t total = due_.capacity();
    for (const std::vector<Entry>& bucket : buckets_) total += bucket.capacity();
    return total;
  }
  // Milliseconds from nowMs until the next tick that could hold entries; -1 when empty.
  int64_t msUntilNextTick(uint64_t nowMs) const {
    if (size_ == 0) return -1;
    uint64_t next = (currentTick_ + 1) * TICK_MS;
    return next > nowMs ? static_cast<int64_t>(next - nowMs) : 0;
  }

 private:
  std::vector<std::vector<Entry>> buckets_;
  std::vector<Entry> due_;
  uint64_t currentTick_;
  size_t size_ = 0;
};

}  // namespace epollws
