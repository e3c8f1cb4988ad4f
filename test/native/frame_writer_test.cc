// Server frame headers: sizes at the 7/16/64-bit boundaries, exact bytes, and a round trip through
// the parser (after masking, as a client would send it).
#include <cstdint>
#include <string>
#include <vector>

#include "check.h"
#include "frame_parser.h"
#include "frame_writer.h"

using namespace epollws;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes header(Opcode op, uint64_t length, bool fin = true, bool rsv1 = false) {
  uint8_t out[MAX_FRAME_HEADER + 4];
  std::memset(out, 0xEE, sizeof out);
  const size_t n = writeFrameHeader(out, op, length, fin, rsv1);
  for (size_t i = n; i < sizeof out; ++i) CHECK_EQ(out[i], uint8_t{0xEE});  // nothing past the header
  return Bytes(out, out + n);
}

struct Collector {
  std::string text;
  Opcode op = Opcode::CONTINUATION;
  bool last = false;
  bool compressed = false;
  bool onDataChunk(Opcode o, uint8_t* data, size_t len, bool, bool l, bool c) {
    op = o;
    text.append(reinterpret_cast<char*>(data), len);
    last = l;
    compressed = c;
    return false;
  }
  bool onControl(Opcode o, uint8_t* data, size_t len) {
    op = o;
    text.assign(reinterpret_cast<char*>(data), len);
    last = true;
    return false;
  }
  void onProtocolError(ErrorCode, uint32_t) { op = Opcode::CONTINUATION; }
};

// Writes a frame, sets the MASK bit and masks the payload, then parses it back.
void roundTrip(Opcode op, const std::string& payload, bool rsv1 = false) {
  uint8_t head[MAX_FRAME_HEADER];
  const size_t n = writeFrameHeader(head, op, payload.size(), true, rsv1);
  CHECK_EQ(n, frameHeaderSize(payload.size()));
  const uint8_t mask[4] = {9, 8, 7, 6};
  Bytes wire(head, head + n);
  wire[1] |= 0x80;
  wire.insert(wire.end(), mask, mask + 4);
  for (size_t i = 0; i < payload.size(); ++i) wire.push_back(static_cast<uint8_t>(payload[i]) ^ mask[i & 3]);
  FrameParserOptions options;
  options.rsv1Allowed = rsv1;
  FrameParser<Collector> parser(options);
  Collector c;
  CHECK(parser.consume(wire.data(), wire.size(), c));
  CHECK(c.op == op);
  CHECK(c.last);
  CHECK_EQ(c.compressed, rsv1);
  CHECK(c.text == payload);
}

}  // namespace

int main() {
  CHECK_EQ(frameHeaderSize(0), size_t{2});
  CHECK_EQ(frameHeaderSize(125), size_t{2});
  CHECK_EQ(frameHeaderSize(126), size_t{4});
  CHECK_EQ(frameHeaderSize(65535), size_t{4});
  CHECK_EQ(frameHeaderSize(65536), size_t{10});
  CHECK_EQ(frameHeaderSize(UINT64_C(1) << 40), size_t{10});
  static_assert(frameHeaderSize(65536) == MAX_FRAME_HEADER, "usable in constant expressions");

  CHECK(header(Opcode::TEXT, 0) == (Bytes{0x81, 0x00}));
  CHECK(header(Opcode::TEXT, 125) == (Bytes{0x81, 0x7D}));
  CHECK(header(Opcode::BINARY, 126) == (Bytes{0x82, 0x7E, 0x00, 0x7E}));
  CHECK(header(Opcode::BINARY, 65535) == (Bytes{0x82, 0x7E, 0xFF, 0xFF}));
  CHECK(header(Opcode::BINARY, 65536) == (Bytes{0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
  CHECK(header(Opcode::BINARY, UINT64_C(0x0102030405060708)) ==
        (Bytes{0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(header(Opcode::CLOSE, 2) == (Bytes{0x88, 0x02}));
  CHECK(header(Opcode::PING, 0) == (Bytes{0x89, 0x00}));
  CHECK(header(Opcode::PONG, 5) == (Bytes{0x8A, 0x05}));
  CHECK(header(Opcode::TEXT, 3, false) == (Bytes{0x01, 0x03}));
  CHECK(header(Opcode::CONTINUATION, 3, true) == (Bytes{0x80, 0x03}));
  CHECK(header(Opcode::TEXT, 3, true, true) == (Bytes{0xC1, 0x03}));
  // RFC 6455 §5.7: an unmasked "Hello" starts 81 05.
  CHECK(header(Opcode::TEXT, 5) == (Bytes{0x81, 0x05}));

  roundTrip(Opcode::TEXT, "");
  roundTrip(Opcode::TEXT, "Hello");
  roundTrip(Opcode::BINARY, std::string(125, 'a'));
  roundTrip(Opcode::BINARY, std::string(126, 'b'));
  roundTrip(Opcode::BINARY, std::string(65535, 'c'));
  roundTrip(Opcode::BINARY, std::string(65536, 'd'));
  roundTrip(Opcode::PING, std::string(125, 'e'));
  roundTrip(Opcode::BINARY, "zz", true);
  return CHECK_SUMMARY("frame_writer_test");
}
