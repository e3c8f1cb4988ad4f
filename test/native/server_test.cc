// The reactor end to end, in C++ alone, under ASan/UBSan: a Server on 127.0.0.1, real client
// sockets, turns driven by hand as the binding would (runTurn, takeBatch, endTurn).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "check.h"
#include "server.h"

using namespace epollws;

namespace {

struct Event {
  EventKind kind;
  ConnectionId id;
  uint32_t arg;
  std::string payload;
};

// Events seen by turns that were driven while waiting for something else (readSome).
std::vector<Event> backlog;

// One driver turn: run the reactor, hand out the batch, then flush and release, as the binding does.
std::vector<Event> turn(Server& server, int timeoutMs = 50) {
  server.runTurn(timeoutMs);
  EventBatch batch;
  server.takeBatch(batch);
  std::vector<Event> events;
  for (const EventRecord& r : batch.records) {
    Event e{static_cast<EventKind>(r.kind), {r.slot, r.generation}, r.arg, {}};
    if (r.arg & MESSAGE_EXTERNAL && e.kind == EventKind::MESSAGE) {
      const ByteBuffer& b = batch.externals[r.offset];
      e.payload.assign(reinterpret_cast<const char*>(b.data()), b.size());
    } else {
      e.payload.assign(reinterpret_cast<const char*>(batch.data.data()) + r.offset, r.length);
    }
    events.push_back(std::move(e));
  }
  server.endTurn();
  return events;
}

// Turns until an event of `kind` arrives (bounded).
bool waitFor(Server& server, EventKind kind, Event* out, int turns = 100) {
  for (size_t i = 0; i < backlog.size(); ++i) {
    if (backlog[i].kind == kind) {
      if (out) *out = backlog[i];
      backlog.erase(backlog.begin(), backlog.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      return true;
    }
  }
  backlog.clear();
  for (int i = 0; i < turns; ++i) {
    for (Event& e : turn(server)) {
      if (e.kind == kind) {
        if (out) *out = e;
        return true;
      }
    }
  }
  return false;
}

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  return fd;
}

void writeAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reads what the server sent so far (non-blocking after a short wait), driving turns meanwhile.
std::string readSome(Server& server, int fd, size_t atLeast) {
  std::string out;
  for (int i = 0; i < 100 && out.size() < atLeast; ++i) {
    for (Event& e : turn(server, 5)) backlog.push_back(std::move(e));
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5) > 0) {
      char buffer[65536];
      ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n <= 0) return out;
      out.append(buffer, static_cast<size_t>(n));
    }
  }
  return out;
}

std::string maskedFrame(uint8_t opcodeAndFin, const std::string& payload) {
  std::string frame;
  frame += static_cast<char>(opcodeAndFin);
  const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    frame += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(payload.size() >> 8);
    frame += static_cast<char>(payload.size() & 0xff);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((payload.size() >> shift) & 0xff);
  }
  frame.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
  return frame;
}

const char* REQUEST =
    "GET /chat?x=1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Opens a client and completes the handshake; returns the client fd and the connection's id.
int openClient(Server& server, uint16_t port, ConnectionId* id, const std::string& pipelined = "") {
  int fd = connectTo(port);
  writeAll(fd, std::string(REQUEST) + pipelined);
  Event upgrade;
  if (!waitFor(server, EventKind::UPGRADE, &upgrade)) return -1;
  *id = upgrade.id;
  server.acceptUpgrade(upgrade.id, "", "", "");
  std::string response = readSome(server, fd, 129);
  if (response.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string::npos) return -1;
  return fd;
}

void testEchoAndClose() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  CHECK_EQ(listening.error, 0);
  ConnectionId id{};
  int fd = openClient(server, listening.port, &id, maskedFrame(0x81, "pipelined"));
  CHECK(fd >= 0);

  Event message;
  CHECK(waitFor(server, EventKind::MESSAGE, &message));
  CHECK_EQ(message.payload, std::string("pipelined"));
  CHECK_EQ(message.arg & MESSAGE_BINARY, 0u);

  std::string big(100000, 'b');
  writeAll(fd, maskedFrame(0x82, big));
  CHECK(waitFor(server, EventKind::MESSAGE, &message));
  CHECK_EQ(message.payload.size(), big.size());
  CHECK(message.arg & MESSAGE_EXTERNAL);
  CHECK_EQ(server.send(id, Opcode::TEXT, reinterpret_cast<const uint8_t*>("hi"), 2).status, 0);
  server.flush();
  std::string echoed = readSome(server, fd, 4);
  CHECK_EQ(echoed, std::string("\x81\x02hi", 4));

  // The client closes with 4000: the server echoes it and reports CLOSE 4000 once TCP is down.
  writeAll(fd, maskedFrame(0x88, std::string("\x0f\xa0" "bye", 5)));
  std::string reply = readSome(server, fd, 7);
  CHECK_EQ(reply, std::string("\x88\x05\x0f\xa0" "bye", 7));
  ::close(fd);
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.arg, 4000u);
  CHECK_EQ(closed.payload, std::string("bye"));
  CHECK_EQ(server.connectionCount(), 0u);
  // A stale id does nothing once the slot was released.
  CHECK_EQ(server.send(id, Opcode::TEXT, reinterpret_cast<const uint8_t*>("x"), 1).status, -1);
}

// The client's close frame is echoed and its code and reason reach the CLOSE event: with a reason of
// the maximum length cut across reads (assembled in the parser's heap buffer), with a code alone,
// and empty.
void testCloseReasons() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  ConnectionId id{};

  std::string reason;
  for (size_t i = 0; i < MAX_CONTROL_PAYLOAD - 2; ++i) reason += static_cast<char>('a' + i % 26);
  int fd = openClient(server, listening.port, &id);
  CHECK(fd >= 0);
  std::string frame = maskedFrame(0x88, std::string("\x0f\xa1", 2) + reason);
  const size_t cuts[] = {9, 60};  // inside the payload, twice
  size_t done = 0;
  for (size_t cut : cuts) {
    writeAll(fd, frame.substr(done, cut - done));
    done = cut;
    for (int i = 0; i < 3; ++i) {
      for (Event& e : turn(server, 5)) backlog.push_back(std::move(e));
    }
  }
  writeAll(fd, frame.substr(done));
  std::string reply = readSome(server, fd, 2 + 2 + reason.size());
  CHECK_EQ(reply, std::string("\x88\x7d\x0f\xa1", 4) + reason);
  ::close(fd);
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.arg, 4001u);
  CHECK_EQ(closed.payload, reason);

  // A close frame without a reason: the reply echoes the code (or is empty), CLOSE has no reason.
  auto closeWithoutReason = [&](const std::string& payload, uint32_t expectedCode) {
    int client = openClient(server, listening.port, &id);
    CHECK(client >= 0);
    writeAll(client, maskedFrame(0x88, payload));
    CHECK_EQ(readSome(server, client, 2 + payload.size()), std::string("\x88", 1) + static_cast<char>(payload.size()) + payload);
    ::close(client);
    Event event;
    CHECK(waitFor(server, EventKind::CLOSE, &event));
    CHECK_EQ(event.arg, expectedCode);
    CHECK_EQ(event.payload, std::string());
  };
  closeWithoutReason(std::string("\x03\xe8", 2), 1000u);
  closeWithoutReason("", 1005u);
}

void testProtocolErrorAndAbort() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  ConnectionId id{};
  int fd = openClient(server, listening.port, &id);
  CHECK(fd >= 0);
  writeAll(fd, std::string("\x81\x05hello", 7));  // unmasked: 1002
  Event error;
  CHECK(waitFor(server, EventKind::ERROR, &error));
  CHECK_EQ(error.arg, static_cast<uint32_t>(ErrorCode::EXPECTED_MASK));
  std::string reply = readSome(server, fd, 4);
  CHECK_EQ(reply, std::string("\x88\x02\x03\xea", 4));
  ::close(fd);
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.arg, 1006u);

  // A client that vanishes without a close frame is reported as 1006.
  fd = openClient(server, listening.port, &id);
  CHECK(fd >= 0);
  ::close(fd);
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.arg, 1006u);
}

void testHandshakeRefusals() {
  ServerOptions options;
  options.path = "/chat";
  options.maxConnections = 1;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);

  int fd = connectTo(listening.port);
  writeAll(fd, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
  std::string reply = readSome(server, fd, 12);
  CHECK(reply.rfind("HTTP/1.1 426", 0) == 0);
  CHECK(reply.find("Sec-WebSocket-Version: 13") != std::string::npos);
  ::close(fd);

  fd = connectTo(listening.port);
  writeAll(fd, "GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  reply = readSome(server, fd, 12);
  CHECK(reply.rfind("HTTP/1.1 404", 0) == 0);
  ::close(fd);

  // Over maxConnections: the second client gets 503 while the first is open.
  ConnectionId id{};
  int first = openClient(server, listening.port, &id);
  CHECK(first >= 0);
  fd = connectTo(listening.port);
  writeAll(fd, REQUEST);
  reply = readSome(server, fd, 12);
  CHECK(reply.rfind("HTTP/1.1 503", 0) == 0);
  ::close(fd);
  ::close(first);
  for (int i = 0; i < 20; ++i) turn(server, 5);
}

void testTimeoutsAndShutdown() {
  ServerOptions options;
  options.idleTimeoutMs = 400;
  options.handshakeTimeoutMs = 300;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);

  // Slowloris: half a request head, then silence. Dropped at the handshake timeout.
  int slow = connectTo(listening.port);
  writeAll(slow, "GET / HTTP/1.1\r\nHost:");
  ConnectionId id{};
  int fd = openClient(server, listening.port, &id);
  CHECK(fd >= 0);
  // The open client never answers: it gets a ping at half the idle timeout, then is dropped.
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed, 200));
  CHECK_EQ(closed.arg, 1006u);
  std::string received = readSome(server, fd, 2);
  CHECK(received.find("\x89\x00", 0, 2) != std::string::npos);
  char byte;
  CHECK_EQ(::recv(slow, &byte, 1, 0), 0);  // the slowloris connection was closed too
  ::close(slow);
  ::close(fd);

  // Shutdown: stop listening, drop what is left; STOPPED reports the end.
  fd = openClient(server, listening.port, &id);
  server.stopListening();
  server.dropConnections(false);
  CHECK(waitFor(server, EventKind::STOPPED, nullptr));
  CHECK_EQ(server.connectionCount(), 0u);
  ::close(fd);
}

void testBackpressure() {
  ServerOptions options;
  options.maxBackpressure = 64 * 1024;
  options.dropOnBackpressure = true;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  ConnectionId id{};
  int fd = openClient(server, listening.port, &id);  // never reads from here on
  std::string chunk(32 * 1024, 'x');
  int dropped = 0;
  for (int i = 0; i < 2000 && dropped == 0; ++i) {
    int status = server.send(id, Opcode::BINARY, reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()).status;
    if (status == static_cast<int>(CallStatus::DROPPED)) ++dropped;
    server.flush();
  }
  CHECK_EQ(dropped, 1);
  CHECK(server.bufferedAmount(id) < static_cast<int64_t>(64 * 1024 + chunk.size() + 16));
  ::close(fd);
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
}

}  // namespace

int main() {
  testEchoAndClose();
  testCloseReasons();
  testProtocolErrorAndAbort();
  testHandshakeRefusals();
  testTimeoutsAndShutdown();
  testBackpressure();
  return CHECK_SUMMARY("server_test");
}
