#pragma once
#include <time.h>

#include <cstdint>

namespace epollws {

// Monotonic milliseconds, for deadlines.
inline uint64_t monotonicMs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace epollws
