// Server frame headers (RFC 6455 §5.2). Servers never mask, so a header is at most 10 bytes and the
// payload follows unchanged (it can be written straight from the caller's buffer with writev).
#pragma once
#include <cstddef>
#include <cstdint>

#include "opcode.h"

namespace epollws {

constexpr size_t MAX_FRAME_HEADER = 10;

// Size of the header writeFrameHeader() produces for this payload length: 2, 4 or 10.
constexpr size_t frameHeaderSize(uint64_t payloadLength) {
  return payloadLength < 126 ? 2 : payloadLength <= 0xFFFF ? 4 : 10;
}

// Writes an unmasked frame header into out (room for MAX_FRAME_HEADER bytes); returns its size.
// Uses the minimal length encoding, as §5.2 requires.
inline size_t writeFrameHeader(uint8_t* out, Opcode op, uint64_t payloadLength, bool fin = true,
                               bool rsv1 = false) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<uint8_t>(op));
  if (payloadLength < 126) {
    out[1] = static_cast<uint8_t>(payloadLength);
    return 2;
  }
  if (payloadLength <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payloadLength >> 8);
    out[3] = static_cast<uint8_t>(payloadLength);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payloadLength >> (56 - 8 * i));
  return 10;
}

}  // namespace epollws
