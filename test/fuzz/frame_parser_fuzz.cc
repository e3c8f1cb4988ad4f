// libFuzzer target for FrameParser. The first input byte picks the options and how the rest is cut;
// the rest is the client byte stream. Each input is parsed whole and cut into chunks, each piece in
// its own exact-size heap buffer (ASan flags any overrun), with a small and a large maxPayload. Checks:
// chunk ordering flags, control and close payload rules, UTF-8 of text, the maxPayload bound, payload
// byte totals against an independent walk over the frame headers, and that cutting changes nothing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "frame_parser.h"

using namespace epollws;

namespace {

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

struct FuzzHandler {
  FrameParserOptions options;
  uint64_t digest = 1469598103934665603ULL;  // FNV-1a over committed events; independent of cuts
  uint64_t dataBytes = 0;                    // every data byte handed out
  uint64_t controlBytes = 0;
  bool inMessage = false;
  bool messageCompressed = false;
  Opcode messageOp = Opcode::CONTINUATION;
  std::string message;  // the open message, to re-check UTF-8 and the size bound at its end
  bool errored = false;

  void mix(uint8_t b) { digest = (digest ^ b) * 1099511628211ULL; }
  void mixBytes(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) mix(p[i]);
  }

  bool onDataChunk(Opcode op, uint8_t* data, size_t len, bool first, bool last, bool compressed) {
    require(!errored, "callback after an error");
    require(data != nullptr, "null data");
    require(op == Opcode::TEXT || op == Opcode::BINARY, "data opcode");
    require(first != inMessage, "first flag out of order");
    require(len != 0 || last, "empty non-final chunk");
    require(!compressed || options.rsv1Allowed, "compressed without rsv1Allowed");
    if (!first) require(op == messageOp && compressed == messageCompressed, "opcode/flag changed mid-message");
    message.append(reinterpret_cast<const char*>(data), len);  // reads every byte handed out
    dataBytes += len;
    inMessage = !last;
    messageOp = op;
    messageCompressed = compressed;
    if (last) {
      const uint8_t* m = reinterpret_cast<const uint8_t*>(message.data());
      if (op == Opcode::TEXT && !compressed) require(isValidUtf8(m, message.size()), "text not UTF-8");
      if (options.maxPayload != 0) require(message.size() <= options.maxPayload, "message over maxPayload");
      mix(static_cast<uint8_t>(op));
      mix(compressed);
      mixBytes(m, message.size());
      message.clear();
    }
    return false;
  }

  bool onControl(Opcode op, uint8_t* payload, size_t len) {
    require(!errored, "callback after an error");
    require(op == Opcode::CLOSE || op == Opcode::PING || op == Opcode::PONG, "control opcode");
    require(len <= MAX_CONTROL_PAYLOAD, "control payload too long");
    require(len == 0 || payload != nullptr, "null control payload");
    if (op == Opcode::CLOSE && len != 0) {
      require(len >= 2, "close payload of one byte");
      require(isValidCloseCode(static_cast<uint16_t>(payload[0] << 8 | payload[1])), "close code");
      require(isValidUtf8(payload + 2, len - 2), "close reason");
    }
    controlBytes += len;
    mix(static_cast<uint8_t>(op));
    mixBytes(payload, len);
    return false;
  }

  void onProtocolError(ErrorCode code, uint32_t /*detail*/) {
    require(!errored, "two errors");
    require(code != ErrorCode::NONE && code < ErrorCode::COUNT, "error code");
    errored = true;
    mix(0xEE);
    mix(static_cast<uint8_t>(code));
  }
};

struct Outcome {
  uint64_t digest;
  uint64_t dataBytes;
  uint64_t controlBytes;
  bool errored;
  bool atBoundary;
};

// Sum of the declared payload lengths of the complete frames in the stream, if it ends on a frame
// boundary (else returns false). Decodes headers only; validates nothing.
bool declaredPayloadTotal(const uint8_t* p, size_t n, uint64_t* total) {
  *total = 0;
  size_t i = 0;
  while (i < n) {
    if (n - i < 2) return false;
    const uint8_t len7 = p[i + 1] & 0x7F;
    const size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    const size_t headerSize = 2 + extended + ((p[i + 1] & 0x80) ? 4 : 0);
    if (n - i < headerSize) return false;
    uint64_t length = len7;
    if (extended) {
      length = 0;
      for (size_t k = 0; k < extended; ++k) length = length << 8 | p[i + 2 + k];
    }
    i += headerSize;
    if (length > n - i) return false;
    i += static_cast<size_t>(length);
    *total += length;
  }
  return true;
}

Outcome parse(const uint8_t* data, size_t size, FrameParserOptions options, uint8_t cutSeed) {
  FuzzHandler handler;
  handler.options = options;
  FrameParser<FuzzHandler> parser(options);
  // cutSeed 0 = whole; otherwise chunk sizes from a small xorshift, up to a seed-dependent maximum.
  static const size_t MAX_CHUNK[] = {1, 2, 3, 5, 8, 14, 15, 64, 200};
  const size_t maxChunk = MAX_CHUNK[cutSeed % (sizeof MAX_CHUNK / sizeof MAX_CHUNK[0])];
  uint32_t rng = 0x9E3779B9u ^ cutSeed;
  size_t at = 0;
  while (at < size) {
    size_t chunk = size - at;
    if (cutSeed != 0) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      const size_t want = 1 + rng % maxChunk;
      if (want < chunk) chunk = want;
    }
    std::unique_ptr<uint8_t[]> piece(new uint8_t[chunk]);
    std::memcpy(piece.get(), data + at, chunk);
    at += chunk;
    const bool ok = parser.consume(piece.get(), chunk, handler);
    require(ok == !parser.failed(), "consume() result disagrees with failed()");
    require(ok || handler.errored, "consume() failed without an error");
    if (!ok) break;
  }
  const Outcome outcome = {handler.digest, handler.dataBytes, handler.controlBytes, handler.errored,
                           parser.atFrameBoundary()};
  if (!outcome.errored && outcome.atBoundary) {
    require(!handler.inMessage || parser.inFragmentedMessage(), "open message not reported");
    uint64_t declared;
    require(declaredPayloadTotal(data, size, &declared), "parser at a boundary where headers say not");
    require(declared == outcome.dataBytes + outcome.controlBytes, "payload bytes differ from declared lengths");
  }
  return outcome;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.digest == b.digest && a.errored == b.errored && (a.errored || a.atBoundary == b.atBoundary);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t config = data[0];
  ++data;
  --size;
  FrameParserOptions options;
  options.rsv1Allowed = (config & 1) != 0;
  const uint8_t cutSeed = static_cast<uint8_t>((config >> 1) | 1);  // never 0: always really cut

  for (uint64_t maxPayload : {uint64_t{48}, uint64_t{100} * 1024 * 1024}) {
    options.maxPayload = maxPayload;
    const Outcome whole = parse(data, size, options, 0);
    const Outcome chunked = parse(data, size, options, cutSeed);
    require(same(whole, chunked), "cutting the input changed the result");
  }
  options.maxPayload = 0;
  parse(data, size, options, cutSeed);
  return 0;
}
