// FrameParser: RFC 6455 §5 rules, split reads at every position, fragmentation, limits, close payload
// validation, handler stops; plus unmaskInPlace against a naive loop. Frames are written as hex, as in ws.
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "wire.h"
#include "frame_parser.h"
#include "unmask.h"

using namespace epollws;

namespace {

using Bytes = std::vector<uint8_t>;

using wire::hex;
using wire::RFC_MASK;
using wire::operator+;

Bytes frame(uint8_t b0, const std::string& payload, int lengthForm = 0, const uint8_t* mask = RFC_MASK) {
  return wire::clientFrame(b0, payload, lengthForm, mask);
}

std::string closePayload(uint16_t code, const std::string& reason = "") {
  return std::string(1, static_cast<char>(code >> 8)) + std::string(1, static_cast<char>(code & 0xFF)) + reason;
}

const char* opName(Opcode op) {
  switch (op) {
    case Opcode::TEXT: return "text";
    case Opcode::BINARY: return "binary";
    case Opcode::CLOSE: return "close";
    case Opcode::PING: return "ping";
    case Opcode::PONG: return "pong";
    default: return "?";
  }
}

// Records chunk-level and message-level logs and checks the chunk-order invariants on the way.
struct Recorder {
  std::vector<std::string> chunks;    // "text FL-:payload" (F first, L last, C compressed)
  std::vector<std::string> messages;  // "text:payload", "ping:payload", "error:WS_ERR_..."
  std::string pending;
  bool inMessage = false;
  Opcode messageOp = Opcode::CONTINUATION;
  int violations = 0;
  int calls = 0;
  int stopAtCall = 0;  // return true from this call (1-based); 0 = never
  const uint8_t* lastEnd = nullptr;
  uint32_t lastDetail = 0xFFFFFFFF;  // onProtocolError's detail; none yet

  bool stop() { return ++calls == stopAtCall; }

  bool onDataChunk(Opcode op, uint8_t* data, size_t len, bool first, bool last, bool compressed) {
    if (data == nullptr) ++violations;
    if (op != Opcode::TEXT && op != Opcode::BINARY) ++violations;
    if (first == inMessage) ++violations;
    if (!first && op != messageOp) ++violations;
    if (len == 0 && !last) ++violations;
    std::string payload(reinterpret_cast<char*>(data), len);
    chunks.push_back(std::string(opName(op)) + " " + (first ? "F" : "-") + (last ? "L" : "-") +
                     (compressed ? "C" : "-") + ":" + payload);
    inMessage = !last;
    messageOp = op;
    pending += payload;
    if (last) {
      messages.push_back(std::string(opName(op)) + (compressed ? "(c)" : "") + ":" + pending);
      pending.clear();
    }
    lastEnd = data + len;
    return stop();
  }

  bool onControl(Opcode op, uint8_t* payload, size_t len) {
    if (len > MAX_CONTROL_PAYLOAD || (len != 0 && payload == nullptr)) ++violations;
    messages.push_back(std::string(opName(op)) + ":" + std::string(reinterpret_cast<char*>(payload), len));
    return stop();
  }

  void onProtocolError(ErrorCode code, uint32_t detail) {
    messages.push_back(std::string("error:") + errorCodeName(code));
    lastDetail = detail;
    ++calls;
  }

  std::string joined() const {
    std::string s;
    for (const std::string& m : messages) s += (s.empty() ? "" : "|") + m;
    return s;
  }
};

struct FeedResult {
  Recorder rec;
  bool ok = true;
  bool atBoundary = false;
  bool inFragmented = false;
};

// Feeds wire cut at the given sorted positions, each piece in its own exact-size heap buffer so that
// ASan flags any access outside it.
FeedResult feed(const Bytes& wire, const std::vector<size_t>& cuts = {}, FrameParserOptions options = {}) {
  FeedResult r;
  FrameParser<Recorder> parser(options);
  size_t prev = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (size_t end : ends) {
    if (end <= prev) continue;
    Bytes piece(wire.begin() + static_cast<long>(prev), wire.begin() + static_cast<long>(end));
    prev = end;
    if (!parser.consume(piece.data(), piece.size(), r.rec)) {
      r.ok = false;
      break;
    }
  }
  r.atBoundary = parser.atFrameBoundary();
  r.inFragmented = parser.inFragmentedMessage();
  return r;
}

Bytes prefix(const Bytes& wire, size_t n) { return Bytes(wire.begin(), wire.begin() + static_cast<long>(n)); }

FeedResult feedBytewise(const Bytes& wire, FrameParserOptions options = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return feed(wire, cuts, options);
}

std::string run(const Bytes& wire, FrameParserOptions options = {}) { return feed(wire, {}, options).rec.joined(); }

// The message log must not depend on how the stream is cut: whole, byte by byte, at every single cut,
// and (for short streams) at every pair of cuts.
void checkAllSplits(const Bytes& wire, const std::string& expected, bool pairs) {
  FeedResult whole = feed(wire);
  CHECK_EQ(whole.rec.joined(), expected);
  CHECK_EQ(whole.rec.violations, 0);
  FeedResult bytewise = feedBytewise(wire);
  CHECK_EQ(bytewise.rec.joined(), expected);
  CHECK_EQ(bytewise.rec.violations, 0);
  int mismatches = 0;
  for (size_t i = 1; i < wire.size(); ++i) {
    FeedResult r = feed(wire, {i});
    if (r.rec.joined() != expected || r.rec.violations != 0) ++mismatches;
    if (!pairs) continue;
    for (size_t j = i + 1; j < wire.size(); ++j) {
      FeedResult r2 = feed(wire, {i, j});
      if (r2.rec.joined() != expected || r2.rec.violations != 0) ++mismatches;
    }
  }
  CHECK_EQ(mismatches, 0);
}

void testRfcExamples() {
  // RFC 6455 §5.7: a single-frame masked text message "Hello".
  const Bytes hello = hex("81 85 37fa213d 7f9f4d5158");
  CHECK_EQ(run(hello), std::string("text:Hello"));
  FeedResult r = feed(hello);
  CHECK(r.ok && r.atBoundary && !r.inFragmented);
  CHECK_EQ(r.rec.chunks.size(), size_t{1});
  CHECK_EQ(r.rec.chunks[0], std::string("text FL-:Hello"));
  // Fragmented "Hel" + "lo", and a masked ping "Hello" (same payload bytes, opcode 9).
  CHECK_EQ(run(frame(0x01, "Hel") + frame(0x80, "lo")), std::string("text:Hello"));
  CHECK_EQ(run(hex("89 85 37fa213d 7f9f4d5158")), std::string("ping:Hello"));
}

void testEveryHeaderSplit() {
  checkAllSplits(hex("81 85 37fa213d 7f9f4d5158"), "text:Hello", true);
  const uint8_t zeroMask[4] = {0, 0, 0, 0};
  const uint8_t oddMask[4] = {0xff, 0x00, 0x81, 0x7e};
  checkAllSplits(frame(0x82, "abcdefghij", 7, zeroMask), "binary:abcdefghij", true);
  // 16-bit and 64-bit length fields, also with short payloads in the longer (non-minimal) forms.
  checkAllSplits(frame(0x81, "0123456789", 16, oddMask), "text:0123456789", true);
  checkAllSplits(frame(0x81, "0123456789", 64, oddMask), "text:0123456789", true);
  std::string big(300, 'q');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  checkAllSplits(frame(0x82, big, 0, oddMask), "binary:" + big, false);
  // A real 64-bit length, fed byte by byte and cut around the header and the end.
  std::string huge(70000, 'z');
  for (size_t i = 0; i < huge.size(); i += 7) huge[i] = static_cast<char>('A' + i % 26);
  const Bytes hugeFrame = frame(0x82, huge, 0, oddMask);
  CHECK_EQ(hugeFrame.size(), huge.size() + 14);
  CHECK_EQ(feedBytewise(hugeFrame).rec.joined(), "binary:" + huge);
  for (size_t i = 1; i < 20; ++i) CHECK_EQ(feed(hugeFrame, {i}).rec.joined(), "binary:" + huge);
  for (size_t i = hugeFrame.size() - 5; i < hugeFrame.size(); ++i)
    CHECK_EQ(feed(hugeFrame, {i}).rec.joined(), "binary:" + huge);
  // A full 125-byte control frame assembled from split reads (the mask rotates inside the parser).
  std::string ping(125, 'p');
  for (size_t i = 0; i < ping.size(); ++i) ping[i] = static_cast<char>(' ' + i % 90);
  checkAllSplits(frame(0x89, ping, 0, oddMask), "ping:" + ping, false);
  // Several frames back to back: every header boundary gets cut at every place, twice.
  const Bytes stream = frame(0x01, "Hel") + frame(0x89, "p!") + frame(0x00, "lo,") + frame(0x8A, "") +
                       frame(0x80, " w\xC3\xB6rld") + frame(0x82, "") + frame(0x88, closePayload(1000, "bye"));
  checkAllSplits(stream, "ping:p!|pong:|text:Hello, w\xC3\xB6rld|binary:|close:" + closePayload(1000, "bye"),
                 true);
}

void testFragmentation() {
  // Interleaved control frames between fragments; chunks carry first/last and the message opcode.
  const Bytes wire = frame(0x02, "ab") + frame(0x89, "x") + frame(0x00, "cd") + frame(0x8A, "y") + frame(0x80, "ef");
  FeedResult r = feed(wire);
  CHECK_EQ(r.rec.joined(), std::string("ping:x|pong:y|binary:abcdef"));
  CHECK_EQ(r.rec.chunks.size(), size_t{3});
  CHECK_EQ(r.rec.chunks[0], std::string("binary F--:ab"));
  CHECK_EQ(r.rec.chunks[1], std::string("binary ---:cd"));
  CHECK_EQ(r.rec.chunks[2], std::string("binary -L-:ef"));
  // State queries between frames.
  FeedResult half = feed(frame(0x01, "ab"));
  CHECK(half.ok && half.atBoundary && half.inFragmented);
  FeedResult mid = feed(prefix(frame(0x81, "abcd"), 8));
  CHECK(mid.ok && !mid.atBoundary && mid.inFragmented);
  FeedResult midHeader = feed(prefix(frame(0x81, "abcd"), 3));
  CHECK(midHeader.ok && !midHeader.atBoundary);
  FeedResult midPing = feed(prefix(frame(0x01, "ab") + frame(0x89, "abcd"), 10));
  CHECK(midPing.ok && !midPing.atBoundary && midPing.inFragmented);
  CHECK_EQ(midPing.rec.chunks.size(), size_t{1});
  // Chunks are emitted as bytes arrive, never held back.
  FeedResult partial = feed(prefix(frame(0x82, "abcdefgh"), 9));
  CHECK_EQ(partial.rec.chunks.size(), size_t{1});
  CHECK_EQ(partial.rec.chunks[0], std::string("binary F--:abc"));
}

void testEmptyMessages() {
  FeedResult r = feed(frame(0x81, ""));
  CHECK_EQ(r.rec.chunks.size(), size_t{1});
  CHECK_EQ(r.rec.chunks[0], std::string("text FL-:"));
  CHECK_EQ(run(frame(0x82, "")), std::string("binary:"));
  // Empty fragments: nothing until the FIN frame, which ends the message.
  FeedResult frags = feed(frame(0x01, "") + frame(0x00, "") + frame(0x80, ""));
  CHECK_EQ(frags.rec.chunks.size(), size_t{1});
  CHECK_EQ(frags.rec.chunks[0], std::string("text FL-:"));
  FeedResult tail = feed(frame(0x01, "ab") + frame(0x00, "") + frame(0x80, ""));
  CHECK_EQ(tail.rec.chunks.size(), size_t{2});
  CHECK_EQ(tail.rec.chunks[1], std::string("text -L-:"));
  CHECK_EQ(tail.rec.violations, 0);
  CHECK_EQ(run(frame(0x89, "") + frame(0x8A, "") + frame(0x88, "")), std::string("ping:|pong:|close:"));
  // Feeding nothing is harmless.
  FrameParser<Recorder> parser;
  Recorder rec;
  uint8_t dummy = 0;
  CHECK(parser.consume(&dummy, 0, rec));
  CHECK(rec.messages.empty());
}

struct ErrorCase {
  const char* name;
  Bytes wire;
  ErrorCode code;
  size_t detectAt;  // the error must be reported once this many bytes have arrived, not before
  FrameParserOptions options;
};

void testErrors() {
  const Bytes mask = hex("37fa213d");
  FrameParserOptions deflate;
  deflate.rsv1Allowed = true;
  FrameParserOptions small;
  small.maxPayload = 10;
  const Bytes open = frame(0x01, "ab");  // 8 bytes: a fragmented text message in progress
  std::vector<ErrorCase> cases = {
      {"rsv2", frame(0xA1, "x"), ErrorCode::UNEXPECTED_RSV_2_3, 1, {}},
      {"rsv3", frame(0x91, "x"), ErrorCode::UNEXPECTED_RSV_2_3, 1, {}},
      {"rsv1 without extension", frame(0xC1, "x"), ErrorCode::UNEXPECTED_RSV_1, 1, {}},
      {"rsv1 on continuation", frame(0x41, "x") + frame(0xC0, "y"), ErrorCode::UNEXPECTED_RSV_1, 8, deflate},
      {"rsv1 on ping", frame(0xC9, ""), ErrorCode::UNEXPECTED_RSV_1, 1, deflate},
      {"rsv1 on close", frame(0xC8, ""), ErrorCode::UNEXPECTED_RSV_1, 1, deflate},
      {"continuation first", frame(0x80, "x"), ErrorCode::INVALID_OPCODE, 1, {}},
      {"text inside fragmented", open + frame(0x81, "x"), ErrorCode::INVALID_OPCODE, 9, {}},
      {"binary inside fragmented", open + frame(0x02, "x"), ErrorCode::INVALID_OPCODE, 9, {}},
      {"continuation after end", frame(0x81, "x") + frame(0x80, "y"), ErrorCode::INVALID_OPCODE, 8, {}},
      {"fragmented ping", frame(0x09, ""), ErrorCode::EXPECTED_FIN, 1, {}},
      {"fragmented close", frame(0x08, ""), ErrorCode::EXPECTED_FIN, 1, {}},
      {"ping 126", hex("89 fe 007e") + mask, ErrorCode::INVALID_CONTROL_PAYLOAD_LENGTH, 2, {}},
      {"close 127", hex("88 ff 0000000000000001") + mask, ErrorCode::INVALID_CONTROL_PAYLOAD_LENGTH, 2, {}},
      {"unmasked", hex("81 05 48656c6c6f"), ErrorCode::EXPECTED_MASK, 2, {}},
      {"unmasked ping", hex("89 00"), ErrorCode::EXPECTED_MASK, 2, {}},
      {"64-bit top bit", hex("82 ff 8000000000000000") + mask, ErrorCode::UNSUPPORTED_DATA_PAYLOAD_LENGTH, 10, {}},
      {"64-bit all ones", hex("82 ff ffffffffffffffff") + mask, ErrorCode::UNSUPPORTED_DATA_PAYLOAD_LENGTH, 10,
       {0, false}},
      {"max 7-bit", frame(0x82, "0123456789a"), ErrorCode::UNSUPPORTED_MESSAGE_LENGTH, 2, small},
      {"max 16-bit", frame(0x82, "0123456789a", 16), ErrorCode::UNSUPPORTED_MESSAGE_LENGTH, 4, small},
      {"max 64-bit", frame(0x82, "0123456789a", 64), ErrorCode::UNSUPPORTED_MESSAGE_LENGTH, 10, small},
      {"max default", hex("82 ff 0000000006400001") + mask, ErrorCode::UNSUPPORTED_MESSAGE_LENGTH, 10, {}},
      {"max across fragments", frame(0x02, "01234") + frame(0x80, "56789a"), ErrorCode::UNSUPPORTED_MESSAGE_LENGTH,
       13, small},
      {"max across three fragments", frame(0x02, "0123") + frame(0x00, "4567") + frame(0x80, "89a"),
       ErrorCode::UNSUPPORTED_MESSAGE_LENGTH, 22, small},
      {"close 1 byte", frame(0x88, "x"), ErrorCode::INVALID_CLOSE_PAYLOAD_LENGTH, 7, {}},
      {"close reason utf8", frame(0x88, closePayload(1000, "ok\xFF")), ErrorCode::INVALID_UTF8, 11, {}},
      {"close reason truncated", frame(0x88, closePayload(1000, "\xE2\x82")), ErrorCode::INVALID_UTF8, 10, {}},
      {"text utf8 fail fast", frame(0x81, "ab\xC0\x80zz"), ErrorCode::INVALID_UTF8, 9, {}},
      {"text truncated", frame(0x81, "ab\xE2\x82"), ErrorCode::INVALID_UTF8, 10, {}},
      {"fragment fail fast", frame(0x01, "\xED\xA0") + frame(0x80, "\x80"), ErrorCode::INVALID_UTF8, 8, {}},
      {"fragments truncated", frame(0x01, "\xF0\x9F") + frame(0x80, "\x98"), ErrorCode::INVALID_UTF8, 15, {}},
      {"text >10FFFF", frame(0x81, "\xF4\x90\x80\x80"), ErrorCode::INVALID_UTF8, 8, {}},
  };
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    cases.push_back({"reserved opcode", frame(static_cast<uint8_t>(0x80 | op), ""), ErrorCode::INVALID_OPCODE, 1, {}});
  }
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    cases.push_back({"close code", frame(0x88, closePayload(code)), ErrorCode::INVALID_CLOSE_CODE, 8, {}});
  }
  for (const ErrorCase& c : cases) {
    const std::string expected = std::string("error:") + errorCodeName(c.code);
    // Whole buffer: the error is the last event and consume() reports failure.
    FeedResult whole = feed(c.wire, {}, c.options);
    const bool wholeOk = !whole.ok && !whole.rec.messages.empty() && whole.rec.messages.back() == expected;
    // Byte by byte: nothing is wrong until byte detectAt, which reports it.
    FrameParser<Recorder> parser(c.options);
    Recorder rec;
    size_t reportedAt = 0;
    for (size_t i = 0; i < c.wire.size(); ++i) {
      uint8_t byte = c.wire[i];
      if (!parser.consume(&byte, 1, rec)) {
        reportedAt = i + 1;
        break;
      }
    }
    const bool bytewiseOk = reportedAt == c.detectAt && parser.failed() && rec.messages.back() == expected;
    if (!wholeOk || !bytewiseOk) {
      std::fprintf(stderr, "error case '%s': got '%s' at byte %zu\n", c.name, rec.joined().c_str(), reportedAt);
    }
    CHECK(wholeOk);
    CHECK(bytewiseOk);
    // Dead afterwards: nothing more is reported.
    const size_t events = rec.messages.size();
    Bytes more = frame(0x81, "x");
    CHECK(!parser.consume(more.data(), more.size(), rec));
    CHECK_EQ(rec.messages.size(), events);
  }
  // What ws's messages name ("invalid opcode 3", "invalid payload length 126", "invalid status code
  // 1005"), whole and byte by byte (the header then comes from the spill).
  struct DetailCase {
    Bytes wire;
    uint32_t detail;
  };
  const std::vector<DetailCase> details = {
      {frame(0x83, ""), 3},           {frame(0x8F, ""), 15},          {frame(0x80, "x"), 0},
      {open + frame(0x82, "x"), 2},   {hex("89 fe 007e") + mask, 126}, {frame(0x88, "x"), 1},
      {frame(0x88, closePayload(1005)), 1005},
  };
  for (const DetailCase& d : details) {
    CHECK_EQ(feed(d.wire, {}, {}).rec.lastDetail, d.detail);
    FrameParser<Recorder> parser{FrameParserOptions{}};
    Recorder rec;
    for (size_t i = 0; i < d.wire.size(); ++i) {
      uint8_t byte = d.wire[i];
      if (!parser.consume(&byte, 1, rec)) break;
    }
    CHECK_EQ(rec.lastDetail, d.detail);
  }
}

void testLimitsAndValidCases() {
  FrameParserOptions small;
  small.maxPayload = 10;
  CHECK_EQ(run(frame(0x82, "0123456789"), small), std::string("binary:0123456789"));
  CHECK_EQ(run(frame(0x02, "01234") + frame(0x89, "ping is not counted") + frame(0x80, "56789"), small),
           std::string("ping:ping is not counted|binary:0123456789"));
  // The count restarts with each message.
  CHECK_EQ(run(frame(0x81, "0123456789") + frame(0x81, "0123456789"), small),
           std::string("text:0123456789|text:0123456789"));
  // maxPayload 0 = no limit: a 2^62 byte header is accepted and waits for its payload.
  FeedResult unlimited = feed(hex("82 ff 4000000000000000 37fa213d 00"), {}, {0, false});
  CHECK(unlimited.ok && !unlimited.atBoundary && unlimited.inFragmented);
  CHECK_EQ(unlimited.rec.chunks.size(), size_t{1});
  // Close payloads that are fine.
  CHECK_EQ(run(frame(0x88, "")), std::string("close:"));
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999}) {
    CHECK_EQ(run(frame(0x88, closePayload(code, "r\xC3\xA9"))), "close:" + closePayload(code, "r\xC3\xA9"));
  }
  std::string longReason(123, 'r');
  CHECK_EQ(run(frame(0x88, closePayload(1000, longReason))), "close:" + closePayload(1000, longReason));
  std::string pingMax(125, 'x');
  CHECK_EQ(run(frame(0x89, pingMax)), "ping:" + pingMax);
  // UTF-8 split across fragments, with a code point cut between frames (and a ping in between).
  CHECK_EQ(run(frame(0x01, "a\xE2") + frame(0x89, "") + frame(0x00, "\x82") + frame(0x80, "\xAC!")),
           std::string("ping:|text:a\xE2\x82\xAC!"));
  checkAllSplits(frame(0x01, "\xF0\x9F") + frame(0x80, "\x98\x80"), "text:\xF0\x9F\x98\x80", true);
  // Binary is never UTF-8 checked.
  CHECK_EQ(run(frame(0x82, "\xFF\xC0")), std::string("binary:\xFF\xC0"));
}

void testRsv1() {
  FrameParserOptions deflate;
  deflate.rsv1Allowed = true;
  // Compressed text is not UTF-8 checked here (the inflater's output is); the flag covers every chunk.
  FeedResult r = feed(frame(0x41, "\xFF\xFE") + frame(0x80, "\xFD"), {}, deflate);
  CHECK(r.ok);
  CHECK_EQ(r.rec.chunks.size(), size_t{2});
  CHECK_EQ(r.rec.chunks[0], std::string("text F-C:\xFF\xFE"));
  CHECK_EQ(r.rec.chunks[1], std::string("text -LC:\xFD"));
  CHECK_EQ(run(frame(0xC2, "zz"), deflate), std::string("binary(c):zz"));
  // Uncompressed messages on a deflate connection are still checked.
  CHECK_EQ(run(frame(0x81, "\xFF"), deflate), std::string("error:WS_ERR_INVALID_UTF8"));
  // setOptions() takes effect for the next header.
  FrameParser<Recorder> parser;
  Recorder rec;
  parser.setOptions(deflate);
  Bytes wire = frame(0xC1, "x");
  CHECK(parser.consume(wire.data(), wire.size(), rec));
  CHECK_EQ(rec.joined(), std::string("text(c):x"));
}

void testHandlerStops() {
  // Stop on the first of two messages in one read: the second is not touched (still masked), and the
  // caller can resume from where the chunk ended.
  Bytes wire = frame(0x81, "one") + frame(0x81, "two");
  const Bytes original = wire;
  FrameParser<Recorder> parser;
  Recorder rec;
  rec.stopAtCall = 1;
  CHECK(!parser.consume(wire.data(), wire.size(), rec));
  CHECK_EQ(rec.joined(), std::string("text:one"));
  CHECK(!parser.failed());
  CHECK(parser.atFrameBoundary());
  const size_t used = static_cast<size_t>(rec.lastEnd - wire.data());
  CHECK_EQ(used, size_t{9});
  CHECK(std::equal(wire.begin() + 9, wire.end(), original.begin() + 9));
  CHECK(parser.consume(wire.data() + used, wire.size() - used, rec));
  CHECK_EQ(rec.joined(), std::string("text:one|text:two"));

  // Stop in a control callback.
  Bytes wire2 = frame(0x89, "a") + frame(0x81, "b");
  FrameParser<Recorder> parser2;
  Recorder rec2;
  rec2.stopAtCall = 1;
  CHECK(!parser2.consume(wire2.data(), wire2.size(), rec2));
  CHECK_EQ(rec2.joined(), std::string("ping:a"));

  // Stop on an empty message (delivered from the header step).
  Bytes wire3 = frame(0x82, "") + frame(0x82, "b");
  FrameParser<Recorder> parser3;
  Recorder rec3;
  rec3.stopAtCall = 1;
  CHECK(!parser3.consume(wire3.data(), wire3.size(), rec3));
  CHECK_EQ(rec3.joined(), std::string("binary:"));
}

// A handler that destroys the parser inside the callback and returns true (the connection closed).
struct Destroyer;
using DestroyerParser = FrameParser<Destroyer>;
struct Destroyer {
  DestroyerParser* parser = nullptr;
  int calls = 0;
  bool kill() {
    ++calls;
    delete parser;
    parser = nullptr;
    return true;
  }
  bool onDataChunk(Opcode, uint8_t*, size_t, bool, bool, bool) { return kill(); }
  bool onControl(Opcode, uint8_t*, size_t) { return kill(); }
  void onProtocolError(ErrorCode, uint32_t) { kill(); }
};

void testDestroyInsideCallback() {
  // ASan reports any use of the parser after the callback freed it.
  const Bytes wires[] = {frame(0x81, "x") + frame(0x81, "y"), frame(0x81, "") + frame(0x81, "y"),
                         frame(0x89, "x") + frame(0x81, "y"), frame(0x01, "ab"), frame(0x8F, "x")};
  for (Bytes wire : wires) {
    Destroyer d;
    d.parser = new DestroyerParser();
    CHECK(!d.parser->consume(wire.data(), wire.size(), d));
    CHECK_EQ(d.calls, 1);
    CHECK(d.parser == nullptr);
  }
  // Control payload assembled inside the parser, then the parser dies in onControl.
  Bytes wire = frame(0x89, "abcdef");
  Destroyer d;
  d.parser = new DestroyerParser();
  CHECK(d.parser->consume(wire.data(), 8, d));
  CHECK(!d.parser->consume(wire.data() + 8, wire.size() - 8, d));
  CHECK_EQ(d.calls, 1);
}

// Feeds wire in pieces ending at each cut (sorted), each in an exact-size heap buffer, and records after
// each piece whether the parser holds a control payload buffer.
struct PieceFeed {
  Recorder rec;
  std::vector<bool> held;  // after each piece
  bool ok = true;
  bool heldAtEnd = true;
};

PieceFeed feedPieces(const Bytes& wire, const std::vector<size_t>& cuts) {
  PieceFeed r;
  FrameParser<Recorder> parser;
  size_t prev = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(wire.size());
  for (size_t end : ends) {
    Bytes piece(wire.begin() + static_cast<long>(prev), wire.begin() + static_cast<long>(end));
    prev = end;
    r.ok = r.ok && parser.consume(piece.data(), piece.size(), r.rec);
    r.held.push_back(parser.holdsControlBuffer());
  }
  r.heldAtEnd = parser.holdsControlBuffer();
  return r;
}

void testSplitControlFrames() {
  // A control frame that a read cuts is assembled in a heap buffer that exists only while the frame
  // is incomplete. Cut at every byte position into two and three pieces, in the middle of a
  // fragmented text message; every piece is an exact-size heap buffer, and the assembly buffer has
  // exactly the payload's size, so ASan catches a byte written or read past either.
  const uint8_t oddMask[4] = {0xff, 0x00, 0x81, 0x7e};
  std::string ping(MAX_CONTROL_PAYLOAD, 'p');
  for (size_t i = 0; i < ping.size(); ++i) ping[i] = static_cast<char>(' ' + i % 90);
  std::string reason;
  // "ré" repeated: cuts also fall inside 2-byte sequences.
  while (reason.size() + 3 <= MAX_CONTROL_PAYLOAD - 2) reason += "r\xC3\xA9";
  const std::string close = closePayload(4001, reason);
  CHECK(close.size() >= MAX_CONTROL_PAYLOAD - 2);
  struct Case {
    Bytes control;
    std::string logged;
  };
  const Case cases[] = {{frame(0x89, ping, 0, oddMask), "ping:" + ping},
                        {frame(0x88, close, 0, oddMask), "close:" + close},
                        {frame(0x8A, "pong!", 0, oddMask), "pong:pong!"}};
  const Bytes before = frame(0x01, "Hel", 0, oddMask);
  const Bytes after = frame(0x00, "lo", 0, oddMask) + frame(0x80, "!", 0, oddMask);
  for (const Case& c : cases) {
    const Bytes wire = before + c.control + after;
    const std::string expected = c.logged + "|text:Hello!";
    // The payload starts after the 6-byte header (7-bit length + mask) and ends with the frame.
    const size_t payloadStart = before.size() + 6;
    const size_t payloadEnd = before.size() + c.control.size();
    // A read that ends inside the payload, after at least one of its bytes, leaves a buffer.
    auto holds = [&](size_t consumed) { return consumed > payloadStart && consumed < payloadEnd; };
    int mismatches = 0;
    int buffered = 0;
    for (size_t i = 1; i < wire.size(); ++i) {
      PieceFeed two = feedPieces(wire, {i});
      if (!two.ok || two.rec.joined() != expected || two.rec.violations != 0) ++mismatches;
      if (two.held[0] != holds(i) || two.heldAtEnd) ++mismatches;
      buffered += two.held[0];
      for (size_t j = i + 1; j < wire.size(); ++j) {
        PieceFeed three = feedPieces(wire, {i, j});
        if (!three.ok || three.rec.joined() != expected || three.rec.violations != 0) ++mismatches;
        if (three.held[0] != holds(i) || three.held[1] != holds(j) || three.heldAtEnd) ++mismatches;
      }
    }
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(static_cast<size_t>(buffered), payloadEnd - payloadStart - 1);  // the buffered path ran
    // One byte per read: the buffer lives from the first payload byte to the last.
    std::vector<size_t> bytewise;
    for (size_t i = 1; i < wire.size(); ++i) bytewise.push_back(i);
    PieceFeed slow = feedPieces(wire, bytewise);
    CHECK(slow.ok);
    CHECK_EQ(slow.rec.joined(), expected);
    for (size_t i = 0; i + 1 < wire.size(); ++i) {
      if (slow.held[i] != holds(i + 1)) ++mismatches;
    }
    CHECK_EQ(mismatches, 0);
  }

  // Whole in one read: delivered from the caller's buffer, nothing allocated.
  Bytes whole = frame(0x89, ping, 0, oddMask);
  FrameParser<Recorder> parser;
  Recorder rec;
  CHECK(parser.consume(whole.data(), whole.size(), rec));
  CHECK_EQ(rec.joined(), "ping:" + ping);
  CHECK(!parser.holdsControlBuffer());

  // A connection dropped in the middle of a cut control frame: the parser frees the buffer (LSan).
  auto* dying = new FrameParser<Recorder>();
  Bytes partial = prefix(whole, 20);
  CHECK(dying->consume(partial.data(), partial.size(), rec));
  CHECK(dying->holdsControlBuffer());
  delete dying;

  // An invalid close payload cut by a read is still refused, and the buffer is gone afterwards.
  Bytes badClose = frame(0x88, closePayload(1000, "\xC3"), 0, oddMask);
  PieceFeed bad = feedPieces(badClose, {badClose.size() - 1});
  CHECK_EQ(bad.rec.joined(), std::string("error:WS_ERR_INVALID_UTF8"));
  CHECK(bad.held[0]);
  CHECK(!bad.heldAtEnd);
}

void testParserSize() {
  // One parser per connection: no inline control payload, just the 14-byte header spill.
  std::printf("sizeof(FrameParser) = %zu\n", sizeof(FrameParser<Recorder>));
  CHECK(sizeof(FrameParser<Recorder>) <= 64);
}

void testRandomStreams() {
  // Random valid streams (random frame sizes, fragmentation, pings, masks), cut at random places.
  std::mt19937 rng(7);
  int mismatches = 0;
  for (int iter = 0; iter < 300; ++iter) {
    Bytes wire;
    std::string expected;
    const int messageCount = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < messageCount; ++m) {
      const int fragments = 1 + static_cast<int>(rng() % 3);
      std::string message;
      for (int f = 0; f < fragments; ++f) {
        std::string piece(rng() % 200 == 0 ? 70000 : rng() % 300, 'a');
        for (char& c : piece) c = static_cast<char>('a' + rng() % 26);
        uint8_t mask[4];
        for (uint8_t& b : mask) b = static_cast<uint8_t>(rng());
        const uint8_t b0 = static_cast<uint8_t>((f == fragments - 1 ? 0x80 : 0) | (f == 0 ? 0x01 : 0x00));
        wire = wire + frame(b0, piece, 0, mask);
        message += piece;
        if (f == fragments - 1) expected += "text:" + message + "|";
        if (rng() % 3 == 0) {
          std::string ping(rng() % 126, 'p');
          wire = wire + frame(0x89, ping, 0, mask);
          expected += "ping:" + ping + "|";
        }
      }
    }
    expected.pop_back();
    std::vector<size_t> cuts;
    size_t at = 0;
    while (true) {
      at += 1 + rng() % 40;
      if (at >= wire.size()) break;
      cuts.push_back(at);
    }
    FeedResult r = feed(wire, cuts);
    if (!r.ok || r.rec.joined() != expected || r.rec.violations != 0 || !r.atBoundary) {
      if (mismatches++ == 0) std::fprintf(stderr, "random stream %d: got %.200s\n", iter, r.rec.joined().c_str());
    }
  }
  CHECK_EQ(mismatches, 0);
}

void testUnmask() {
  int mismatches = 0;
  std::mt19937 rng(3);
  for (size_t len = 0; len <= 64; ++len) {
    for (size_t offset = 0; offset < 4; ++offset) {
      for (size_t align = 0; align < 8; ++align) {
        uint8_t mask[4];
        for (uint8_t& b : mask) b = static_cast<uint8_t>(rng());
        Bytes buffer(len + 16);
        for (uint8_t& b : buffer) b = static_cast<uint8_t>(rng());
        Bytes expected = buffer;
        for (size_t i = 0; i < len; ++i) expected[align + i] ^= mask[(offset + i) % 4];
        // An exact-size heap copy first (ASan catches overruns), then in place with guard bytes around.
        Bytes exact(buffer.begin() + static_cast<long>(align), buffer.begin() + static_cast<long>(align + len));
        unmaskInPlace(exact.data(), exact.size(), mask, offset);
        unmaskInPlace(buffer.data() + align, len, mask, offset);
        if (buffer != expected) ++mismatches;
        if (!std::equal(exact.begin(), exact.end(), expected.begin() + static_cast<long>(align))) ++mismatches;
      }
    }
  }
  CHECK_EQ(mismatches, 0);
  // Continuing across chunks: offsets add up.
  const uint8_t mask[4] = {1, 2, 3, 4};
  Bytes data(37, 0);
  unmaskInPlace(data.data(), 5, mask, 0);
  unmaskInPlace(data.data() + 5, 19, mask, 5);
  unmaskInPlace(data.data() + 24, 13, mask, 24);
  for (size_t i = 0; i < data.size(); ++i) mismatches += data[i] != mask[i % 4];
  CHECK_EQ(mismatches, 0);
}

}  // namespace

int main() {
  testRfcExamples();
  testEveryHeaderSplit();
  testFragmentation();
  testEmptyMessages();
  testErrors();
  testLimitsAndValidCases();
  testRsv1();
  testHandlerStops();
  testDestroyInsideCallback();
  testSplitControlFrames();
  testParserSize();
  testRandomStreams();
  testUnmask();
  return CHECK_SUMMARY("frame_parser_test");
}
