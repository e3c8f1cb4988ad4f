// Why small published frames are copied and large ones shared (PUBLISH_SHARE_MIN in
// native/core/server_topics.cc): 1,000 output queues; each turn queues a small send, a publish of
// S bytes (copied into the tail, or one shared block referenced by every queue) and another small
// send, then gathers and consumes everything (a flush the kernel takes whole). Prints the cost per
// delivery and the iovecs each flush's writev would carry.
//   make -C native/bench build/publish_queue_bench && native/bench/build/publish_queue_bench
#include <chrono>
#include <cstdio>
#include <vector>
#include <memory>
#include "output_queue.h"

using namespace epollws;
int main() {
  const int Q = 1000, TURNS = 2000;
  for (size_t S : {34, 130, 1030, 4106, 16394}) {
    for (int shared = 0; shared < 2; ++shared) {
      std::vector<std::unique_ptr<OutputQueue>> qs;
      for (int i = 0; i < Q; ++i) qs.emplace_back(new OutputQueue());
      size_t total = 0;
      std::vector<uint8_t> frame(S, 7), small(20, 1);
      auto t0 = std::chrono::steady_clock::now();
      size_t iovs = 0;
      for (int t = 0; t < TURNS; ++t) {
        SharedFrameRef f(SharedFrame::copyOf(frame.data(), S));
        for (auto& q : qs) {
          q->appendCopy(small.data(), small.size(), total);
          if (shared) q->appendShared(f, 0, total); else q->appendCopy(frame.data(), S, total);
          q->appendCopy(small.data(), small.size(), total);
          iovec parts[64];
          int n = q->gather(parts, 64);
          iovs += n;
          size_t len = 0; for (int k = 0; k < n; ++k) len += parts[k].iov_len;
          q->consume(len, total);
        }
      }
      double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / (double(Q) * TURNS);
      std::printf("frame %5zu B  %-6s  %6.1f ns per delivery, %.2f iovecs per flush\n", S, shared ? "shared" : "copy", ns, double(iovs) / (double(Q) * TURNS));
    }
  }
}
