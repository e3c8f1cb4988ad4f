// The WebSocket server core: the slot table of connections, the event batch, the timer wheel, the
// server-wide output bound, and the calls made on behalf of the user (each looks the connection
// up and delegates to it: a connection's behaviour is in connection.*, its frames' in
// message_assembler.*). I/O readiness comes from the Reactor, new connections from
// the Listeners, and every connection's bytes move through its transport.
// Knows nothing of Node. The driver protocol: runTurn(), takeBatch(), let the user react (accept,
// send, close...), then endTurn(). Outside a turn (timers, other I/O) a driver calls flush() once
// it has made its calls. See docs/ARCHITECTURE.md, "A message's path, and the turn order".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "connection_host.h"
#include "event_batch.h"
#include "listener.h"
#include "net.h"
#include "opcode.h"
#include "reactor.h"
#include "server_options.h"
#include "timer_wheel.h"
#include "unique_fd.h"

namespace epollws {

class Server : private AcceptSink, private ConnectionOwner {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Creates the epoll set and the eventfd. Returns 0 or an errno.
  int init();
  int epollFd() const { return reactor_.pollFd(); }

  // Binds one listening socket. An empty host listens on every address (IPv6 dual-stack, or IPv4).
  ListenResult listen(const std::string& host, uint16_t port, int backlog, bool reusePort);
  void stopListening();
  // Drops connections at once: every one, or only those the user has not seen yet (still in the
  // handshake or refused). Known ones get their CLOSE event.
  void dropConnections(bool onlyUnknown);
  size_t listenerCount() const { return listeners_.count(); }

  // Handles ready fds (waiting at most timeoutMs) and expired deadlines; events accumulate in the batch.
  void runTurn(int timeoutMs);
  // Milliseconds until the timer wheel's next tick, or -1 when no timer is pending.
  int64_t msUntilNextDeadline() const;

  // Hands the pending events to the caller (swapped with `out`, whose old contents are dropped).
  // Buffers a burst grew are given back here, so every driver follows one memory policy.
  void takeBatch(EventBatch& out);
  // Ends a turn once the user has reacted to the batch: writes every connection with queued
  // output (one writev each), then frees the slots whose CLOSE event was handed out.
  void endTurn() {
    flush();
    releaseDelivered();
  }
  // Writes every connection with queued output (for calls made outside a turn).
  void flush();

  // Calls on behalf of the user. None of them performs I/O: output is written by flush().
  // extraHeaderLines must be complete "Name: value\r\n" lines (else INVALID_HEADERS, nothing sent).
  int acceptUpgrade(ConnectionId id, std::string_view protocol, std::string_view extensions,
                    std::string_view extraHeaderLines);
  int rejectUpgrade(ConnectionId id, int status, std::string_view extraHeaderLines, std::string_view body);

  // Takes over a TCP connection whose upgrade request someone else read and validated (Node's
  // http server): dup()s `fd` (the caller closes its own copy), answers 101 for `key`, and parses
  // `head` (bytes that came after the request) as frames. The connection is known to the user.
  struct AdoptResult {
    int error = 0;  // errno
    ConnectionId id{0, 0};
  };
  AdoptResult adopt(int fd, std::string_view key, std::string_view protocol, std::string_view extensions,
                    std::string_view extraHeaderLines, const uint8_t* head, size_t headLength);
  // Queues a data or control frame. Status OK, CLOSED, or DROPPED (backpressure, drop policy);
  // with the close policy, a send made while over maxBackpressure drops the connection instead.
  // One message of any size may always be queued below the limit.
  SendResult send(ConnectionId id, Opcode opcode, const uint8_t* payload, size_t length, bool fin = true);
  int close(ConnectionId id, uint16_t code, std::string_view reason);
  int terminate(ConnectionId id);
  // Bytes queued but not yet taken by the kernel; -1 for a stale id.
  int64_t bufferedAmount(ConnectionId id) const;
  size_t connectionCount() const { return liveConnections_; }
  // Output queued in every connection together (what maxTotalBackpressure bounds).
  size_t totalBuffered() const { return totalQueued_; }

 private:
  // AcceptSink
  void onAccepted(int fd, const sockaddr_storage& peer) override;
  void onAcceptError(int error) override;
  // ConnectionOwner
  void onConnectionClosed(Connection& conn) override;
  void armTimer(Connection& conn) override;
  void onHandshakeBytes(Connection& conn, uint8_t* data, size_t len) override { readHandshake(&conn, data, len); }
  size_t totalBudgetCutoff() override;

  void releaseDelivered();
  void expireDeadlines();
  Connection* lookup(ConnectionId id) const;
  // Puts an accepted, non-blocking fd into a free slot and the epoll set (nullptr on failure).
  Connection* addConnection(int fd);
  // The upgrade flow (server_handshake.cc).
  PeerAddress peerOf(Connection* conn) const;
  void readHandshake(Connection* conn, uint8_t* data, size_t len);
  void readProxyHeader(Connection* conn, const uint8_t* data, size_t len);
  void finishHandshakeHead(Connection* conn, const uint8_t* rest, size_t restLen);
  void refuseHandshake(Connection* conn, int status, const char* reason);
  // The connection's own behaviour, delegated (connection.cc).
  void closeConnection(Connection* conn) { conn->closeNow(host_); }
  void consumeFrames(Connection* conn, uint8_t* data, size_t len) { conn->consumeFrames(host_, data, len); }
  void markDirty(Connection* conn) { conn->markDirty(host_); }
  void beginDraining(Connection* conn) { conn->beginDraining(host_); }
  void updateInterest(Connection* conn) { conn->updateInterest(host_); }
  void setDeadline(Connection* conn, uint32_t afterMs) { conn->setDeadline(host_, afterMs); }
  void armTimer(Connection* conn) { armTimer(*conn); }
  void noteEventQueued() { host_.noteEventQueued(); }
  // Timers (the wheel) and the server-wide output bound.
  uint64_t nextDueMs(const Connection* conn) const;
  void onTimer(const TimerWheel::Entry& entry);
  void enforceTotalBudget();

  ServerOptions options_;
  Reactor reactor_;
  Listeners listeners_{reactor_};
  bool inTurn_ = false;
  size_t totalQueued_ = 0;     // sum of every connection's output.size()
  size_t budgetCutoff_ = 0;    // see totalBudgetCutoff(); 0 = not computed this turn
  std::vector<std::unique_ptr<Connection>> slots_;
  std::vector<uint32_t> generations_;
  std::vector<uint32_t> freeSlots_;
  std::vector<uint32_t> dirty_;
  std::vector<uint32_t> closeReplies_;       // connections with closeReplyPending
  std::vector<uint32_t> closedUndelivered_;  // CLOSE queued in batch_
  std::vector<uint32_t> closedDelivered_;    // CLOSE handed to the user: free on releaseDelivered()
  TimerWheel wheel_;
  uint64_t nowMs_ = 0;                       // read once per turn
  size_t liveConnections_ = 0;
  EventBatch batch_;
  std::unique_ptr<uint8_t[]> readBuffer_;
  // What every connection sees of this server (declared last: it refers to the members above).
  ConnectionHost host_{options_, *this, reactor_, batch_, totalQueued_, dirty_, closeReplies_, nowMs_, inTurn_};
};

}  // namespace epollws
