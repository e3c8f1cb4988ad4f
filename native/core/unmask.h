// XOR-unmasking of client payloads (RFC 6455 §5.3), a word at a time. The loop is exact: it reads and
// writes only [data, data + len), so receive buffers need no padding (unlike uWS's imprecise unmask).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace epollws {

// maskOffset is the number of bytes of this frame's payload already unmasked by earlier calls, so a
// payload split across reads continues with the right mask byte.
inline void unmaskInPlace(uint8_t* data, size_t len, const uint8_t mask[4], size_t maskOffset) {
  // Scalar head up to 8-byte alignment, so the word loop does aligned loads and stores on any target.
  size_t head = static_cast<size_t>(-reinterpret_cast<uintptr_t>(data)) & 7;
  if (head > len) head = len;
  size_t i = 0;
  for (; i < head; ++i) data[i] ^= mask[(maskOffset + i) & 3];

  // The mask rotated so that pattern[k] applies to data[i + k]; as i is now fixed, one word serves
  // every 8-byte step (8 is a multiple of 4).
  uint8_t pattern[8];
  for (size_t k = 0; k < 8; ++k) pattern[k] = mask[(maskOffset + i + k) & 3];
  uint64_t maskWord;
  std::memcpy(&maskWord, pattern, sizeof maskWord);
  for (; len - i >= 8; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= maskWord;
    std::memcpy(data + i, &word, sizeof word);
  }
  for (size_t k = 0; i < len; ++i, ++k) data[i] ^= pattern[k];
}

}  // namespace epollws
