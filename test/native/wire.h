// Client-side wire bytes for the core's tests and fuzzers: hex literals, masked client frames and
// a valid upgrade request (RFC 6455 §1.3's sample key). One encoder, so a test and a fuzzer cannot
// disagree on what a client sends.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wire {

using Bytes = std::vector<uint8_t>;

// The masking key of RFC 6455 §5.7's examples.
inline const uint8_t RFC_MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

// "81 85 37fa213d" -> bytes; anything but hex digits is ignored.
inline Bytes hex(const std::string& s) {
  Bytes out;
  int nibble = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<uint8_t>(nibble << 4 | v));
      nibble = -1;
    }
  }
  return out;
}

inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A masked client frame; b0 is FIN/RSV/opcode (0x81: a final text frame). lengthForm 0 picks the
// minimal length encoding; 16 or 64 forces a longer one.
inline Bytes clientFrame(uint8_t b0, const std::string& payload, int lengthForm = 0, const uint8_t* mask = RFC_MASK) {
  Bytes out = {b0};
  const uint64_t n = payload.size();
  if (lengthForm == 0) lengthForm = n < 126 ? 7 : n <= 0xFFFF ? 16 : 64;
  if (lengthForm == 7) {
    out.push_back(static_cast<uint8_t>(0x80 | n));
  } else if (lengthForm == 16) {
    out.push_back(0x80 | 126);
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
  } else {
    out.push_back(0x80 | 127);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (56 - 8 * i)));
  }
  out.insert(out.end(), mask, mask + 4);
  for (size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<uint8_t>(payload[i]) ^ mask[i & 3]);
  return out;
}

inline std::string toString(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// A valid upgrade request; the server answers it with accept key s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
inline const char* const UPGRADE_REQUEST =
    "GET /chat?x=1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
inline const char* const UPGRADE_ACCEPT_KEY = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

}  // namespace wire
