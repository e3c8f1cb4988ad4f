// The close handshake of one Connection on its own (connection_harness.h), state by state as the
// diagram in connection.cc draws it, with the bytes the peer end of the socketpair receives.
#include <sys/socket.h>

#include <string>

#include "check.h"
#include "connection_harness.h"
#include "wire.h"

using namespace harness;

namespace {

std::string frame(uint8_t b0, const std::string& payload) { return wire::toString(wire::clientFrame(b0, payload)); }
std::string closePayload(uint16_t code, const std::string& reason) {
  return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)} + reason;
}
// The end-of-turn order a Server follows: close replies first, then the flush.
void endTurn(Rig& rig) {
  for (uint32_t slot : rig.closeReplies) {
    if (slot == rig.conn.slot) rig.conn.sendCloseReply(rig.host);
  }
  rig.closeReplies.clear();
  rig.dirty.clear();
  rig.conn.dirty = false;
  rig.conn.flush(rig.host);
}

void userCloseThenPeerReply() {
  Rig rig;
  rig.conn.startClose(rig.host, 4000, "done");
  CHECK_EQ(rig.conn.state, ConnState::CLOSING);
  CHECK(rig.conn.closeSent);
  CHECK(!rig.conn.canSend());
  CHECK(rig.conn.deadlineMs != 0);  // the close timeout
  CHECK(rig.owner.timersArmed >= 1);
  SendResult refused = rig.conn.send(rig.host, Opcode::TEXT, nullptr, 0, true);
  CHECK_EQ(refused.status, static_cast<int>(CallStatus::CLOSED));
  endTurn(rig);
  CHECK_EQ(rig.received(), std::string("\x88\x06\x0f\xa0" "done", 8));
  CHECK(!rig.peerSawEnd);  // CLOSING: the FIN waits for the peer's close frame

  rig.feed(frame(0x88, closePayload(4000, "")));
  CHECK_EQ(rig.conn.state, ConnState::DRAINING);
  CHECK(!rig.conn.closeReplyPending);  // ours is already out: no second close frame
  endTurn(rig);
  CHECK_EQ(rig.received(), std::string());
  CHECK(rig.peerSawEnd);  // our FIN
  CHECK_EQ(rig.owner.closed, 0);  // the fd stays until the peer's FIN or the timeout

  rig.conn.closeNow(rig.host);
  CHECK_EQ(rig.conn.state, ConnState::CLOSED);
  CHECK_EQ(rig.owner.closed, 1);
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  CHECK_EQ(rig.batch.records[0].kind, static_cast<uint32_t>(EventKind::CLOSE));
  CHECK_EQ(rig.batch.records[0].arg, 4000u);  // the peer's code
}

void peerCloseIsEchoedAfterTheBatch() {
  Rig rig;
  rig.feed(frame(0x81, "last words") + frame(0x88, closePayload(1000, "bye")));
  CHECK_EQ(rig.conn.state, ConnState::DRAINING);
  CHECK(rig.conn.closeReplyPending);
  CHECK(rig.conn.canSend());  // the user's answer to "last words" still goes out first
  SendResult echo = rig.conn.send(rig.host, Opcode::TEXT, reinterpret_cast<const uint8_t*>("echo"), 4, true);
  CHECK_EQ(echo.status, static_cast<int>(CallStatus::OK));
  endTurn(rig);
  CHECK(!rig.conn.canSend());
  CHECK_EQ(rig.received(), std::string("\x81\x04" "echo" "\x88\x05\x03\xe8" "bye", 13));
  CHECK(rig.peerSawEnd);
  rig.conn.closeNow(rig.host);
  CHECK_EQ(rig.batch.records.back().kind, static_cast<uint32_t>(EventKind::CLOSE));
  CHECK_EQ(rig.batch.records.back().arg, 1000u);
  CHECK_EQ(rig.payloadOf(rig.batch.records.back()), std::string("bye"));
}

void emptyCloseFrameIsAnsweredEmpty() {
  Rig rig;
  rig.feed(frame(0x88, ""));
  CHECK_EQ(rig.conn.closeCode, close_code::NO_STATUS);
  endTurn(rig);
  CHECK_EQ(rig.received(), std::string("\x88\x00", 2));  // 1005 is never sent as a code
}

void protocolErrorFailsTheConnection() {
  Rig rig;
  rig.feed(wire::toString(wire::hex("81 05 68656c6c6f")));  // unmasked: a client must mask
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  CHECK_EQ(rig.batch.records[0].kind, static_cast<uint32_t>(EventKind::ERROR));
  CHECK_EQ(rig.batch.records[0].arg, static_cast<uint32_t>(ErrorCode::EXPECTED_MASK));
  endTurn(rig);
  CHECK_EQ(rig.received(), std::string("\x88\x02\x03\xea", 4));  // 1002, no reason
  CHECK(rig.peerSawEnd);
}

void closeBeforeOpenDropsAtOnce() {
  Rig rig;
  rig.conn.state = ConnState::AWAITING_ACCEPT;
  rig.conn.known = false;
  rig.conn.startClose(rig.host, 1000, "");
  CHECK_EQ(rig.conn.state, ConnState::CLOSED);
  CHECK_EQ(rig.owner.closed, 1);
  CHECK(rig.batch.empty());  // the user never knew it: no CLOSE event
}

void peerVanishingIsAbnormal() {
  Rig rig;
  ::shutdown(rig.peer, SHUT_WR);
  uint8_t buffer[64];
  rig.conn.onReady(rig.host, EPOLLIN | EPOLLRDHUP, buffer, sizeof buffer);
  CHECK_EQ(rig.conn.state, ConnState::CLOSED);
  CHECK_EQ(rig.batch.records.size(), size_t(1));
  CHECK_EQ(rig.batch.records[0].arg, static_cast<uint32_t>(close_code::ABNORMAL));
}

void closeTwiceSendsOneFrame() {
  Rig rig;
  rig.conn.startClose(rig.host, 1000, "");
  rig.conn.startClose(rig.host, 1001, "again");
  endTurn(rig);
  CHECK_EQ(rig.received(), std::string("\x88\x02\x03\xe8", 4));
}

}  // namespace

int main() {
  userCloseThenPeerReply();
  peerCloseIsEchoedAfterTheBatch();
  emptyCloseFrameIsAnsweredEmpty();
  protocolErrorFailsTheConnection();
  closeBeforeOpenDropsAtOnce();
  peerVanishingIsAbnormal();
  closeTwiceSendsOneFrame();
  return CHECK_SUMMARY("close_handshake_test");
}
