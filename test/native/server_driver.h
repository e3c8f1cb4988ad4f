// Drives a core Server by hand from a test, as the binding does (runTurn, takeBatch, endTurn), and
// talks to it through real client sockets on 127.0.0.1. Shared by the tests that need a live server.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "server.h"
#include "wire.h"

namespace driver {

using namespace epollws;


struct Event {
  EventKind kind;
  ConnectionId id;
  uint32_t arg;
  std::string payload;
};

// Events seen by turns that were driven while waiting for something else (readSome).
inline std::vector<Event> backlog;

// One driver turn: run the reactor, hand out the batch, then flush and release, as the binding does.
inline std::vector<Event> turn(Server& server, int timeoutMs = 50) {
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
inline bool waitFor(Server& server, EventKind kind, Event* out, int turns = 100) {
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

inline int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
  return fd;
}

inline void writeAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reads what the server sent so far (non-blocking after a short wait), driving turns meanwhile.
inline std::string readSome(Server& server, int fd, size_t atLeast) {
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

inline std::string maskedFrame(uint8_t opcodeAndFin, const std::string& payload) {
  return wire::toString(wire::clientFrame(opcodeAndFin, payload));
}

inline const char* const REQUEST = wire::UPGRADE_REQUEST;

// Opens a client and completes the handshake; returns the client fd and the connection's id.
inline int openClient(Server& server, uint16_t port, ConnectionId* id, const std::string& pipelined = "") {
  int fd = connectTo(port);
  writeAll(fd, std::string(REQUEST) + pipelined);
  Event upgrade;
  if (!waitFor(server, EventKind::UPGRADE, &upgrade)) return -1;
  *id = upgrade.id;
  server.acceptUpgrade(upgrade.id, "", "", "");
  std::string response = readSome(server, fd, 129);
  if (response.find(wire::UPGRADE_ACCEPT_KEY) == std::string::npos) return -1;
  return fd;
}


}  // namespace driver
