// libFuzzer target for the PROXY protocol header reader (native/core/proxy_protocol.h).
// The reader is stateless and the caller re-parses all bytes received so far, so "chunking" means
// parsing prefixes: each prefix is an exact-size heap copy so ASan catches reads past it, and the
// answers must be consistent across prefixes (NEED_MORE until a decision, then the same decision).
//
// Input layout: [mode] [header bytes...]. The low 3 bits of mode pick a prefix to put before the bytes
// (the v2 signature, v1 lines up to various fields) so that short inputs reach the deeper parts of both
// formats, valid v1 addresses included; the other bits pick cut points.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "proxy_protocol.h"

using epollws::ProxyHeader;
using State = ProxyHeader::State;

#define FUZZ_ASSERT(cond) \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

namespace {

constexpr size_t V1_MAX_LINE = 107;
const char V2_SIGNATURE[] = "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A";
constexpr size_t V2_SIGNATURE_SIZE = 12;

const std::string PREFIXES[] = {
    "",
    std::string(V2_SIGNATURE, V2_SIGNATURE_SIZE),
    std::string(V2_SIGNATURE, V2_SIGNATURE_SIZE) + std::string("\x21\x11\x00\x0C", 4),
    "PROXY ",
    "PROXY TCP4 ",
    "PROXY TCP6 ",
    "PROXY TCP4 203.0.113.7 192.0.2.1 ",
    "PROXY TCP6 2001:db8::1 ::1 ",
};
constexpr uint8_t PREFIX_MASK = 7;

ProxyHeader parsePrefix(const std::vector<uint8_t>& input, size_t len) {
  std::vector<uint8_t> copy(input.begin(), input.begin() + len);
  return epollws::parseProxyHeader(copy.data(), copy.size());
}

bool sameResult(const ProxyHeader& a, const ProxyHeader& b) {
  return a.state == b.state && a.length == b.length && a.local == b.local && a.family == b.family &&
         a.sourceAddress == b.sourceAddress && a.sourcePort == b.sourcePort;
}

void checkComplete(const ProxyHeader& h, const std::vector<uint8_t>& input) {
  FUZZ_ASSERT(h.length > 0 && h.length <= input.size());
  FUZZ_ASSERT(h.length <= epollws::MAX_PROXY_HEADER);
  if (input[0] == 'P') {
    FUZZ_ASSERT(h.length <= V1_MAX_LINE);
    FUZZ_ASSERT(input[h.length - 2] == '\r' && input[h.length - 1] == '\n');
    // The only CR of the line is the one that ends it.
    FUZZ_ASSERT(std::memchr(input.data(), '\r', h.length - 2) == nullptr);
  } else {
    FUZZ_ASSERT(h.length >= 16);
    FUZZ_ASSERT(std::memcmp(input.data(), V2_SIGNATURE, V2_SIGNATURE_SIZE) == 0);
    FUZZ_ASSERT(h.length == 16 + ((size_t(input[14]) << 8) | input[15]));
  }
  if (h.local) {
    FUZZ_ASSERT(h.family == 0 && h.sourceAddress.empty() && h.sourcePort == 0);
    return;
  }
  FUZZ_ASSERT(h.family == 4 || h.family == 6);
  unsigned char addr[sizeof(in6_addr)];
  FUZZ_ASSERT(inet_pton(h.family == 4 ? AF_INET : AF_INET6, h.sourceAddress.c_str(), addr) == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  const std::string& prefix = PREFIXES[mode & PREFIX_MASK];
  std::vector<uint8_t> input(prefix.begin(), prefix.end());
  input.insert(input.end(), data + 1, data + size);

  ProxyHeader whole = parsePrefix(input, input.size());
  if (whole.state == State::NEED_MORE) {
    // The caller's buffer bound: it never has to hold more than this without an answer.
    FUZZ_ASSERT(input.size() < epollws::MAX_PROXY_HEADER);
    if (!input.empty() && input[0] == 'P') FUZZ_ASSERT(input.size() < V1_MAX_LINE);
    FUZZ_ASSERT(whole.length == 0 && whole.sourceAddress.empty());
  } else if (whole.state == State::COMPLETE) {
    checkComplete(whole, input);
  } else {
    FUZZ_ASSERT(whole.length == 0 && whole.sourceAddress.empty());
  }

  // Where the answer was first decided: the header length, or for INVALID the shortest invalid prefix
  // (found by bisection, which is sound because INVALID must be stable as bytes are added).
  size_t decidedAt = input.size() + 1;
  if (whole.state == State::COMPLETE) {
    decidedAt = whole.length;
  } else if (whole.state == State::INVALID) {
    size_t lo = 0, hi = input.size();  // prefix lo is not INVALID, prefix hi is
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      if (parsePrefix(input, mid).state == State::INVALID) hi = mid;
      else lo = mid;
    }
    decidedAt = hi;
  }

  // Prefixes around the decision point and a few others picked by the mode byte: shorter ones are
  // NEED_MORE, longer ones give exactly the whole-input answer.
  std::vector<size_t> cuts = {0, 1, decidedAt - 1, decidedAt, decidedAt + 1, input.size() / 2};
  uint32_t rng = (mode >> 3) * 2654435761u + 1;
  for (int i = 0; i < 4; ++i) {
    rng = rng * 1103515245u + 12345u;
    cuts.push_back((rng >> 8) % (input.size() + 1));
  }
  for (size_t cut : cuts) {
    if (cut > input.size()) continue;
    ProxyHeader h = parsePrefix(input, cut);
    if (cut < decidedAt) {
      FUZZ_ASSERT(h.state == State::NEED_MORE);
    } else {
      FUZZ_ASSERT(sameResult(h, whole));
    }
  }
  // More bytes never change a decision (the HTTP request follows the header in the same read).
  if (whole.state != State::NEED_MORE) {
    std::vector<uint8_t> longer(input);
    longer.insert(longer.end(), {'G', 'E', 'T', ' ', '/', '\r', '\n'});
    FUZZ_ASSERT(sameResult(parsePrefix(longer, longer.size()), whole));
  }
  return 0;
}
