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
#include "server_driver.h"
#include "server.h"

using namespace epollws;

using namespace driver;

namespace {

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
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n");
  std::string reply = readSome(server, fd, 12);
  CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(reply.find("Sec-WebSocket-Version: 13, 8\r\n") != std::string::npos);
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
