// StreamTransport on its own, and a Server whose connections are streams: the handshake, frames at
// every split, backpressure through a small window, the close handshake and the timers (a
// ManualClock), all with bytes fed and taken by the test instead of a socket.
#include <string>

#include "check.h"
#include "server_driver.h"
#include "stream_transport.h"

using namespace driver;

namespace {

std::string str(const ByteBuffer& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

void transportAlone() {
  StreamTransport t({"10.0.0.7", 4433, 4}, 8);
  uint8_t buffer[16];
  CHECK(t.read(buffer, sizeof buffer).status == IoResult::Status::WOULD_BLOCK);
  t.feed(reinterpret_cast<const uint8_t*>("abcdef"), 6);
  IoResult r = t.read(buffer, 4);
  CHECK(r.status == IoResult::Status::OK);
  CHECK_EQ(std::string(reinterpret_cast<char*>(buffer), r.bytes), std::string("abcd"));
  t.end();
  r = t.read(buffer, sizeof buffer);
  CHECK_EQ(std::string(reinterpret_cast<char*>(buffer), r.bytes), std::string("ef"));  // input before the end
  CHECK(t.read(buffer, sizeof buffer).status == IoResult::Status::END);

  char a[] = "0123456", b[] = "789";
  iovec parts[2] = {{a, 7}, {b, 3}};
  IoResult w = t.writev(parts, 2);
  CHECK(w.status == IoResult::Status::OK);
  CHECK_EQ(w.bytes, size_t{8});  // the window
  CHECK(!t.writable());
  CHECK(t.writev(parts, 2).status == IoResult::Status::WOULD_BLOCK);
  ByteBuffer out;
  CHECK_EQ(t.takeOutput(out), size_t{8});
  CHECK_EQ(str(out), std::string("01234567"));
  CHECK(t.writable());
  t.shutdownWrite();
  CHECK(t.writev(parts, 2).status == IoResult::Status::FAILED);
  CHECK_EQ(t.peerAddress().address, std::string("10.0.0.7"));
  CHECK_EQ(t.pollFd(), -1);
  t.close();
  CHECK(t.read(buffer, sizeof buffer).status == IoResult::Status::FAILED);
}

struct Fixture {
  ManualClock clock;
  Server server;
  explicit Fixture(ServerOptions options = {}) : server(withClock(options, &clock)) { CHECK_EQ(server.init(), 0); }
  static ServerOptions withClock(ServerOptions o, const Clock* c) {
    o.clock = c;
    return o;
  }
  void feed(ConnectionId id, const std::string& bytes) {
    CHECK_EQ(server.feed(id, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
  }
  std::string take(ConnectionId id, Server::StreamOutput* status = nullptr) {
    ByteBuffer out;
    Server::StreamOutput s = server.takeOutput(id, out);
    if (status) *status = s;
    return str(out);
  }
  std::vector<Event> turn() { return driver::turn(server, 0); }
  // Feeds the request a few bytes at a time and accepts it; returns the id.
  ConnectionId open(size_t window = 1 << 20) {
    ConnectionId id = server.attachStream({"192.0.2.1", 5000, 4}, window);
    std::string request = wire::UPGRADE_REQUEST;
    std::vector<Event> events;
    for (size_t at = 0; at < request.size(); at += 7) {
      feed(id, request.substr(at, 7));
      for (Event& e : turn()) events.push_back(e);
    }
    CHECK_EQ(events.size(), size_t{1});
    if (events.empty()) return id;
    CHECK(events[0].kind == EventKind::UPGRADE);
    CHECK(events[0].payload.rfind("192.0.2.1", 0) == 0);  // the stream's peer
    CHECK_EQ(server.acceptUpgrade(id, "", "", ""), 0);
    std::string response;
    for (int i = 0; i < 100 && response.find("\r\n\r\n") == std::string::npos; ++i) {
      turn();
      response += take(id);  // a small window takes the 101 in pieces
    }
    CHECK(response.rfind("HTTP/1.1 101", 0) == 0);
    CHECK(response.find(wire::UPGRADE_ACCEPT_KEY) != std::string::npos);
    return id;
  }
};

std::vector<wire::ServerFrame> frames(const std::string& bytes) {
  std::vector<wire::ServerFrame> out;
  size_t at = 0;
  wire::ServerFrame f;
  while (wire::decodeServerFrame(bytes, at, f) == wire::Decoded::FRAME) out.push_back(f);
  CHECK_EQ(at, bytes.size());
  return out;
}

void echoAtEverySplit() {
  Fixture f;
  ConnectionId id = f.open();
  std::string frame = maskedFrame(0x81, "hello") + maskedFrame(0x82, std::string(300, 'x'));
  for (size_t split = 1; split < frame.size(); split += 37) {
    f.feed(id, frame.substr(0, split));
    std::vector<Event> events = f.turn();
    f.feed(id, frame.substr(split));
    for (Event& e : f.turn()) events.push_back(e);
    CHECK_EQ(events.size(), size_t{2});
    if (events.size() != 2) return;
    CHECK_EQ(events[0].payload, std::string("hello"));
    CHECK_EQ(events[1].arg & MESSAGE_BINARY, MESSAGE_BINARY);
    SendResult sent = f.server.send(id, Opcode::TEXT, reinterpret_cast<const uint8_t*>("hello"), 5);
    CHECK_EQ(sent.status, 0);
    f.server.flush();
    std::vector<wire::ServerFrame> out = frames(f.take(id));
    CHECK_EQ(out.size(), size_t{1});
    if (!out.empty()) CHECK_EQ(out[0].payload, std::string("hello"));
  }
}

void backpressureThroughTheWindow() {
  Fixture f;
  ConnectionId id = f.open(100);  // the driver's socket takes 100 bytes at a time
  std::string big(5000, 'b');
  SendResult sent = f.server.send(id, Opcode::BINARY, reinterpret_cast<const uint8_t*>(big.data()), big.size());
  CHECK_EQ(sent.status, 0);
  f.turn();
  CHECK(f.server.bufferedAmount(id) > 0);
  std::string output;
  bool drained = false;
  for (int i = 0; i < 200 && !drained; ++i) {
    output += f.take(id);
    for (Event& e : f.turn()) drained = drained || e.kind == EventKind::DRAIN;
  }
  output += f.take(id);
  CHECK(drained);
  CHECK_EQ(f.server.bufferedAmount(id), 0);
  std::vector<wire::ServerFrame> out = frames(output);
  CHECK_EQ(out.size(), size_t{1});
  if (!out.empty()) CHECK(out[0].payload == big);
}

void closeHandshake() {
  Fixture f;
  ConnectionId id = f.open();
  f.feed(id, maskedFrame(0x88, std::string("\x03\xe8") + "bye"));
  f.turn();
  Server::StreamOutput status;
  std::vector<wire::ServerFrame> out = frames(f.take(id, &status));
  CHECK_EQ(out.size(), size_t{1});
  if (!out.empty()) CHECK_EQ(out[0].payload, std::string("\x03\xe8") + "bye");  // echoed
  CHECK(status.writeShut);  // FIN after our close frame
  CHECK(!status.closed);
  CHECK_EQ(f.server.streamEnded(id), 0);
  std::vector<Event> events = f.turn();
  CHECK_EQ(events.size(), size_t{2});  // and STOPPED: no listener, no connection left
  if (events.size() == 2) {
    CHECK(events[1].kind == EventKind::STOPPED);
    CHECK(events[0].kind == EventKind::CLOSE);
    CHECK_EQ(events[0].arg, 1000u);
    CHECK_EQ(events[0].payload, std::string("bye"));
  }
  CHECK_EQ(f.server.connectionCount(), size_t{0});
  f.take(id, &status);
  CHECK_EQ(status.status, static_cast<int>(CallStatus::CLOSED));  // released after the CLOSE was handed out
  CHECK_EQ(f.server.feed(id, reinterpret_cast<const uint8_t*>("x"), 1), static_cast<int>(CallStatus::CLOSED));
}

void timersOnTheManualClock() {
  ServerOptions options;
  options.handshakeTimeoutMs = 1000;
  options.idleTimeoutMs = 4000;
  Fixture f(options);
  ConnectionId slow = f.server.attachStream({"192.0.2.2", 1, 4}, 1024);
  f.feed(slow, "GET / HTTP/1.1\r\n");
  f.turn();
  f.clock.advance(999);
  f.turn();
  CHECK_EQ(f.server.connectionCount(), size_t{1});
  f.clock.advance(200);  // past the handshake deadline (and the wheel's tick)
  f.turn();
  CHECK_EQ(f.server.connectionCount(), size_t{0});

  ConnectionId id = f.open();
  f.clock.advance(2100);  // half the idle timeout: a ping
  f.turn();
  std::vector<wire::ServerFrame> out = frames(f.take(id));
  CHECK_EQ(out.size(), size_t{1});
  if (!out.empty()) CHECK_EQ(out[0].opcode, uint8_t{0x9});
  f.clock.advance(2100);  // no pong: dropped
  std::vector<Event> events = f.turn();
  CHECK_EQ(events.size(), size_t{2});
  if (events.size() == 2) {
    CHECK(events[1].kind == EventKind::STOPPED);
    CHECK(events[0].kind == EventKind::CLOSE);
    CHECK_EQ(events[0].arg, 1006u);
  }
}

void refusedRequestEndsTheStream() {
  Fixture f;
  ConnectionId id = f.server.attachStream({"192.0.2.3", 1, 4}, 1024);
  f.feed(id, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // not an upgrade
  std::vector<Event> events = f.turn();
  CHECK_EQ(events.size(), size_t{1});
  if (!events.empty()) CHECK(events[0].kind == EventKind::CLIENT_ERROR);
  Server::StreamOutput status;
  std::string response = f.take(id, &status);
  CHECK(response.rfind("HTTP/1.1 426", 0) == 0);
  CHECK(status.writeShut);
  f.server.streamEnded(id);
  events = f.turn();
  CHECK_EQ(events.size(), size_t{1});  // never known: no CLOSE, only STOPPED
  if (!events.empty()) CHECK(events[0].kind == EventKind::STOPPED);
  CHECK_EQ(f.server.connectionCount(), size_t{0});
}

}  // namespace

int main() {
  transportAlone();
  echoAtEverySplit();
  backpressureThroughTheWindow();
  closeHandshake();
  timersOnTheManualClock();
  refusedRequestEndsTheStream();
  return CHECK_SUMMARY("stream_transport_test");
}
