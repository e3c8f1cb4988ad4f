// MessageAssembler on its own (a Connection outside any Server, see connection_harness.h): fragment
// reassembly, the external-buffer threshold, maxPayload across fragments, and control frames.
#include <string>

#include "check.h"
#include "connection_harness.h"
#include "wire.h"

using namespace harness;

namespace {

std::string frame(uint8_t b0, const std::string& payload) { return wire::toString(wire::clientFrame(b0, payload)); }

void wholeMessageInOneFrame() {
  Rig rig;
  rig.feed(frame(0x81, "hello"));
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  const EventRecord& r = rig.batch.records[0];
  CHECK_EQ(r.kind, static_cast<uint32_t>(EventKind::MESSAGE));
  CHECK_EQ(r.slot, 7u);
  CHECK_EQ(r.generation, 3u);
  CHECK_EQ(r.arg, 0u);  // text, inline
  CHECK_EQ(rig.payloadOf(r), std::string("hello"));
  CHECK_EQ(rig.conn.message.capacity(), size_t(0));  // no reassembly buffer for a whole frame
}

void fragmentsAreReassembled() {
  Rig rig;
  rig.feed(frame(0x02, "ab"));  // binary, not final
  CHECK(rig.batch.empty());
  rig.feed(frame(0x00, "cd"));  // continuation
  CHECK(rig.batch.empty());
  rig.feed(frame(0x89, "p"));   // a ping between fragments is answered at once
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  CHECK_EQ(rig.batch.records[0].kind, static_cast<uint32_t>(EventKind::PING));
  rig.feed(frame(0x80, "ef"));  // final continuation
  CHECK_EQ(rig.batch.records.size(), size_t(2));
  const EventRecord& r = rig.batch.records[1];
  CHECK_EQ(r.kind, static_cast<uint32_t>(EventKind::MESSAGE));
  CHECK_EQ(r.arg, MESSAGE_BINARY);
  CHECK_EQ(rig.payloadOf(r), std::string("abcdef"));
  CHECK_EQ(rig.conn.message.size(), size_t(0));  // small buffer kept, emptied, for the next message
  // The pong went into the output queue, unmasked: 8a 01 'p'.
  CHECK_EQ(rig.conn.output.size(), size_t(3));
  CHECK_EQ(rig.dirty.size(), size_t(1));
}

void fragmentsSplitAcrossReads() {
  Rig rig;
  std::string bytes = frame(0x01, "Hel") + frame(0x80, "lo, world");
  for (char c : bytes) rig.feed(std::string(1, c));  // one byte per read
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  if (!rig.batch.records.empty()) CHECK_EQ(rig.payloadOf(rig.batch.records[0]), std::string("Hello, world"));
}

void externalThreshold() {
  const size_t limit = MessageAssembler::EXTERNAL_MESSAGE_MIN;
  Rig rig;
  rig.feed(frame(0x82, std::string(limit - 1, 'a')));
  rig.feed(frame(0x82, std::string(limit, 'b')));
  CHECK_EQ(rig.batch.records.size(), size_t(2));
  CHECK_EQ(rig.batch.records[0].arg, MESSAGE_BINARY);                     // just below: inline
  CHECK_EQ(rig.batch.records[1].arg, MESSAGE_BINARY | MESSAGE_EXTERNAL);  // at the threshold: own buffer
  CHECK_EQ(rig.batch.externals.size(), size_t(1));
  CHECK_EQ(rig.batch.data.size(), limit - 1);
  CHECK_EQ(rig.payloadOf(rig.batch.records[1]), std::string(limit, 'b'));
}

void largeFragmentedMessageMovesItsBuffer() {
  const size_t half = MessageAssembler::EXTERNAL_MESSAGE_MIN;
  Rig rig;
  rig.feed(frame(0x01, std::string(half, 'x')));
  rig.feed(frame(0x80, std::string(half, 'y')));
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  CHECK_EQ(rig.batch.externals.size(), size_t(1));
  CHECK_EQ(rig.payloadOf(rig.batch.records[0]), std::string(half, 'x') + std::string(half, 'y'));
  CHECK_EQ(rig.conn.message.capacity(), size_t(0));  // a large buffer is not kept
}

void maxPayloadAcrossFragments() {
  ServerOptions options;
  options.maxPayload = 10;
  Rig rig(options);
  rig.feed(frame(0x01, "123456"));
  CHECK(rig.batch.empty());
  rig.feed(frame(0x80, "789012"));  // 12 > 10 in total, though each fragment is below
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  const EventRecord& r = rig.batch.records[0];
  CHECK_EQ(r.kind, static_cast<uint32_t>(EventKind::ERROR));
  CHECK_EQ(r.arg, static_cast<uint32_t>(ErrorCode::UNSUPPORTED_MESSAGE_LENGTH));
  CHECK_EQ(rig.conn.state, ConnState::DRAINING);
  CHECK(rig.conn.closeReplyPending);
  CHECK_EQ(rig.conn.closeReplyCode, close_code::MESSAGE_TOO_BIG);
  CHECK(!rig.conn.closeReplyEchoes);
  CHECK_EQ(rig.closeReplies.size(), size_t(1));
}

void pongAndCloseFrames() {
  Rig rig;
  rig.feed(frame(0x8a, "pp"));
  rig.feed(frame(0x88, std::string("\x03\xe8", 2) + "bye") + frame(0x81, "after close"));
  CHECK_EQ(rig.batch.records.size(), size_t(1));  // nothing after the close frame is parsed
  CHECK_EQ(rig.batch.records[0].kind, static_cast<uint32_t>(EventKind::PONG));
  CHECK(rig.conn.closeReceived);
  CHECK_EQ(rig.conn.closeCode, close_code::NORMAL);
  CHECK_EQ(std::string(rig.conn.receivedCloseReason()), std::string("bye"));
  CHECK(rig.conn.closeReplyEchoes);
  CHECK_EQ(rig.conn.state, ConnState::DRAINING);
}

void pingFloodMeetsBackpressure() {
  ServerOptions options;
  options.maxBackpressure = 8;
  options.dropOnBackpressure = true;
  Rig rig(options);
  rig.feed(frame(0x89, "0123456789"));  // the first pong fits below the limit
  CHECK_EQ(rig.conn.output.size(), size_t(12));
  rig.feed(frame(0x89, "again"));  // over the limit now: no second pong, the ping is still reported
  CHECK_EQ(rig.conn.output.size(), size_t(12));
  CHECK_EQ(rig.batch.records.size(), size_t(2));
  CHECK(rig.conn.needDrain);
  CHECK_EQ(rig.conn.state, ConnState::OPEN);  // 'drop': the connection stays
}

}  // namespace

int main() {
  wholeMessageInOneFrame();
  fragmentsAreReassembled();
  fragmentsSplitAcrossReads();
  externalThreshold();
  largeFragmentedMessageMovesItsBuffer();
  maxPayloadAcrossFragments();
  pongAndCloseFrames();
  pingFloodMeetsBackpressure();
  return CHECK_SUMMARY("message_assembler_test");
}
