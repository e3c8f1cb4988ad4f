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

// Where a Server reads the time (ServerOptions::clock). Production servers use the monotonic
// clock; the server fuzzer and timer tests set a ManualClock, so handshake, idle and close
// timeouts fire when the test moves time on, not when the machine happens to be slow.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t nowMs() const = 0;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t startMs = 1) : nowMs_(startMs) {}
  uint64_t nowMs() const override { return nowMs_; }
  void advance(uint64_t ms) { nowMs_ += ms; }

 private:
  uint64_t nowMs_;
};

}  // namespace epollws
