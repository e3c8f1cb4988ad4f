// libFuzzer target for the inflate path: one Connection with permessage-deflate negotiated (window
// bits and context takeover from the input), fed client frames whose payloads are either the
// fuzzer's bytes as they are (corrupt deflate data, RSV1 in odd places) or those bytes deflated by a
// real client compressor (so inflate reaches deep into valid streams), cut at fuzzer-chosen points.
// Checks, besides ASan/UBSan and the leak checker: no message is larger than maxPayload, every text
// message is valid UTF-8, every message of a well-formed compressed stream comes out as it went in,
// and a failed connection reports exactly one protocol error and nothing after it.
//
// Input: byte 0 = parameters; then records [flags][len][len bytes]: flags bit 0 FIN, bit 1 RSV1,
// bits 2-3 opcode (cont, text, binary, ping), bit 4 compress the bytes first, bits 5-7 a split.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "../native/connection_harness.h"
#include "../native/wire.h"
#include "utf8.h"

using namespace harness;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "permessage_deflate_fuzz: %s\n", what);
    std::abort();
  }
}

struct ClientDeflater {
  explicit ClientDeflater(int bits) {
    z = {};
    deflateInit2(&z, 1, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
  }
  ~ClientDeflater() { deflateEnd(&z); }
  std::string compress(const std::string& in, bool stripTail) {
    std::string out(in.size() + 128, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(&out[0]);
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_SYNC_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (out.empty()) return stripTail ? std::string(1, '\0') : std::string();  // zlib skips a repeated empty flush
    if (stripTail) out.resize(out.size() - 4);
    return out;
  }
  z_stream z;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t p = data[0];
  ServerOptions options;
  options.maxPayload = 1 << 16;  // small, so that inflating past it is reachable
  options.maxFragments = 64;
  Rig rig(options);
  DeflateParams params;
  params.clientMaxWindowBits = static_cast<uint8_t>(8 + (p & 7));
  params.clientNoContextTakeover = (p & 8) != 0;
  params.serverNoContextTakeover = (p & 16) != 0;
  DeflateOptions deflateOptions;
  deflateOptions.threshold = 0;
  rig.conn.ensureExtras().deflate = std::make_unique<PerMessageDeflate>(params, deflateOptions);
  rig.conn.parser.allowRsv1();
  // The client's compressor: zlib takes 9 for 8, as browsers do.
  int bits = params.clientMaxWindowBits < 9 ? 9 : params.clientMaxWindowBits;
  ClientDeflater client(bits);

  // Expected messages, when every frame so far was a compressed, well-formed message frame.
  std::string expected;
  bool wellFormed = true;
  bool inMessage = false;
  bool text = false;
  Utf8Validator utf8;
  size_t fragments = 0;
  std::vector<std::string> expectedMessages;

  size_t at = 1;
  while (at + 2 <= size && rig.conn.state == ConnState::OPEN) {
    uint8_t flags = data[at];
    size_t len = data[at + 1];
    at += 2;
    if (len > size - at) len = size - at;
    std::string bytes(reinterpret_cast<const char*>(data + at), len);
    at += len;
    bool fin = flags & 1;
    bool rsv1 = flags & 2;
    int op = (flags >> 2) & 3;
    bool compress = flags & 16;
    uint8_t opcode = op == 3 ? 0x9 : static_cast<uint8_t>(op);
    bool control = opcode == 0x9;
    // A non-final fragment keeps its sync-flush tail; only the message's end drops it.
    std::string payload = compress && !control ? client.compress(bytes, fin) : bytes;
    // Track what a correct server must deliver for a stream of good compressed messages.
    if (control) {
      if (rsv1 || !fin || payload.size() > 125) wellFormed = false;
    } else {
      bool good = compress && (opcode == 0 ? inMessage && !rsv1 : !inMessage && rsv1);
      if (!good) wellFormed = false;
      if (opcode != 0) {
        expected.clear();
        fragments = 0;
        text = opcode == 1;
        utf8.reset();
      }
      expected += bytes;
      // The server validates inflated text as it comes: a bad prefix fails before the end.
      if (text && !utf8.feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) wellFormed = false;
      ++fragments;
      inMessage = !fin;
      if (fragments > options.maxFragments || expected.size() > options.maxPayload) wellFormed = false;
      if (fin) {
        if (text && !isValidUtf8(reinterpret_cast<const uint8_t*>(expected.data()), expected.size())) {
          wellFormed = false;
        }
        expectedMessages.push_back(expected);
      }
      // Without client context takeover the server forgets between messages: so must we.
      if (params.clientNoContextTakeover && compress && fin) deflateReset(&client.z);
    }
    std::string frame = wire::toString(wire::clientFrame(
        static_cast<uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode), payload));
    size_t cut = frame.size() * ((flags >> 5) & 7) / 8;
    rig.feed(frame.substr(0, cut));
    rig.feed(frame.substr(cut));
  }

  int errors = 0;
  size_t message = 0;
  for (const EventRecord& r : rig.batch.records) {
    require(errors == 0 || r.kind == static_cast<uint32_t>(EventKind::ERROR), "an event after the error");
    if (r.kind == static_cast<uint32_t>(EventKind::ERROR)) ++errors;
    if (r.kind != static_cast<uint32_t>(EventKind::MESSAGE)) continue;
    std::string got = rig.payloadOf(r);
    require(got.size() <= options.maxPayload, "a message over maxPayload");
    if (!(r.arg & MESSAGE_BINARY)) {
      require(isValidUtf8(reinterpret_cast<const uint8_t*>(got.data()), got.size()), "invalid UTF-8 in a text message");
    }
    if (wellFormed && message < expectedMessages.size()) {
      require(got == expectedMessages[message], "an inflated message differs from what was compressed");
    }
    ++message;
  }
  require(errors <= 1, "more than one protocol error");
  if (wellFormed) require(errors == 0 && message == expectedMessages.size(), "a good stream was refused");
  return 0;
}
