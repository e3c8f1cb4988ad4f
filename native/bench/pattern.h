// Payload pattern for echo verification.
//
// Every message's bytes are a pure function of (connection id, sequence number, byte offset), so the
// load generator never stores what it sent: it regenerates the expected bytes while the echo streams
// in. Mixing both ids into the seed makes a swapped, duplicated or dropped message fail on its first
// 8-byte word instead of slipping through as "some valid payload". Words are addressed by offset, so
// a message can be verified in arbitrary chunks as recv() hands them out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "pattern words are laid out little-endian");

namespace epollws::bench {

// splitmix64 finalizer: cheap, and every input bit affects every output bit.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t messageSeed(uint32_t connection, uint64_t sequence) {
  return mix64((static_cast<uint64_t>(connection) << 40) ^ mix64(sequence));
}

// 64 KiB of fixed noise, built at compile time. A message is this block repeated, XOR-ed word by
// word with its 64-bit seed: generating and checking cost one load and one XOR per 8 bytes (the
// load generator must outrun servers at 64 KiB-4 MiB messages too), while two messages with
// different seeds still differ in every word.
struct PatternBlock {
  static constexpr size_t kWords = 8192;
  uint64_t words[kWords];
};

constexpr PatternBlock makePatternBlock() {
  PatternBlock b{};
  for (size_t k = 0; k < PatternBlock::kWords; ++k) b.words[k] = mix64(k ^ 0x5EEDF00Dull);
  return b;
}

inline constexpr PatternBlock kPatternBlock = makePatternBlock();

// Word k of a message. Text payloads keep 6 bits per byte and add 0x30: every byte lands in
// 0x30..0x6f, printable ASCII (hence valid UTF-8), and the per-byte add never carries.
inline uint64_t patternWord(uint64_t seed, uint64_t k, bool text) {
  uint64_t w = kPatternBlock.words[k & (PatternBlock::kWords - 1)] ^ seed;
  if (text) w = (w & 0x3F3F3F3F3F3F3F3Full) + 0x3030303030303030ull;
  return w;
}

inline uint8_t patternByte(uint64_t seed, uint64_t offset, bool text) {
  return static_cast<uint8_t>(patternWord(seed, offset >> 3, text) >> ((offset & 7) * 8));
}

// Writes the payload XOR-ed with the 4-byte frame mask (client frames must be masked). The payload
// starts at offset 0, so the mask phase equals the word phase and one 64-bit mask covers each word.
inline void fillMaskedPayload(uint8_t* dst, size_t len, uint64_t seed, bool text, const uint8_t mask[4]) {
  uint32_t m32;
  std::memcpy(&m32, mask, 4);
  const uint64_t m64 = (static_cast<uint64_t>(m32) << 32) | m32;
  size_t words = len / 8;
  for (size_t k = 0; k < words; ++k) {
    uint64_t w = patternWord(seed, k, text) ^ m64;
    std::memcpy(dst + k * 8, &w, 8);
  }
  for (size_t i = words * 8; i < len; ++i) dst[i] = patternByte(seed, i, text) ^ mask[i & 3];
}

// Checks len received bytes that sit at `offset` inside the message. Returns the index (relative to
// src) of the first mismatching byte, or len when everything matches.
inline size_t verifyChunk(const uint8_t* src, size_t len, uint64_t seed, uint64_t offset, bool text) {
  size_t i = 0;
  while (i < len && ((offset + i) & 7) != 0) {
    if (src[i] != patternByte(seed, offset + i, text)) return i;
    ++i;
  }
  while (len - i >= 8) {
    uint64_t got;
    std::memcpy(&got, src + i, 8);
    if (got != patternWord(seed, (offset + i) >> 3, text)) {
      for (size_t j = 0; j < 8; ++j)
        if (src[i + j] != patternByte(seed, offset + i + j, text)) return i + j;
    }
    i += 8;
  }
  for (; i < len; ++i)
    if (src[i] != patternByte(seed, offset + i, text)) return i;
  return len;
}

}  // namespace epollws::bench
