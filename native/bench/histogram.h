// Latency histogram with fixed storage: recording a sample is an index computation and an increment,
// so the hot path never allocates. Log-linear buckets (64 per power of two, ~1.6% width) keep
// percentiles accurate from nanoseconds to minutes in a few KiB.
#pragma once

#include <cstdint>

namespace epollws::bench {

class Histogram {
 public:
  void record(uint64_t ns) {
    ++counts_[indexOf(ns)];
    ++total_;
    sum_ += ns;
    if (ns > max_) max_ = ns;
  }

  void reset() { *this = Histogram(); }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0; }

  // Value (ns) below which fraction q of the samples fall; reports the bucket's midpoint.
  uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) {
        uint64_t mid = (lowerBound(i) + lowerBound(i + 1)) / 2;
        return mid > max_ ? max_ : mid;
      }
    }
    return max_;
  }

 private:
  static constexpr int kLinear = 128;  // values below this get one bucket each
  static constexpr int kSub = 64;      // buckets per power of two above that
  static constexpr int kMaxExp = 42;   // ~73 minutes in ns; longer samples are clamped
  static constexpr int kBuckets = kLinear + (kMaxExp - 7 + 1) * kSub;

  static int indexOf(uint64_t v) {
    if (v < kLinear) return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v);
    if (e > kMaxExp) return kBuckets - 1;
    int shift = e - 6;
    return kLinear + (e - 7) * kSub + static_cast<int>((v >> shift) - kSub);
  }

  static uint64_t lowerBound(int i) {
    if (i < kLinear) return static_cast<uint64_t>(i);
    int e = (i - kLinear) / kSub + 7;
    uint64_t sub = static_cast<uint64_t>((i - kLinear) % kSub + kSub);
    return sub << (e - 6);
  }

  uint64_t counts_[kBuckets] = {};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

}  // namespace epollws::bench
