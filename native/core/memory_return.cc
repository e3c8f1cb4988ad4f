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
constexpr uint64_t TRIM_INTERVAL_MS = 1000;

std::atomic<size_t> freedSinceTrim{0};
std::atomic<uint64_t> lastTrimMs{0};

}  // namespace

void noteFreedMemory(size_t bytes) {
#ifdef __GLIBC__
  if (freedSinceTrim.fetch_add(bytes, std::memory_order_relaxed) + bytes < TRIM_AFTER_BYTES) return;
  uint64_t now = monotonicMs();
  uint64_t last = lastTrimMs.load(std::memory_order_relaxed);
  if (now - last < TRIM_INTERVAL_MS) return;
  if (!lastTrimMs.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;  // another thread trims
  freedSinceTrim.store(0, std::memory_order_relaxed);
  ::malloc_trim(0);
#else
  (void)bytes;  // other C libraries return memory on their own terms
#endif
}

}  // namespace epollws
