// libFuzzer target for the request-head reader (native/core/http_upgrade.h) and the responses built
// from its result (handshake.h). The same input is parsed whole and in chunks whose sizes come from
// the first input byte; each chunk is an exact-size heap copy so ASan catches reads past a chunk.
// Both runs must agree, and the result must satisfy the parser's documented invariants.
//
// Input layout: [chunk seed] [limit selector] [request bytes...]
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "handshake.h"
#include "http_upgrade.h"

using epollws::UpgradeParser;
using State = UpgradeParser::State;

#define FUZZ_ASSERT(cond) \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

namespace {

struct Outcome {
  State state = State::NEED_MORE;
  size_t headBytes = 0;  // total over all calls
  int status = 0;
};

bool within(std::string_view inner, std::string_view outer) {
  return inner.empty() ||
         (inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size());
}

Outcome feedChunked(UpgradeParser& p, const uint8_t* data, size_t size, uint8_t seed) {
  Outcome out;
  size_t pos = 0;
  uint32_t rng = seed * 2654435761u + 1;
  while (pos < size) {
    rng = rng * 1103515245u + 12345u;
    // Mostly tiny chunks (the interesting splits), sometimes large ones.
    size_t n = (rng >> 16) % 8 == 0 ? 1 + (rng >> 8) % 512 : 1 + (rng >> 20) % 4;
    if (seed == 0) n = size;  // seed 0: one call, like the whole run but through a copy
    if (n > size - pos) n = size - pos;
    std::unique_ptr<char[]> chunk(new char[n]);
    std::memcpy(chunk.get(), data + pos, n);
    size_t head = 0;
    State s = p.feed(chunk.get(), n, &head);
    FUZZ_ASSERT(head <= n);
    if (s == State::NEED_MORE) FUZZ_ASSERT(head == n);
    out.headBytes += head;
    out.state = s;
    pos += n;
    if (s != State::NEED_MORE) {
      // Further input is never consumed.
      size_t after = 99;
      FUZZ_ASSERT(p.feed(chunk.get(), n, &after) == s && after == 0);
      break;
    }
  }
  out.status = p.failureStatus();
  return out;
}

void checkComplete(const UpgradeParser& p, const uint8_t* data, size_t headBytes) {
  std::string_view raw = p.rawHead();
  FUZZ_ASSERT(raw.size() == headBytes);
  FUZZ_ASSERT(std::memcmp(raw.data(), data, raw.size()) == 0);
  FUZZ_ASSERT(raw.size() >= 4 && raw.substr(raw.size() - 4) == "\r\n\r\n");

  const epollws::UpgradeRequest& r = p.request();
  FUZZ_ASSERT(r.method == "GET");
  FUZZ_ASSERT(within(r.target, raw) && !r.target.empty());
  FUZZ_ASSERT(within(r.httpVersion, raw));
  FUZZ_ASSERT(within(r.host, raw) && within(r.key, raw) && within(r.version, raw));
  FUZZ_ASSERT(within(r.origin, raw));
  FUZZ_ASSERT(r.key.size() == 24 && (r.version == "13" || r.version == "8"));  // ws accepts both (same framing)
  for (const epollws::HttpHeader& h : r.headers) {
    FUZZ_ASSERT(within(h.name, raw) && within(h.value, raw));
    FUZZ_ASSERT(epollws::isHttpToken(h.name));
    FUZZ_ASSERT(epollws::isHttpFieldValue(h.value));
    (void)epollws::headerHasToken(h.value, "upgrade");
  }
  std::string accept = epollws::computeAcceptKey(r.key);
  FUZZ_ASSERT(accept.size() == epollws::ACCEPT_KEY_LENGTH);
  std::string response =
      epollws::buildSwitchingProtocolsResponse(accept, r.protocols, r.extensions, "");
  FUZZ_ASSERT(response.size() > 4 && response.compare(response.size() - 4, 4, "\r\n\r\n") == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint8_t seed = data[0];
  // Small limits reach the 431 path with short inputs; 0 means the default.
  size_t limit = data[1] == 0 ? UpgradeParser::DEFAULT_MAX_HEADER_SIZE : data[1] * 4u;
  data += 2;
  size -= 2;

  UpgradeParser whole(limit);
  Outcome a;
  {
    std::unique_ptr<char[]> copy(new char[size]);
    if (size > 0) std::memcpy(copy.get(), data, size);
    a.state = whole.feed(copy.get(), size, &a.headBytes);
    a.status = whole.failureStatus();
  }
  UpgradeParser chunked(limit);
  Outcome b = feedChunked(chunked, data, size, seed);

  FUZZ_ASSERT(a.state == b.state);
  FUZZ_ASSERT(a.status == b.status);
  FUZZ_ASSERT(whole.rawHead().size() <= limit);
  if (a.state == State::COMPLETE) {
    FUZZ_ASSERT(a.headBytes == b.headBytes);
    FUZZ_ASSERT(whole.rawHead() == chunked.rawHead());
    FUZZ_ASSERT(whole.request().protocols == chunked.request().protocols);
    FUZZ_ASSERT(whole.request().extensions == chunked.request().extensions);
    checkComplete(whole, data, a.headBytes);
    checkComplete(chunked, data, b.headBytes);
    // Moving must keep every view valid (they point into heap blocks that travel with the move).
    UpgradeParser moved(std::move(chunked));
    checkComplete(moved, data, b.headBytes);
  } else if (a.state == State::FAILED) {
    FUZZ_ASSERT(a.status == 400 || a.status == 405 || a.status == 426 || a.status == 431);
    FUZZ_ASSERT(std::strcmp(whole.failureReason(), chunked.failureReason()) == 0);
    FUZZ_ASSERT(whole.failureReason()[0] != '\0');
    std::string response = epollws::buildHttpErrorResponse(a.status, "", "");
    FUZZ_ASSERT(response.compare(0, 9, "HTTP/1.1 ") == 0);
  } else {
    FUZZ_ASSERT(a.headBytes == size);
  }
  whole.release();
  FUZZ_ASSERT(whole.rawHead().empty());
  return 0;
}
