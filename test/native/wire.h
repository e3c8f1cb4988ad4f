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

// One frame as a server sends it (unmasked), decoded strictly: what a client must accept.
struct ServerFrame {
  uint8_t opcode = 0;
  bool fin = false;
  std::string payload;
};
enum class Decoded { FRAME, NEED_MORE, INVALID };

// Decodes the frame at `at` in `bytes` and advances `at` past it. INVALID: a mask, RSV bits, an
// unknown opcode, a fragmented or oversized control frame, or a non-minimal length.
inline Decoded decodeServerFrame(const std::string& bytes, size_t& at, ServerFrame& out) {
  size_t left = bytes.size() - at;
  if (left < 2) return Decoded::NEED_MORE;
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + at;
  uint8_t opcode = p[0] & 0x0f;
  bool fin = (p[0] & 0x80) != 0;
  bool control = opcode >= 0x8;
  if ((p[0] & 0x70) || (p[1] & 0x80)) return Decoded::INVALID;
  if (!(opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa))) return Decoded::INVALID;
  uint64_t length = p[1] & 0x7f;
  size_t header = 2;
  if (length == 126) {
    if (left < 4) return Decoded::NEED_MORE;
    length = static_cast<uint64_t>(p[2]) << 8 | p[3];
    header = 4;
    if (length < 126) return Decoded::INVALID;
  } else if (length == 127) {
    if (left < 10) return Decoded::NEED_MORE;
    length = 0;
    for (int i = 0; i < 8; ++i) length = length << 8 | p[2 + i];
    header = 10;
    if (length <= 0xFFFF) return Decoded::INVALID;
  }
  if (control && (!fin || length > 125)) return Decoded::INVALID;
  if (left - header < length) return Decoded::NEED_MORE;
  out.opcode = opcode;
  out.fin = fin;
  out.payload.assign(bytes, at + header, static_cast<size_t>(length));
  at += header + static_cast<size_t>(length);
  return Decoded::FRAME;
}

// A valid upgrade request; the server answers it with accept key s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
inline const char* const UPGRADE_REQUEST =
    "GET /chat?x=1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
inline const char* const UPGRADE_ACCEPT_KEY = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

}  // namespace wire
