// A table-driven DFA for UTF-8 with an ASCII fast path. Bytes are first mapped to one of 12 classes
// (what a byte may be: ASCII, a continuation in one of three ranges, or a particular kind of lead byte),
// then the state machine tracks how many continuation bytes are still owed and, right after the special
// lead bytes E0, ED, F0 and F4, which narrower range the next byte must fall in. Those narrow ranges
// are exactly what rules out overlong forms, surrogates and values above U+10FFFF.
#include "utf8.h"

#include <cstring>

namespace epollws {
namespace {

enum ByteClass : uint8_t {
  ASCII = 0,     // 00..7F
  CONT_LO = 1,   // 80..8F
  CONT_MID = 2,  // 90..9F
  CONT_HI = 3,   // A0..BF
  BAD = 4,       // C0, C1 (always overlong) and F5..FF (beyond U+10FFFF or not UTF-8 at all)
  LEAD2 = 5,     // C2..DF
  LEAD_E0 = 6,   // E0: next byte A0..BF, else overlong
  LEAD3 = 7,     // E1..EC, EE, EF
  LEAD_ED = 8,   // ED: next byte 80..9F, else a surrogate
  LEAD_F0 = 9,   // F0: next byte 90..BF, else overlong
  LEAD4 = 10,    // F1..F3
  LEAD_F4 = 11,  // F4: next byte 80..8F, else above U+10FFFF
  CLASS_COUNT = 12
};

enum State : uint8_t {
  ACCEPT = 0,     // between code points
  REJECT = 1,     // sticky failure
  NEED1 = 2,      // one continuation byte owed
  NEED2 = 3,      // two owed
  NEED3 = 4,      // three owed
  AFTER_E0 = 5,   // two owed, the first in A0..BF
  AFTER_ED = 6,   // two owed, the first in 80..9F
  AFTER_F0 = 7,   // three owed, the first in 90..BF
  AFTER_F4 = 8,   // three owed, the first in 80..8F
  STATE_COUNT = 9
};

struct Tables {
  uint8_t byteClass[256];
  uint8_t next[STATE_COUNT][CLASS_COUNT];
};

constexpr Tables buildTables() {
  Tables t{};
  for (int b = 0; b < 256; ++b) {
    uint8_t c = BAD;
    if (b <= 0x7F) c = ASCII;
    else if (b <= 0x8F) c = CONT_LO;
    else if (b <= 0x9F) c = CONT_MID;
    else if (b <= 0xBF) c = CONT_HI;
    else if (b <= 0xC1) c = BAD;
    else if (b <= 0xDF) c = LEAD2;
    else if (b == 0xE0) c = LEAD_E0;
    else if (b == 0xED) c = LEAD_ED;
    else if (b <= 0xEF) c = LEAD3;
    else if (b == 0xF0) c = LEAD_F0;
    else if (b <= 0xF3) c = LEAD4;
    else if (b == 0xF4) c = LEAD_F4;
    t.byteClass[b] = c;
  }
  for (int s = 0; s < STATE_COUNT; ++s)
    for (int c = 0; c < CLASS_COUNT; ++c) t.next[s][c] = REJECT;

  // Between code points: ASCII stays, lead bytes open a sequence, anything else is invalid.
  t.next[ACCEPT][ASCII] = ACCEPT;
  t.next[ACCEPT][LEAD2] = NEED1;
  t.next[ACCEPT][LEAD_E0] = AFTER_E0;
  t.next[ACCEPT][LEAD3] = NEED2;
  t.next[ACCEPT][LEAD_ED] = AFTER_ED;
  t.next[ACCEPT][LEAD_F0] = AFTER_F0;
  t.next[ACCEPT][LEAD4] = NEED3;
  t.next[ACCEPT][LEAD_F4] = AFTER_F4;

  // Plain continuation states accept the whole 80..BF range.
  const uint8_t anyCont[] = {CONT_LO, CONT_MID, CONT_HI};
  for (uint8_t c : anyCont) {
    t.next[NEED1][c] = ACCEPT;
    t.next[NEED2][c] = NEED1;
    t.next[NEED3][c] = NEED2;
  }
  // The restricted second bytes.
  t.next[AFTER_E0][CONT_HI] = NEED1;
  t.next[AFTER_ED][CONT_LO] = NEED1;
  t.next[AFTER_ED][CONT_MID] = NEED1;
  t.next[AFTER_F0][CONT_MID] = NEED2;
  t.next[AFTER_F0][CONT_HI] = NEED2;
  t.next[AFTER_F4][CONT_LO] = NEED2;
  return t;
}

constexpr Tables TABLES = buildTables();

constexpr uint64_t HIGH_BITS = 0x8080808080808080ULL;

// Index of the first byte with its top bit set in a word loaded with memcpy (w & HIGH_BITS != 0).
inline size_t firstHighByte(uint64_t highBits) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return static_cast<size_t>(__builtin_ctzll(highBits)) / 8;
#else
  return static_cast<size_t>(__builtin_clzll(highBits)) / 8;
#endif
}

}  // namespace

bool Utf8Validator::feed(const uint8_t* data, size_t len) {
  uint32_t state = state_;
  if (state == REJECT) return false;
  size_t i = 0;
  while (i < len) {
    if (state == ACCEPT) {
      // Most text is ASCII: skip 8 bytes at a time until a byte with its top bit set shows up.
      while (len - i >= 8) {
        uint64_t word;
        std::memcpy(&word, data + i, sizeof word);
        const uint64_t high = word & HIGH_BITS;
        if (high != 0) {
          i += firstHighByte(high);
          break;
        }
        i += 8;
      }
      if (i == len) break;
    }
    state = TABLES.next[state][TABLES.byteClass[data[i]]];
    if (state == REJECT) {
      state_ = REJECT;
      return false;
    }
    ++i;
  }
  state_ = static_cast<uint8_t>(state);
  return true;
}

bool isValidUtf8(const uint8_t* data, size_t len) {
  Utf8Validator validator;
  return validator.feed(data, len) && validator.complete();
}

}  // namespace epollws
