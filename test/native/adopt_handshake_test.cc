// The upgrade pipeline's two entries, under ASan/UBSan on real loopback sockets: adoptHandshake (a
// connection whose head node:http read enters the core BEFORE the decision and is validated like
// a listener's), the HandshakeFailure reasons on CLIENT_ERROR, and refusals held for the user.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "check.h"
#include "handshake_failure.h"
#include "server.h"
#include "server_driver.h"

using namespace epollws;
using namespace driver;

namespace {

const std::string BAD_VERSION =
    "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n";

// A connected loopback pair: *client is the peer's end, the result the server side (as node holds it).
int connectedPair(int* client) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listener, 1);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length);
  *client = connectTo(ntohs(addr.sin_port));
  int server = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  return server;
}

// Adopts a fresh connection with `head`; the caller's copy of the fd is closed, as lib does.
Server::AdoptResult adopt(Server& server, int* client, const std::string& head, const std::string& rest = "",
                          bool servePath = true, bool answerRefusal = true) {
  int nodeFd = connectedPair(client);
  Server::AdoptResult result = server.adoptHandshake(nodeFd, head, reinterpret_cast<const uint8_t*>(rest.data()),
                                                     rest.size(), servePath, answerRefusal);
  ::close(nodeFd);
  return result;
}

bool sawKind(const std::vector<Event>& events, EventKind kind) {
  for (const Event& e : events) {
    if (e.kind == kind) return true;
  }
  return false;
}

void testAdoptAwaitsTheDecision() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  int client = -1;
  Server::AdoptResult result = adopt(server, &client, REQUEST, maskedFrame(0x81, "behind the head"));
  CHECK_EQ(result.error, 0);
  CHECK(result.failure == HandshakeFailure::NONE);
  CHECK_EQ(server.connectionCount(), 1u);
  // Nothing is answered, and no UPGRADE event: the caller has the request.
  std::vector<Event> events = turn(server, 5);
  CHECK(!sawKind(events, EventKind::UPGRADE));
  CHECK_EQ(server.acceptUpgrade(result.id, "chat", "", "X-Extra: 1\r\n"), static_cast<int>(CallStatus::OK));
  std::string reply = readSome(server, client, 129);
  CHECK(reply.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(reply.find(wire::UPGRADE_ACCEPT_KEY) != std::string::npos);
  CHECK(reply.find("Sec-WebSocket-Protocol: chat\r\n") != std::string::npos);
  CHECK(reply.find("X-Extra: 1\r\n") != std::string::npos);
  Event message;
  CHECK(waitFor(server, EventKind::MESSAGE, &message));
  CHECK_EQ(message.payload, std::string("behind the head"));
  CHECK_EQ(message.id.slot, result.id.slot);
  ::close(client);
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.arg, 1006u);
}

void testAdoptedClientLeavesDuringTheDecision() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  int client = -1;
  Server::AdoptResult result = adopt(server, &client, REQUEST);
  CHECK(result.failure == HandshakeFailure::NONE);
  ::shutdown(client, SHUT_WR);  // a half-close is leaving too
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.id.slot, result.id.slot);
  CHECK_EQ(closed.id.generation, result.id.generation);
  CHECK_EQ(server.acceptUpgrade(result.id, "", "", ""), static_cast<int>(CallStatus::CLOSED));
  ::close(client);
}

void testAdoptRefusesLikeTheListener() {
  ServerOptions options;
  options.path = "/chat";
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  CHECK_EQ(listening.error, 0);

  int viaListener = connectTo(listening.port);
  writeAll(viaListener, BAD_VERSION);
  Event refused;
  CHECK(waitFor(server, EventKind::CLIENT_ERROR, &refused));
  CHECK_EQ(refused.arg, static_cast<uint32_t>(HandshakeFailure::INVALID_VERSION));
  std::string listenerReply = readSome(server, viaListener, 1000);

  int adopted = -1;
  Server::AdoptResult result = adopt(server, &adopted, BAD_VERSION);
  CHECK(result.failure == HandshakeFailure::INVALID_VERSION);
  std::vector<Event> events = turn(server, 5);
  CHECK(!sawKind(events, EventKind::CLIENT_ERROR));
  std::string adoptedReply = readSome(server, adopted, 1000);
  CHECK_EQ(adoptedReply, listenerReply);
  CHECK(adoptedReply.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(adoptedReply.find("Sec-WebSocket-Version: 13, 8\r\n") != std::string::npos);
  CHECK(adoptedReply.find(handshakeFailureInfo(HandshakeFailure::INVALID_VERSION).message) != std::string::npos);
  ::close(viaListener);
  ::close(adopted);

  // The path rule on this path is the caller's (shouldHandle): the core's path option is not asked.
  int wrongPath = -1;
  result = adopt(server, &wrongPath, REQUEST, "", /*servePath=*/false);
  CHECK(result.failure == HandshakeFailure::PATH_NOT_SERVED);
  CHECK(readSome(server, wrongPath, 12).rfind("HTTP/1.1 404", 0) == 0);
  ::close(wrongPath);
  int otherPath = -1;
  std::string head = REQUEST;
  head.replace(head.find("/chat?x=1"), 9, "/elsewhere");
  result = adopt(server, &otherPath, head);
  CHECK(result.failure == HandshakeFailure::NONE);
  ::close(otherPath);

  // answerRefusal false: the core drops its copy without a byte (the caller answers on its own).
  int silent = -1;
  result = adopt(server, &silent, BAD_VERSION, "", true, /*answerRefusal=*/false);
  CHECK(result.failure == HandshakeFailure::INVALID_VERSION);
  CHECK_EQ(readSome(server, silent, 1), std::string());
  ::close(silent);

  // A head that is not one (no blank line) is refused, not waited for.
  int truncated = -1;
  result = adopt(server, &truncated, "GET / HTTP/1.1\r\nHost: x\r\n");
  CHECK(result.failure != HandshakeFailure::NONE);
  ::close(truncated);
  for (int i = 0; i < 10; ++i) turn(server, 5);
}

void testAdoptWithABadFd() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  Server::AdoptResult result = server.adoptHandshake(-1, REQUEST, nullptr, 0, true, true);
  CHECK(result.error != 0);
  CHECK_EQ(server.connectionCount(), 0u);
}

void testHeldRefusal() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  server.holdRefusals(true);
  int fd = connectTo(listening.port);
  writeAll(fd, BAD_VERSION);
  Event refused;
  CHECK(waitFor(server, EventKind::CLIENT_ERROR, &refused));
  CHECK_EQ(refused.arg, static_cast<uint32_t>(HandshakeFailure::INVALID_VERSION) | CLIENT_ERROR_HELD);
  writeAll(fd, "more bytes are not read\r\n");
  CHECK_EQ(readSome(server, fd, 1), std::string());  // held: nothing sent
  const std::string mine = "HTTP/1.1 400 Mine\r\n\r\n";
  CHECK_EQ(server.writeRefusal(refused.id, reinterpret_cast<const uint8_t*>(mine.data()), mine.size()),
           static_cast<int>(CallStatus::OK));
  CHECK_EQ(server.endRefusal(refused.id), static_cast<int>(CallStatus::OK));
  CHECK_EQ(readSome(server, fd, mine.size() + 1), mine);  // exactly the user's bytes, then FIN
  CHECK_EQ(server.writeRefusal(refused.id, reinterpret_cast<const uint8_t*>("x"), 1),
           static_cast<int>(CallStatus::CLOSED));
  ::close(fd);

  // Only held refusals take raw bytes: an open connection does not.
  ConnectionId open{};
  int client = openClient(server, listening.port, &open);
  CHECK(client >= 0);
  CHECK_EQ(server.writeRefusal(open, reinterpret_cast<const uint8_t*>("x"), 1), static_cast<int>(CallStatus::CLOSED));
  ::close(client);

  // A held refusal nobody answers goes at the handshake deadline.
  ServerOptions quick;
  quick.handshakeTimeoutMs = 50;
  Server timed(std::move(quick));
  CHECK_EQ(timed.init(), 0);
  ListenResult second = timed.listen("127.0.0.1", 0, 16, false);
  timed.holdRefusals(true);
  fd = connectTo(second.port);
  writeAll(fd, BAD_VERSION);
  CHECK(waitFor(timed, EventKind::CLIENT_ERROR, &refused));
  for (int i = 0; i < 100 && timed.connectionCount() > 0; ++i) turn(timed, 10);
  CHECK_EQ(timed.connectionCount(), 0u);
  ::close(fd);
}

void testFailureTable() {
  for (size_t i = 1; i < static_cast<size_t>(HandshakeFailure::COUNT); ++i) {
    const HandshakeFailureInfo& info = handshakeFailureInfo(static_cast<HandshakeFailure>(i));
    CHECK(info.status >= 400 && info.status <= 599);
    CHECK(std::strlen(info.name) > 0);
    CHECK(std::strlen(info.message) > 0);
  }
  CHECK_EQ(handshakeFailureInfo(static_cast<HandshakeFailure>(200)).status, 0);  // out of range: NONE
  UpgradeParser parser;
  CHECK(parser.feed(BAD_VERSION.data(), BAD_VERSION.size(), nullptr) == UpgradeParser::State::FAILED);
  CHECK(parser.failure() == HandshakeFailure::INVALID_VERSION);
  CHECK_EQ(parser.failureStatus(), 400);
}

// Sec-WebSocket-Protocol is checked by the parser (ws's rule), so every path refuses it alike.
void testSubprotocolList() {
  struct Case {
    const char* lines;
    bool valid;
  };
  const Case cases[] = {
      {"Sec-WebSocket-Protocol: chat\r\n", true},
      {"Sec-WebSocket-Protocol: chat, superchat\r\n", true},
      {"Sec-WebSocket-Protocol:  a ,\tb \r\n", true},
      {"Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n", true},
      {"Sec-WebSocket-Protocol: a, a\r\n", false},
      {"Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: a\r\n", false},
      {"Sec-WebSocket-Protocol: a,,b\r\n", false},
      {"Sec-WebSocket-Protocol: a,\r\n", false},
      {"Sec-WebSocket-Protocol: \r\n", false},
      {"Sec-WebSocket-Protocol: a b\r\n", false},
      {"Sec-WebSocket-Protocol: a/b\r\n", false},
  };
  for (const Case& c : cases) {
    std::string head = REQUEST;
    head.insert(head.size() - 2, c.lines);
    UpgradeParser parser;
    UpgradeParser::State state = parser.feed(head.data(), head.size(), nullptr);
    if (c.valid) {
      CHECK(state == UpgradeParser::State::COMPLETE);
    } else {
      CHECK(state == UpgradeParser::State::FAILED);
      CHECK(parser.failure() == HandshakeFailure::INVALID_SUBPROTOCOL);
    }
  }
}

}  // namespace

int main() {
  testAdoptAwaitsTheDecision();
  testAdoptedClientLeavesDuringTheDecision();
  testAdoptRefusesLikeTheListener();
  testAdoptWithABadFd();
  testHeldRefusal();
  testFailureTable();
  testSubprotocolList();
  return CHECK_SUMMARY("adopt_handshake_test");
}
