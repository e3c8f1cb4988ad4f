#include "memory_return.h"

#include <atomic>
#include <cstdint>

#include "clock.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace epollws {
namespace {

constexpr size_t TRIM_AFTER_BYTES = 16u << 20;
constexpr size_t PENDING_BYTES = 1u << 20;
constexpr uint64_t TRIM_INTERVAL_MS = 1000;

std::atomic<size_t> freedSinceTrim{0};
std::atomic<uint64_t> lastTrimMs{0};

}  // namespace

bool noteFreedMemory(size_t bytes) {
#ifdef __GLIBC__
  size_t freed = freedSinceTrim.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (freed < TRIM_AFTER_BYTES) return freed >= PENDING_BYTES;
  uint64_t now = monotonicMs();
  uint64_t last = lastTrimMs.load(std::memory_order_relaxed);
  if (now - last < TRIM_INTERVAL_MS) return true;
  if (!lastTrimMs.compare_exchange_strong(last, now, std::memory_order_relaxed)) return true;
  freedSinceTrim.store(0, std::memory_order_relaxed);
  ::malloc_trim(0);
  return false;
#else
  (void)bytes;  // other C libraries return memory on their own terms
  return false;
#endif
}

bool freedMemoryPending() { return freedSinceTrim.load(std::memory_order_relaxed) >= PENDING_BYTES; }

void trimFreedMemory() {
#ifdef __GLIBC__
  if (freedSinceTrim.exchange(0, std::memory_order_relaxed) == 0) return;
  lastTrimMs.store(monotonicMs(), std::memory_order_relaxed);
  ::malloc_trim(0);
#endif
}

}  // namespace epollws
