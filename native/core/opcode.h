#pragma once
#include <cstddef>
#include <cstdint>

namespace epollws {

enum class Opcode : uint8_t {
  CONTINUATION = 0x0,
  TEXT = 0x1,
  BINARY = 0x2,
  CLOSE = 0x8,
  PING = 0x9,
  PONG = 0xA,
};

constexpr bool isControl(Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

constexpr size_t MAX_CONTROL_PAYLOAD = 125;

}  // namespace epollws
