// What ws users rely on that the core answers (write_progress.*, server_compat.cc), over stream
// connections whose window plays the kernel's send buffer: WRITTEN once the transport has taken a
// tracked message (not when it is queued), the final count before CLOSE, pauseReading, and a
// pre-encoded frame queued by reference to several connections.
#include <string>
#include <vector>

#include "check.h"
#include "frame_writer.h"
#include "server_driver.h"
#include "shared_frame.h"
#include "stream_transport.h"

using namespace driver;

namespace {

std::string str(const ByteBuffer& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }
const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

struct Fixture {
  Server server;
  Fixture() : server(ServerOptions{}) { CHECK_EQ(server.init(), 0); }
  std::vector<Event> turn() { return driver::turn(server, 0); }
  std::string take(ConnectionId id) {
    ByteBuffer out;
    server.takeOutput(id, out);
    return str(out);
  }
  ConnectionId open(size_t window) {
    ConnectionId id = server.attachStream({"192.0.2.1", 5000, 4}, window);
    std::string request = wire::UPGRADE_REQUEST;
    server.feed(id, bytes(request), request.size());
    std::vector<Event> events = turn();
    CHECK(events.size() == 1 && events[0].kind == EventKind::UPGRADE);
    CHECK_EQ(server.acceptUpgrade(id, "", "", ""), 0);
    std::string response = take(id);  // the 101 leaves at once (acceptUpgrade writes it)
    CHECK(response.rfind("HTTP/1.1 101", 0) == 0);
    return id;
  }
};

// Whether the events hold a WRITTEN report for `id`.
void writtenOf(const std::vector<Event>& events, ConnectionId id, bool* seen) {
  *seen = false;
  for (const Event& e : events) *seen = *seen || (e.kind == EventKind::WRITTEN && e.id.slot == id.slot);
}

// A tracked message is reported once the window (the kernel) has taken all of it.
void writtenWhenTaken() {
  Fixture f;
  ConnectionId id = f.open(4096);
  std::string big(20000, 'x');
  f.server.trackWrites(id);
  CHECK_EQ(f.server.send(id, Opcode::BINARY, bytes(big), big.size()).status, 0);
  int64_t end = f.server.markWritten(id);
  CHECK_EQ(end, static_cast<int64_t>(big.size() + 4));  // header: 4 bytes for 20,000
  bool seen = false;
  size_t taken = 0;
  for (int i = 0; i < 50 && !seen; ++i) {
    std::vector<Event> events = f.turn();
    writtenOf(events, id, &seen);
    if (!seen) CHECK(taken < big.size() + 4);  // not reported while part of it is still queued
    taken += f.take(id).size();
  }
  CHECK(seen);
  CHECK_EQ(taken, big.size() + 4);
  // Arming a mark already reached reports at once (the next batch).
  CHECK_EQ(f.server.armWritten(id, 1), 0);
  writtenOf(f.turn(), id, &seen);
  CHECK(seen);
}

// The connection ends with output queued: the count so far comes before its CLOSE.
void finalCountBeforeClose() {
  Fixture f;
  ConnectionId id = f.open(1024);
  std::string big(10000, 'y');
  f.server.trackWrites(id);
  f.server.send(id, Opcode::BINARY, bytes(big), big.size());
  CHECK(f.server.markWritten(id) > 1024);
  f.server.flush();
  CHECK_EQ(f.server.terminate(id), 0);
  EventBatch batch;
  f.server.takeBatch(batch);
  bool written = false, closed = false;
  for (const EventRecord& r : batch.records) {
    if (r.kind == static_cast<uint32_t>(EventKind::WRITTEN)) {
      CHECK(!closed);
      CHECK(r.offset <= 1024);
      written = true;
    }
    if (r.kind == static_cast<uint32_t>(EventKind::CLOSE)) closed = true;
  }
  CHECK(written && closed);
  f.server.endTurn();
}

// pauseReading: a frame fed while paused is not read until resumed.
void pausedNotRead() {
  Fixture f;
  ConnectionId id = f.open(1 << 20);
  CHECK_EQ(f.server.pauseReading(id, true), 0);
  wire::Bytes frame = wire::clientFrame(0x81, "held");
  f.server.feed(id, frame.data(), frame.size());
  for (int i = 0; i < 3; ++i) {
    for (const Event& e : f.turn()) CHECK(e.kind != EventKind::MESSAGE);
  }
  CHECK_EQ(f.server.pauseReading(id, false), 0);
  bool got = false;
  for (int i = 0; i < 5 && !got; ++i) {
    for (const Event& e : f.turn()) got = got || (e.kind == EventKind::MESSAGE && e.payload == "held");
  }
  CHECK(got);
}

// One pre-encoded frame queued to two connections: both get it whole, from the same block.
void sharedFrameToTwo() {
  Fixture f;
  ConnectionId a = f.open(1 << 20), b = f.open(1 << 20);
  std::string payload(5000, 'z');
  uint8_t header[MAX_FRAME_HEADER];
  size_t headerLength = writeFrameHeader(header, Opcode::TEXT, payload.size());
  std::string framed(reinterpret_cast<char*>(header), headerLength);
  framed += payload;
  SharedFrame* frame = SharedFrame::copyOf(framed.data(), framed.size());
  CHECK_EQ(f.server.sendSharedFrame(a, frame).status, 0);
  CHECK_EQ(f.server.sendSharedFrame(b, frame).buffered, framed.size());
  CHECK_EQ(f.server.sendSharedFrame({b.slot, b.generation + 3}, frame).status, static_cast<int>(CallStatus::CLOSED));
  frame->unref();  // the queues hold their own references
  f.server.flush();
  CHECK(f.take(a) == framed);
  CHECK(f.take(b) == framed);
}

}  // namespace

int main() {
  writtenWhenTaken();
  finalCountBeforeClose();
  pausedNotRead();
  sharedFrameToTwo();
  return CHECK_SUMMARY("write_progress_test");
}
