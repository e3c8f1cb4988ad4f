// permessage-deflate on one Connection (connection_harness.h): compressed messages inflated in the
// MessageAssembler (whole, fragmented, split at every byte), context takeover kept or reset,
// maxPayload checked on the inflated size in bounded steps (1009), corrupt data (1007), UTF-8
// checked after inflating (1007), RSV1 misuse (1002), and the send side: RSV1 on the first frame,
// the threshold, and what the client's inflater reads back.
#include <zlib.h>

#include <memory>
#include <string>

#include "check.h"
#include "connection_harness.h"
#include "wire.h"

using namespace harness;

namespace {

// The client's compressor: raw deflate, sync flush, the 00 00 ff ff tail removed (RFC 7692 §7.2.1).
struct ClientDeflater {
  explicit ClientDeflater(int bits = 15) {
    z = {};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
  }
  ~ClientDeflater() { deflateEnd(&z); }
  std::string compress(const std::string& in, bool stripTail = true) {
    std::string out(in.size() + 64 + in.size() / 100, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(&out[0]);
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_SYNC_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (out.empty()) return std::string(1, '\0');  // zlib does not repeat an empty flush
    if (stripTail) out.resize(out.size() - 4);
    return out;
  }
  z_stream z;
};

// The client's inflater, for what the server sent.
struct ClientInflater {
  ClientInflater() {
    z = {};
    inflateInit2(&z, -15);
  }
  ~ClientInflater() { inflateEnd(&z); }
  std::string inflate(std::string in) {
    in.append("\x00\x00\xff\xff", 4);
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(&in[0]);
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(&out[0]);
    z.avail_out = static_cast<uInt>(out.size());
    int ret = ::inflate(&z, Z_SYNC_FLUSH);
    CHECK(ret == Z_OK || ret == Z_BUF_ERROR);
    out.resize(out.size() - z.avail_out);
    return out;
  }
  z_stream z;
};

std::string frame(uint8_t b0, const std::string& payload) { return wire::toString(wire::clientFrame(b0, payload)); }

void negotiated(Rig& rig, DeflateParams params = {}, DeflateOptions options = {}) {
  rig.conn.ensureExtras().deflate = std::make_unique<PerMessageDeflate>(params, options);
  rig.conn.parser.allowRsv1();
}

uint32_t errorOf(const Rig& rig) {
  for (const EventRecord& r : rig.batch.records) {
    if (r.kind == static_cast<uint32_t>(EventKind::ERROR)) return r.arg;
  }
  return 0;
}

void compressedMessages() {
  Rig rig;
  negotiated(rig);
  ClientDeflater client;
  std::string text = "Hello, hello, hello, permessage-deflate!";
  rig.feed(frame(0xC1, client.compress(text)));  // FIN + RSV1 + text
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  CHECK_EQ(rig.payloadOf(rig.batch.records[0]), text);
  // Context takeover: the second message refers back to the first.
  std::string again = client.compress(text);
  CHECK(again.size() < 10);
  rig.feed(frame(0xC1, again));
  CHECK_EQ(rig.batch.records.size(), size_t(2));
  CHECK_EQ(rig.payloadOf(rig.batch.records[1]), text);
  // An empty compressed message is one 0x00 byte.
  rig.feed(frame(0xC2, client.compress("")));
  CHECK_EQ(rig.batch.records.size(), size_t(3));
  CHECK_EQ(rig.payloadOf(rig.batch.records[2]), std::string());
  CHECK_EQ(rig.batch.records[2].arg, MESSAGE_BINARY);
  // Uncompressed messages still pass on a negotiated connection.
  rig.feed(frame(0x81, "plain"));
  CHECK_EQ(rig.payloadOf(rig.batch.records[3]), std::string("plain"));
}

void fragmentedAndSplit() {
  std::string text(5000, 'x');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 7 % 26));
  ClientDeflater client;
  std::string compressed = client.compress(text);
  // Three frames: RSV1 only on the first.
  size_t third = compressed.size() / 3;
  std::string bytes = frame(0x41, compressed.substr(0, third)) + frame(0x00, compressed.substr(third, third)) +
                      frame(0x80, compressed.substr(2 * third));
  for (size_t cut = 0; cut <= bytes.size(); cut += 1) {
    Rig rig;
    negotiated(rig);
    rig.feed(bytes.substr(0, cut));
    rig.feed(bytes.substr(cut));
    CHECK_EQ(rig.batch.records.size(), size_t(1));
    if (rig.batch.records.size() == 1) CHECK(rig.payloadOf(rig.batch.records[0]) == text);
  }
  Rig rig;
  negotiated(rig);
  for (char c : bytes) rig.feed(std::string(1, c));  // one byte per read
  CHECK_EQ(rig.batch.records.size(), size_t(1));
}

void noContextTakeover() {
  DeflateParams params;
  params.clientNoContextTakeover = true;
  Rig rig;
  negotiated(rig, params);
  std::string text = "the same message twice, the same message twice";
  for (int i = 0; i < 2; ++i) {
    ClientDeflater fresh;  // a client that resets its compressor
    rig.feed(frame(0xC1, fresh.compress(text)));
    CHECK(!rig.conn.deflate()->holdsStreams());  // the idle connection holds no zlib stream
  }
  CHECK_EQ(rig.batch.records.size(), size_t(2));
  CHECK_EQ(rig.payloadOf(rig.batch.records[1]), text);
}

void inflatedSizeIsBounded() {
  ServerOptions options;
  options.maxPayload = 100000;
  ClientDeflater client;
  // 1 MiB of zeros compresses to about a kilobyte: a bomb against a 100 kB limit.
  std::string bomb = client.compress(std::string(1 << 20, '\0'));
  CHECK(bomb.size() < 2000);
  Rig rig(options);
  negotiated(rig);
  rig.feed(frame(0xC2, bomb));
  CHECK_EQ(errorOf(rig), static_cast<uint32_t>(ErrorCode::UNSUPPORTED_MESSAGE_LENGTH));
  CHECK_EQ(rig.conn.state, ConnState::DRAINING);
  CHECK_EQ(rig.conn.closeReplyCode, close_code::MESSAGE_TOO_BIG);
  CHECK_EQ(rig.conn.message.capacity(), size_t(0));  // what was inflated is gone
  // Exactly at the limit is fine.
  Rig exact(options);
  negotiated(exact);
  ClientDeflater other;
  exact.feed(frame(0xC2, other.compress(std::string(100000, 'z'))));
  CHECK_EQ(exact.batch.records.size(), size_t(1));
  CHECK_EQ(exact.batch.records[0].length, 100000u);
}

void corruptAndInvalidText() {
  Rig rig;
  negotiated(rig);
  rig.feed(frame(0xC1, std::string("\xff\xff\xff\xff\xff", 5)));  // not deflate data
  CHECK_EQ(errorOf(rig), static_cast<uint32_t>(ErrorCode::INVALID_COMPRESSED_DATA));
  CHECK_EQ(rig.conn.closeReplyCode, close_code::INVALID_PAYLOAD);

  Rig text;
  negotiated(text);
  ClientDeflater client;
  text.feed(frame(0xC1, client.compress("ok \xc3\x28 not utf-8")));
  CHECK_EQ(errorOf(text), static_cast<uint32_t>(ErrorCode::INVALID_UTF8));
  CHECK_EQ(text.conn.closeReplyCode, close_code::INVALID_PAYLOAD);

  // A code point cut by the end of the message.
  Rig cut;
  negotiated(cut);
  ClientDeflater third;
  cut.feed(frame(0xC1, third.compress("\xe2\x82")));
  CHECK_EQ(errorOf(cut), static_cast<uint32_t>(ErrorCode::INVALID_UTF8));
  // Invalid UTF-8 in a compressed binary message is just bytes.
  Rig binary;
  negotiated(binary);
  ClientDeflater fourth;
  binary.feed(frame(0xC2, fourth.compress("\xc3\x28")));
  CHECK_EQ(errorOf(binary), 0u);
  CHECK_EQ(binary.batch.records.size(), size_t(1));
}

void rsv1Misuse() {
  ClientDeflater client;
  std::string payload = client.compress("abc");
  {
    Rig rig;  // not negotiated
    rig.feed(frame(0xC1, payload));
    CHECK_EQ(errorOf(rig), static_cast<uint32_t>(ErrorCode::UNEXPECTED_RSV_1));
    CHECK_EQ(rig.conn.closeReplyCode, close_code::PROTOCOL_ERROR);
  }
  {
    Rig rig;  // on a continuation frame
    negotiated(rig);
    rig.feed(frame(0x01, "ab") + frame(0xC0, "cd"));
    CHECK_EQ(errorOf(rig), static_cast<uint32_t>(ErrorCode::UNEXPECTED_RSV_1));
  }
  {
    Rig rig;  // on a control frame
    negotiated(rig);
    rig.feed(frame(0xC9, "ping"));
    CHECK_EQ(errorOf(rig), static_cast<uint32_t>(ErrorCode::UNEXPECTED_RSV_1));
    CHECK_EQ(rig.conn.closeReplyCode, close_code::PROTOCOL_ERROR);
  }
}

// Decodes the server frames the peer end received: (RSV1, opcode, payload) each.
struct Sent {
  bool rsv1;
  int opcode;
  std::string payload;
};
std::vector<Sent> framesFrom(Rig& rig) {
  rig.conn.flush(rig.host);
  std::string bytes = rig.received();
  std::vector<Sent> out;
  size_t at = 0;
  while (at + 2 <= bytes.size()) {
    uint8_t b0 = static_cast<uint8_t>(bytes[at]);
    uint64_t len = static_cast<uint8_t>(bytes[at + 1]) & 0x7f;
    size_t header = 2;
    if (len == 126) {
      len = (static_cast<uint8_t>(bytes[at + 2]) << 8) | static_cast<uint8_t>(bytes[at + 3]);
      header = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(bytes[at + 2 + i]);
      header = 10;
    }
    out.push_back({(b0 & 0x40) != 0, b0 & 0x0f, bytes.substr(at + header, static_cast<size_t>(len))});
    at += header + static_cast<size_t>(len);
  }
  return out;
}

void sendCompresses() {
  DeflateOptions options;
  options.threshold = 16;
  Rig rig;
  negotiated(rig, {}, options);
  std::string text(2000, 'q');
  auto send = [&](Opcode op, const std::string& s, bool fin, bool compress) {
    return rig.conn.send(rig.host, op, reinterpret_cast<const uint8_t*>(s.data()), s.size(), fin, compress).status;
  };
  CHECK_EQ(send(Opcode::TEXT, text, true, true), 0);
  CHECK_EQ(send(Opcode::TEXT, "short", true, true), 0);   // under the threshold: as is
  CHECK_EQ(send(Opcode::BINARY, text, true, false), 0);   // compress: false
  CHECK_EQ(send(Opcode::TEXT, text, true, true), 0);      // context takeover: tiny
  CHECK_EQ(send(Opcode::PING, "p", true, true), 0);       // control frames never
  CHECK_EQ(send(Opcode::TEXT, text.substr(0, 1000), false, true), 0);  // fragmented: RSV1 first only
  CHECK_EQ(send(Opcode::CONTINUATION, text.substr(1000), true, true), 0);
  std::vector<Sent> frames = framesFrom(rig);
  CHECK_EQ(frames.size(), size_t(7));
  if (frames.size() != 7) return;
  ClientInflater client;
  CHECK(frames[0].rsv1);
  CHECK(frames[0].payload.size() < 100);
  CHECK(client.inflate(frames[0].payload) == text);
  CHECK(!frames[1].rsv1);
  CHECK_EQ(frames[1].payload, std::string("short"));
  CHECK(!frames[2].rsv1);
  CHECK_EQ(frames[2].payload.size(), text.size());
  CHECK(frames[3].rsv1);
  CHECK(frames[3].payload.size() < 20);
  CHECK(client.inflate(frames[3].payload) == text);
  CHECK(!frames[4].rsv1);
  CHECK(frames[5].rsv1 && frames[5].opcode == 1);
  CHECK(!frames[6].rsv1 && frames[6].opcode == 0);
  // The fragments' payloads concatenate into one compressed message.
  CHECK(client.inflate(frames[5].payload + frames[6].payload) == text);
}

void sendWithoutContextTakeover() {
  DeflateParams params;
  params.serverNoContextTakeover = true;
  DeflateOptions options;
  options.threshold = 0;
  Rig rig;
  negotiated(rig, params, options);
  std::string text(3000, 'k');
  for (int i = 0; i < 3; ++i) {
    rig.conn.send(rig.host, Opcode::TEXT, reinterpret_cast<const uint8_t*>(text.data()), text.size(), true, true);
  }
  rig.conn.send(rig.host, Opcode::BINARY, nullptr, 0, true, true);
  std::vector<Sent> frames = framesFrom(rig);
  CHECK_EQ(frames.size(), size_t(4));
  if (frames.size() != 4) return;
  // Each message stands alone: a fresh inflater reads every one.
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(frames[i].payload, frames[0].payload);
    ClientInflater fresh;
    CHECK(fresh.inflate(frames[i].payload) == text);
  }
  CHECK(frames[3].rsv1);
  ClientInflater fresh;
  CHECK_EQ(fresh.inflate(frames[3].payload), std::string());
}

// Streams are pooled per thread and windows carried between messages: two connections taking
// turns (each with context takeover both ways) must never see each other's history.
void pooledStreamsKeepEachConnectionsContext() {
  DeflateOptions options;
  options.threshold = 0;
  Rig a, b;
  negotiated(a, {}, options);
  negotiated(b, {}, options);
  ClientDeflater toA, toB;
  ClientInflater fromA, fromB;
  size_t aSent = 0, bSent = 0;
  for (int i = 0; i < 20; ++i) {
    std::string forA = "message " + std::to_string(i) + " for connection A, A, A: " + std::string(200, 'a');
    std::string forB = "message " + std::to_string(i) + " for connection B, B, B: " + std::string(300, 'b');
    a.feed(frame(0xC1, toA.compress(forA)));
    b.feed(frame(0xC1, toB.compress(forB)));
    CHECK_EQ(a.batch.records.size(), size_t(i + 1));
    CHECK_EQ(b.batch.records.size(), size_t(i + 1));
    if (a.batch.records.size() == size_t(i + 1)) CHECK(a.payloadOf(a.batch.records[i]) == forA);
    if (b.batch.records.size() == size_t(i + 1)) CHECK(b.payloadOf(b.batch.records[i]) == forB);
    a.conn.send(a.host, Opcode::TEXT, reinterpret_cast<const uint8_t*>(forA.data()), forA.size(), true, true);
    b.conn.send(b.host, Opcode::TEXT, reinterpret_cast<const uint8_t*>(forB.data()), forB.size(), true, true);
    // Idle between messages: no zlib stream held, only the windows.
    CHECK(!a.conn.deflate()->holdsStreams());
    CHECK(!b.conn.deflate()->holdsStreams());
  }
  std::vector<Sent> framesA = framesFrom(a), framesB = framesFrom(b);
  CHECK_EQ(framesA.size(), size_t(20));
  CHECK_EQ(framesB.size(), size_t(20));
  for (size_t i = 0; i < framesA.size() && i < framesB.size(); ++i) {
    std::string forA = "message " + std::to_string(i) + " for connection A, A, A: " + std::string(200, 'a');
    std::string forB = "message " + std::to_string(i) + " for connection B, B, B: " + std::string(300, 'b');
    CHECK(fromA.inflate(framesA[i].payload) == forA);
    CHECK(fromB.inflate(framesB[i].payload) == forB);
    aSent += framesA[i].payload.size();
    bSent += framesB[i].payload.size();
  }
  // Context takeover at work: later messages cost far less than the first.
  CHECK(framesA.back().payload.size() * 3 < framesA.front().payload.size());
  (void)aSent;
  (void)bSent;
}

}  // namespace

int main() {
  pooledStreamsKeepEachConnectionsContext();
  compressedMessages();
  fragmentedAndSplit();
  noContextTakeover();
  inflatedSizeIsBounded();
  corruptAndInvalidText();
  rsv1Misuse();
  sendCompresses();
  sendWithoutContextTakeover();
  return CHECK_SUMMARY("permessage_deflate_test");
}
