// One Connection on its own, outside a Server: a real Reactor, a real EventBatch and the
// connection's FdTransport on one end of a socketpair (the test holds the peer end). The owner
// records what the connection asks of its server, so a test sees each call the room makes.
#pragma once
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connection.h"
#include "event_batch.h"
#include "reactor.h"

namespace harness {

using namespace epollws;

struct RecordingOwner : ConnectionOwner {
  int closed = 0;
  int timersArmed = 0;
  std::string handshakeBytes;
  void onConnectionClosed(Connection&) override { ++closed; }
  void armTimer(Connection&) override { ++timersArmed; }
  void onHandshakeBytes(Connection&, uint8_t* data, size_t len) override {
    handshakeBytes.append(reinterpret_cast<const char*>(data), len);
  }
  // No connection holds "the most" unless a test says so (the bound is the Server's to compute).
  size_t cutoff = SIZE_MAX;
  size_t totalBudgetCutoff() override { return cutoff; }
  int inflateStalls = 0;
  void onInflateStalled(Connection&) override { ++inflateStalls; }
  int inputBuffered = 0;
  void onInputBuffered(Connection&) override { ++inputBuffered; }
};

struct Rig {
  explicit Rig(ServerOptions opts = {}) : options(std::move(opts)) {
    reactor.init();
    int fds[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
    peer = fds[1];
    conn.fdIo = FdTransport(fds[0]);
    conn.slot = 7;
    conn.generation = 3;
    conn.state = ConnState::OPEN;
    conn.known = true;
    FrameParserOptions parserOptions;
    parserOptions.maxPayload = options.maxPayload;
    parserOptions.maxFragments = options.maxFragments;
    conn.parser.setOptions(parserOptions);
    reactor.add(conn.io().pollFd(), epollTag(conn), Interest{true, false, false});
  }
  ~Rig() {
    conn.output.release(totalQueued);
    ::close(peer);
  }

  // Feeds client bytes to the parser as if just read.
  void feed(const std::string& bytes) {
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    conn.consumeFrames(host, copy.data(), copy.size());
  }
  // What the peer end has received so far (non-blocking).
  std::string received() {
    std::string out;
    char buffer[65536];
    for (;;) {
      ssize_t n = ::recv(peer, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n <= 0) {
        peerSawEnd = peerSawEnd || n == 0;
        return out;
      }
      out.append(buffer, static_cast<size_t>(n));
    }
  }
  std::string payloadOf(const EventRecord& r) const {
    if (r.kind == static_cast<uint32_t>(EventKind::MESSAGE) && (r.arg & MESSAGE_EXTERNAL)) {
      const ByteBuffer& b = batch.externals[r.offset];
      return std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }
    return std::string(reinterpret_cast<const char*>(batch.data.data()) + r.offset, r.length);
  }

  ServerOptions options;
  RecordingOwner owner;
  Reactor reactor;
  EventBatch batch;
  size_t totalQueued = 0;
  std::vector<uint32_t> dirty;
  std::vector<uint32_t> closeReplies;
  uint64_t nowMs = 1;
  bool inTurn = true;
  uint32_t tlsHandshakeBudget = 32;
  ConnectionHost host{options, owner, reactor, batch, totalQueued, dirty, closeReplies, nowMs, inTurn,
                      tlsHandshakeBudget};
  Connection conn;
  int peer = -1;
  bool peerSawEnd = false;
};

}  // namespace harness
