// Output backpressure on a live server, real sockets: read pausing for a request/response peer
// that does not read its answers, the server-wide bound, and header validation at accept.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "check.h"
#include "server_driver.h"

using namespace driver;

namespace {

// The server's (unmasked) frames, decoded from what the client read; returns the payloads.
std::vector<std::string> serverFrames(const std::string& bytes, size_t* consumed) {
  std::vector<std::string> out;
  size_t at = 0;
  while (bytes.size() - at >= 2) {
    size_t length = static_cast<uint8_t>(bytes[at + 1]) & 0x7f;
    size_t header = 2;
    if (length == 126) {
      if (bytes.size() - at < 4) break;
      length = (static_cast<uint8_t>(bytes[at + 2]) << 8) | static_cast<uint8_t>(bytes[at + 3]);
      header = 4;
    } else if (length == 127) {
      break;  // not used here
    }
    if (bytes.size() - at < header + length) break;
    out.push_back(bytes.substr(at + header, length));
    at += header + length;
  }
  *consumed = at;
  return out;
}

// One echo turn, as the example echo server does: every MESSAGE is sent back.
size_t echoTurn(Server& server, int timeoutMs, bool* closed) {
  size_t echoed = 0;
  server.runTurn(timeoutMs);
  EventBatch batch;
  server.takeBatch(batch);
  for (const EventRecord& r : batch.records) {
    if (r.kind == static_cast<uint32_t>(EventKind::CLOSE)) *closed = true;
    if (r.kind != static_cast<uint32_t>(EventKind::MESSAGE)) continue;
    const uint8_t* payload = r.arg & MESSAGE_EXTERNAL ? batch.externals[r.offset].data() : batch.data.data() + r.offset;
    server.send({r.slot, r.generation}, Opcode::TEXT, payload, r.length);
    ++echoed;
  }
  server.endTurn();
  return echoed;
}

std::string request(int i) {
  std::string text = "request " + std::to_string(i) + " ";
  text.resize(1000, '.');
  return text;
}

// The fix: a client pushes echo requests and never reads. Before, the echoes piled up until the
// close policy dropped it; now the server stops reading it once its queue is high (the client's
// writes block: TCP backpressure), it is not dropped, and once it reads it gets every echo in order.
void testReadPauseForNonReadingPeer() {
  ServerOptions options;
  options.maxBackpressure = 512 * 1024;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  ConnectionId id{};
  int fd = openClient(server, listening.port, &id);
  CHECK(fd >= 0);
  int small = 64 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  const int total = 16 * 1024;  // 16 MiB of requests: far past the limit and the socket buffers
  std::string pending;
  int next = 0;
  bool closed = false;
  size_t maxBuffered = 0;
  int stalledTurns = 0;
  // Phase 1: write until the kernel refuses for many turns in a row (the server stopped reading).
  while (next < total && stalledTurns < 200 && !closed) {
    while (pending.size() < 64 * 1024 && next < total) pending += maskedFrame(0x81, request(next++));
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      pending.erase(0, static_cast<size_t>(n));
      stalledTurns = 0;
    } else {
      ++stalledTurns;
    }
    echoTurn(server, 1, &closed);
    int64_t buffered = server.bufferedAmount(id);
    if (buffered > static_cast<int64_t>(maxBuffered)) maxBuffered = static_cast<size_t>(buffered);
  }
  CHECK(!closed);
  CHECK(next < total || !pending.empty());       // the client was held back
  CHECK(maxBuffered >= 256 * 1024);             // ... by a paused server holding half the limit
  CHECK(maxBuffered < 512 * 1024);              // ... never reaching the limit (no policy)
  CHECK(server.totalBuffered() == static_cast<size_t>(server.bufferedAmount(id)));

  // Phase 2: the client reads (and writes the rest); every echo arrives, in order.
  std::string received;
  int got = 0;
  bool inOrder = true;
  for (int round = 0; round < 200000 && got < total && !closed; ++round) {
    while (pending.size() < 64 * 1024 && next < total) pending += maskedFrame(0x81, request(next++));
    if (!pending.empty()) {
      ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) pending.erase(0, static_cast<size_t>(n));
    }
    echoTurn(server, 0, &closed);
    char buffer[65536];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) received.append(buffer, static_cast<size_t>(n));
    size_t consumed = 0;
    for (const std::string& echo : serverFrames(received, &consumed)) {
      if (echo != request(got)) inOrder = false;
      ++got;
    }
    received.erase(0, consumed);
    if (got < total) {
      pollfd p{fd, POLLIN, 0};
      ::poll(&p, 1, 1);
    }
  }
  CHECK(!closed);
  CHECK_EQ(got, total);
  CHECK(inOrder);
  CHECK_EQ(server.totalBuffered(), 0u);
  ::close(fd);
}

// Fills a never-reading client's queue to about `bytes` with 32 KiB sends (its receive buffer is
// small, so the kernel keeps little).
int sendUntilQueued(Server& server, ConnectionId id, size_t bytes) {
  std::string chunk(32 * 1024, 'z');
  int status = 0;
  for (int i = 0; i < 4096 && status == 0; ++i) {
    int64_t queued = server.bufferedAmount(id);
    if (queued < 0 || static_cast<size_t>(queued) >= bytes) break;
    status = server.send(id, Opcode::BINARY, reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()).status;
  }
  return status;
}

int quietClient(Server& server, uint16_t port, ConnectionId* id) {
  int fd = openClient(server, port, id);
  int small = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  return fd;
}

// The server-wide bound: past it the policy hits the sockets holding the most, not the others.
void testTotalBound(bool dropPolicy) {
  ServerOptions options;
  options.maxBackpressure = 0;  // no per-socket limit: only the total bounds the queues
  options.maxTotalBackpressure = 2 * 1024 * 1024;
  options.dropOnBackpressure = dropPolicy;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  ConnectionId big{}, small1{}, small2{};
  int fdBig = quietClient(server, listening.port, &big);
  int fdSmall1 = quietClient(server, listening.port, &small1);
  int fdSmall2 = quietClient(server, listening.port, &small2);
  CHECK_EQ(sendUntilQueued(server, small1, 256 * 1024), 0);
  CHECK_EQ(sendUntilQueued(server, small2, 256 * 1024), 0);
  int status = sendUntilQueued(server, big, 64 * 1024 * 1024);  // stops at the policy
  server.flush();
  if (dropPolicy) {
    CHECK_EQ(status, static_cast<int>(CallStatus::DROPPED));
    CHECK(server.bufferedAmount(big) > 0);
  } else {
    CHECK_EQ(status, static_cast<int>(CallStatus::CLOSED));
    Event closed;
    CHECK(waitFor(server, EventKind::CLOSE, &closed));
    CHECK_EQ(closed.id.slot, big.slot);
  }
  CHECK(server.totalBuffered() <= 2 * 1024 * 1024 + 64 * 1024);
  // The small holders are untouched and may still send.
  std::string hello = "hello";
  CHECK_EQ(server.send(small1, Opcode::TEXT, reinterpret_cast<const uint8_t*>(hello.data()), hello.size()).status, 0);
  CHECK_EQ(server.send(small2, Opcode::TEXT, reinterpret_cast<const uint8_t*>(hello.data()), hello.size()).status, 0);
  server.endTurn();
  ::close(fdBig);
  ::close(fdSmall1);
  ::close(fdSmall2);
}

// With 'drop', sends to the lighter sockets are admitted while over the bound, but never past the
// ceiling (the bound plus a sixteenth): many sockets filled round-robin within one turn, so the
// cutoff computed when the bound was first crossed goes stale as they grow.
void testTotalCeilingRoundRobin() {
  constexpr size_t BOUND = 2 * 1024 * 1024;
  constexpr size_t MESSAGE = 16 * 1024;
  ServerOptions options;
  options.maxBackpressure = 0;
  options.maxTotalBackpressure = BOUND;
  options.dropOnBackpressure = true;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 64, false);
  std::vector<ConnectionId> ids(24);
  std::vector<int> fds;
  for (ConnectionId& id : ids) fds.push_back(quietClient(server, listening.port, &id));
  std::string chunk(MESSAGE, 'r');
  size_t peak = 0;
  size_t dropped = 0;
  bool admitted = true;
  for (int round = 0; round < 2000 && admitted; ++round) {
    admitted = false;
    for (size_t i = 0; i < ids.size(); ++i) {
      // Later sockets get more, so the queues differ in size as they would in a real fan-out.
      for (size_t repeat = 0; repeat <= i % 3; ++repeat) {
        int status = server.send(ids[i], Opcode::BINARY, reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()).status;
        if (status == 0) admitted = true;
        if (status == static_cast<int>(CallStatus::DROPPED)) ++dropped;
        if (server.totalBuffered() > peak) peak = server.totalBuffered();
      }
    }
  }
  CHECK(!admitted);  // the loop ended because every send was refused
  CHECK(dropped > 0);
  CHECK(peak <= BOUND + BOUND / 16 + MESSAGE + 16);
  CHECK(peak >= BOUND);
  server.endTurn();
  for (int fd : fds) ::close(fd);
}

// With 'close', the end-of-turn enforcement drops the heaviest queue first even when one large
// send took the total past the ceiling (a light socket earlier in the slot table stays open).
void testCloseHeaviestPastCeiling() {
  constexpr size_t BOUND = 2 * 1024 * 1024;
  ServerOptions options;
  options.maxBackpressure = 0;
  options.maxTotalBackpressure = BOUND;
  Server server(std::move(options));
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  ConnectionId light{}, heavy{};
  int fdLight = quietClient(server, listening.port, &light);
  int fdHeavy = quietClient(server, listening.port, &heavy);
  CHECK(light.slot < heavy.slot);
  CHECK_EQ(sendUntilQueued(server, light, 256 * 1024), 0);
  CHECK_EQ(sendUntilQueued(server, heavy, BOUND - 512 * 1024), 0);
  std::string large(4 * 1024 * 1024, 'L');  // one message of any size is admitted below the bound
  CHECK_EQ(server.send(heavy, Opcode::BINARY, reinterpret_cast<const uint8_t*>(large.data()), large.size()).status, 0);
  CHECK(server.totalBuffered() >= BOUND + BOUND / 16);
  server.flush();
  Event closed;
  CHECK(waitFor(server, EventKind::CLOSE, &closed));
  CHECK_EQ(closed.id.slot, heavy.slot);
  CHECK(server.bufferedAmount(light) > 0);  // still open, its queue intact
  server.endTurn();
  ::close(fdLight);
  ::close(fdHeavy);
}

// Extra header lines that are not valid header lines are refused; nothing is sent and the upgrade
// can still be decided.
void testHeaderValidation() {
  Server server(ServerOptions{});
  CHECK_EQ(server.init(), 0);
  ListenResult listening = server.listen("127.0.0.1", 0, 16, false);
  int fd = connectTo(listening.port);
  writeAll(fd, REQUEST);
  Event upgrade;
  CHECK(waitFor(server, EventKind::UPGRADE, &upgrade));
  const int invalid = static_cast<int>(CallStatus::INVALID_HEADERS);
  CHECK_EQ(server.acceptUpgrade(upgrade.id, "", "", "X-A: 1\r\nInjected\r\n"), invalid);
  CHECK_EQ(server.acceptUpgrade(upgrade.id, "", "", "X-A: 1"), invalid);          // no CRLF
  CHECK_EQ(server.acceptUpgrade(upgrade.id, "", "", "X A: 1\r\n"), invalid);      // not a token
  CHECK_EQ(server.acceptUpgrade(upgrade.id, "", "", "X-A: a\nb\r\n"), invalid);   // bare LF
  CHECK_EQ(server.acceptUpgrade(upgrade.id, "p\r\nX: y", "", ""), invalid);       // protocol splits
  CHECK_EQ(server.rejectUpgrade(upgrade.id, 403, "Bad\r\n", ""), invalid);
  CHECK_EQ(server.bufferedAmount(upgrade.id), 0);
  CHECK_EQ(server.acceptUpgrade(upgrade.id, "", "", "X-A: 1\r\nX-B:\r\n"), 0);
  std::string response = readSome(server, fd, 129);
  CHECK(response.find("\r\nX-A: 1\r\nX-B:\r\n") != std::string::npos);
  ::close(fd);
}

}  // namespace

int main() {
  testReadPauseForNonReadingPeer();
  testTotalBound(false);
  testTotalBound(true);
  testTotalCeilingRoundRobin();
  testCloseHeaviestPastCeiling();
  testHeaderValidation();
  return CHECK_SUMMARY("backpressure_test");
}
