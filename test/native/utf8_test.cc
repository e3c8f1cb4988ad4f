// Utf8Validator against hand-picked cases of every invalid class, and against an independent reference
// (code point ranges, not a DFA) for fail position and incremental feeding.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "utf8.h"

using epollws::Utf8Validator;
using epollws::isValidUtf8;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

bool valid(const Bytes& b) { return isValidUtf8(b.data(), b.size()); }

// Reference: can the prefix b[0, n) be completed into valid UTF-8? For a partial trailing sequence,
// the bytes present fix the high bits of the code point; it is completable iff the range of code points
// it could still become meets the valid range for its length (minus surrogates).
bool completablePrefix(const Bytes& b, size_t n, bool* complete) {
  size_t i = 0;
  *complete = true;
  while (i < n) {
    const uint8_t lead = b[i];
    size_t size;
    uint32_t cp;
    uint32_t minCp;
    if (lead < 0x80) { ++i; continue; }
    if ((lead & 0xE0) == 0xC0) { size = 2; cp = lead & 0x1F; minCp = 0x80; }
    else if ((lead & 0xF0) == 0xE0) { size = 3; cp = lead & 0x0F; minCp = 0x800; }
    else if ((lead & 0xF8) == 0xF0) { size = 4; cp = lead & 0x07; minCp = 0x10000; }
    else return false;
    size_t have = 1;
    while (have < size && i + have < n) {
      if ((b[i + have] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b[i + have] & 0x3F);
      ++have;
    }
    const unsigned missingBits = static_cast<unsigned>(6 * (size - have));
    const uint32_t lo = cp << missingBits;
    const uint32_t hi = lo | ((1u << missingBits) - 1);
    const uint32_t maxCp = size == 2 ? 0x7FF : size == 3 ? 0xFFFF : 0x10FFFF;
    // Valid targets: [minCp, maxCp] minus [D800, DFFF].
    bool ok = false;
    auto meets = [&](uint32_t a, uint32_t z) { return lo <= z && hi >= a; };
    if (size == 3) ok = meets(0x800, 0xD7FF) || meets(0xE000, 0xFFFF);
    else ok = meets(minCp, maxCp);
    if (!ok) return false;
    if (have < size) { *complete = false; return true; }
    i += size;
  }
  return true;
}

// Index of the first byte at which the reference says the input became invalid, or SIZE_MAX.
size_t referenceFailIndex(const Bytes& b) {
  bool complete;
  for (size_t n = 1; n <= b.size(); ++n)
    if (!completablePrefix(b, n, &complete)) return n - 1;
  return SIZE_MAX;
}

size_t validatorFailIndex(const Bytes& b) {
  Utf8Validator v;
  for (size_t i = 0; i < b.size(); ++i)
    if (!v.feed(&b[i], 1)) return i;
  return SIZE_MAX;
}

void testValid() {
  CHECK(valid(bytes("")));
  CHECK(valid(bytes("hello, world")));
  CHECK(valid(bytes("\x7F")));
  CHECK(valid(bytes("\xC2\x80")));          // U+0080
  CHECK(valid(bytes("\xDF\xBF")));          // U+07FF
  CHECK(valid(bytes("\xE0\xA0\x80")));      // U+0800
  CHECK(valid(bytes("\xED\x9F\xBF")));      // U+D7FF
  CHECK(valid(bytes("\xEE\x80\x80")));      // U+E000
  CHECK(valid(bytes("\xEF\xBF\xBF")));      // U+FFFF
  CHECK(valid(bytes("\xF0\x90\x80\x80")));  // U+10000
  CHECK(valid(bytes("\xF4\x8F\xBF\xBF")));  // U+10FFFF
  CHECK(valid(bytes("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")));  // κόσμε (Autobahn 6.2)
  Bytes nul = {0, 0, 0};
  CHECK(valid(nul));
}

void testInvalidClasses() {
  // Overlong encodings.
  CHECK(!valid(bytes("\xC0\x80")));
  CHECK(!valid(bytes("\xC1\xBF")));
  CHECK(!valid(bytes("\xE0\x80\x80")));
  CHECK(!valid(bytes("\xE0\x9F\xBF")));
  CHECK(!valid(bytes("\xF0\x80\x80\x80")));
  CHECK(!valid(bytes("\xF0\x8F\xBF\xBF")));
  // Surrogates.
  CHECK(!valid(bytes("\xED\xA0\x80")));
  CHECK(!valid(bytes("\xED\xBF\xBF")));
  CHECK(!valid(bytes("\xED\xA0\x80\xED\xB0\x80")));  // a UTF-16 pair spelled out
  // Beyond U+10FFFF.
  CHECK(!valid(bytes("\xF4\x90\x80\x80")));
  CHECK(!valid(bytes("\xF5\x80\x80\x80")));
  CHECK(!valid(bytes("\xF7\xBF\xBF\xBF")));
  CHECK(!valid(bytes("\xF8\x88\x80\x80\x80")));
  CHECK(!valid(bytes("\xFE")));
  CHECK(!valid(bytes("\xFF")));
  // Stray continuation bytes.
  CHECK(!valid(bytes("\x80")));
  CHECK(!valid(bytes("a\xBF")));
  CHECK(!valid(bytes("\xC2\x80\x80")));
  // Truncated at the end, and a lead interrupted by ASCII or another lead.
  CHECK(!valid(bytes("\xC2")));
  CHECK(!valid(bytes("\xE2\x82")));
  CHECK(!valid(bytes("\xF0\x9F\x98")));
  CHECK(!valid(bytes("\xE2" "a")));
  CHECK(!valid(bytes("\xC2\xC2\x80")));
  // Always-invalid lead bytes on their own.
  for (int b : {0xC0, 0xC1, 0xF5, 0xF6, 0xF7, 0xF8, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF}) {
    Bytes one = {static_cast<uint8_t>(b), 0x80, 0x80, 0x80};
    CHECK_EQ(validatorFailIndex(one), size_t{0});
  }
}

void testFailsFast() {
  // The failing byte is the first one that no continuation could repair.
  CHECK_EQ(validatorFailIndex(bytes("ab\xE0\x80\x80")), size_t{3});
  CHECK_EQ(validatorFailIndex(bytes("\xED\xA0\x80")), size_t{1});
  CHECK_EQ(validatorFailIndex(bytes("\xF4\x90\x80\x80")), size_t{1});
  CHECK_EQ(validatorFailIndex(bytes("\xF0\x8F")), size_t{1});
  CHECK_EQ(validatorFailIndex(bytes("abc\x80")), size_t{3});
  CHECK_EQ(validatorFailIndex(bytes("\xE2\x82" "a")), size_t{2});
  // Failure is sticky.
  Utf8Validator v;
  CHECK(!v.feed(reinterpret_cast<const uint8_t*>("\xFF"), 1));
  CHECK(!v.feed(reinterpret_cast<const uint8_t*>("a"), 1));
  CHECK(!v.complete());
  v.reset();
  CHECK(v.feed(reinterpret_cast<const uint8_t*>("a"), 1));
  CHECK(v.complete());
}

void testIncremental() {
  // A code point split at every position, with ASCII runs around it long enough for the word path.
  const std::string cps[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"};
  for (const std::string& cp : cps) {
    Bytes msg = bytes(std::string(13, 'x') + cp + std::string(17, 'y') + cp);
    for (size_t split = 0; split <= msg.size(); ++split) {
      Utf8Validator v;
      CHECK(v.feed(msg.data(), split));
      CHECK(v.feed(msg.data() + split, msg.size() - split));
      CHECK(v.complete());
    }
    // Cut inside the code point: the first part is fine but incomplete.
    Utf8Validator v;
    CHECK(v.feed(msg.data(), 14));
    CHECK(!v.complete());
  }
}

// Non-ASCII bytes at every position of a long ASCII run hit every offset inside the 8-byte fast path.
void testFastPathOffsets() {
  for (size_t len = 0; len < 40; ++len) {
    for (size_t pos = 0; pos < len; ++pos) {
      Bytes b(len, 'a');
      b[pos] = 0x80;  // stray continuation
      CHECK_EQ(validatorFailIndex(b), pos);
      Utf8Validator v;
      CHECK(!v.feed(b.data(), b.size()));
      if (pos + 2 <= len) {
        b[pos] = 0xC3;
        b[pos + 1] = 0xA9;
        CHECK(valid(b));
      }
    }
  }
}

void testAgainstReference() {
  std::mt19937 rng(12345);
  // Bytes biased toward the interesting ranges so that valid multibyte sequences actually occur.
  const uint8_t palette[] = {'a', 0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                             0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
  int mismatches = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    Bytes b(rng() % 12);
    for (uint8_t& c : b) c = palette[rng() % sizeof palette];
    const size_t refFail = referenceFailIndex(b);
    bool refComplete = true;
    if (refFail == SIZE_MAX) completablePrefix(b, b.size(), &refComplete);
    const bool refValid = refFail == SIZE_MAX && refComplete;
    if (validatorFailIndex(b) != refFail || valid(b) != refValid) ++mismatches;
    // Whole-buffer and split feeding agree.
    const size_t split = b.empty() ? 0 : rng() % (b.size() + 1);
    Utf8Validator v;
    const bool splitValid = v.feed(b.data(), split) && v.feed(b.data() + split, b.size() - split) &&
                            v.complete();
    if (splitValid != refValid) ++mismatches;
  }
  CHECK_EQ(mismatches, 0);
}

}  // namespace

int main() {
  testValid();
  testInvalidClasses();
  testFailsFast();
  testIncremental();
  testFastPathOffsets();
  testAgainstReference();
  return CHECK_SUMMARY("utf8_test");
}
