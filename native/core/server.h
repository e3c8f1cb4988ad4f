// The WebSocket server core: one epoll set holding listeners, connections and a wake-up eventfd.
// Knows nothing of Node: a driver calls runTurn(), takes the batch of events, lets its user react
// (accept, send, close...), then calls flush() and releaseDelivered(). See DESIGN.md "Driver".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connection.h"
#include "event_batch.h"
#include "net.h"
#include "opcode.h"
#include "timer_wheel.h"
#include "unique_fd.h"

namespace epollws {

struct ServerOptions {
  uint64_t maxPayload = 100 * 1024 * 1024;
  size_t maxHeaderSize = 16 * 1024;
  uint32_t maxConnections = 0;       // 0: no limit besides the fd limit
  std::string path;                  // empty: any path is accepted
  uint32_t handshakeTimeoutMs = 10000;
  uint32_t closeTimeoutMs = 30000;
  uint32_t idleTimeoutMs = 120000;   // no bytes from the peer for this long: drop it; 0 disables
  bool sendPings = true;             // ping a peer idle for half of idleTimeoutMs
  uint64_t maxBackpressure = 64 * 1024 * 1024;  // queued output that triggers the policy; 0 = none
  bool dropOnBackpressure = false;   // policy: drop the send (true) or drop the connection (false)
  uint32_t maxFragments = 100000;    // frames in one message; 0 = no limit
  bool proxyProtocol = false;        // every connection starts with a PROXY protocol v1/v2 header
};

struct ConnectionId {
  uint32_t slot;
  uint32_t generation;
};

// Results of calls made on behalf of the user. Negative values mean the call did nothing.
enum class CallStatus : int {
  OK = 0,
  CLOSED = -1,       // the connection is closing or gone (a stale id too)
  WRONG_STATE = -2,  // e.g. accept() on an open connection
  DROPPED = -3,      // over maxBackpressure with the drop policy: the message was not queued
};

struct ListenResult {
  int error = 0;               // errno, 0 on success
  const char* syscall = "";    // which call failed
  uint16_t port = 0;           // the port actually bound (useful with port 0)
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Creates the epoll set and the eventfd. Returns 0 or an errno.
  int init();
  int epollFd() const { return epoll_.get(); }

  // Binds one listening socket. An empty host listens on every address (IPv6 dual-stack, or IPv4).
  ListenResult listen(const std::string& host, uint16_t port, int backlog, bool reusePort);
  void stopListening();
  // Drops connections at once: every one, or only those the user has not seen yet (still in the
  // handshake or refused). Known ones get their CLOSE event.
  void dropConnections(bool onlyUnknown);
  size_t listenerCount() const { return listeners_.size(); }

  // Handles ready fds (waiting at most timeoutMs) and expired deadlines; events accumulate in the batch.
  void runTurn(int timeoutMs);
  // Milliseconds until the timer wheel's next tick, or -1 when no timer is pending.
  int64_t msUntilNextDeadline() const;
  void expireDeadlines();

  bool hasEvents() const { return !batch_.empty(); }
  // Hands the pending events to the caller (swapped with `out`, which should be empty).
  void takeBatch(EventBatch& out);
  // Writes every connection with queued output: one send per connection.
  void flush();
  // Frees the slots of connections whose CLOSE event was handed out by takeBatch().
  void releaseDelivered();

  // Calls on behalf of the user. None of them performs I/O: output is written by flush().
  int accept(ConnectionId id, std::string_view protocol, std::string_view extensions,
             std::string_view extraHeaderLines);
  int reject(ConnectionId id, int status, std::string_view extraHeaderLines, std::string_view body);

  // Takes over a TCP connection whose upgrade request someone else read and validated (Node's
  // http server): dup()s `fd` (the caller closes its own copy), answers 101 for `key`, and parses
  // `head` (bytes that came after the request) as frames. The connection is known to the user.
  struct AdoptResult {
    int error = 0;  // errno
    ConnectionId id{0, 0};
  };
  AdoptResult adopt(int fd, std::string_view key, std::string_view protocol, std::string_view extensions,
                    std::string_view extraHeaderLines, const uint8_t* head, size_t headLength);
  // Queues a data or control frame. Returns OK, CLOSED, or DROPPED (backpressure, drop policy);
  // with the close policy, a send made while over maxBackpressure drops the connection instead.
  // One message of any size may always be queued below the limit.
  int send(ConnectionId id, Opcode opcode, const uint8_t* payload, size_t length, bool fin = true);
  int close(ConnectionId id, uint16_t code, std::string_view reason);
  int terminate(ConnectionId id);
  // Bytes queued but not yet taken by the kernel; -1 for a stale id.
  int64_t bufferedAmount(ConnectionId id) const;
  size_t connectionCount() const { return liveConnections_; }

 private:
  friend struct FrameSink;
  struct Listener {
    UniqueFd fd;
  };

  Connection* lookup(ConnectionId id) const;
  void handleAccept(size_t listenerIndex);
  // Puts an accepted, non-blocking fd into a free slot and the epoll set (nullptr on failure).
  Connection* addConnection(int fd);
  PeerAddress peerOf(Connection* conn) const;
  void handleConnectionEvent(Connection* conn, uint32_t events);
  void handleReadable(Connection* conn);
  void readHandshake(Connection* conn, uint8_t* data, size_t len);
  void readProxyHeader(Connection* conn, const uint8_t* data, size_t len);
  void finishHandshakeHead(Connection* conn, const uint8_t* rest, size_t restLen);
  void consumeFrames(Connection* conn, uint8_t* data, size_t len);
  void flushConnection(Connection* conn);
  void markDirty(Connection* conn);
  void queueFrame(Connection* conn, Opcode opcode, const uint8_t* payload, size_t length, bool fin = true);
  int sendDirect(Connection* conn, Opcode opcode, const uint8_t* payload, size_t length, bool fin);
  void queueClose(Connection* conn, uint16_t code, std::string_view reason);
  void replyClose(Connection* conn, uint16_t code, bool echoReason);
  void queueCloseReplies();
  void beginDraining(Connection* conn);
  void refuseHandshake(Connection* conn, int status, const char* reason);
  void closeConnection(Connection* conn);
  void updateInterest(Connection* conn);
  void setDeadline(Connection* conn, uint32_t afterMs);
  uint64_t nextDueMs(const Connection* conn) const;
  void armTimer(Connection* conn);
  void onTimer(const TimerWheel::Entry& entry);
  bool admitOutput(Connection* conn);
  void emitMessage(Connection* conn, const uint8_t* data, size_t len);
  void noteEventQueued();
  void acceptFailed(int error);

  ServerOptions options_;
  UniqueFd epoll_;
  UniqueFd wakeFd_;
  UniqueFd reserveFd_;     // closed to accept-and-drop when the fd table is full
  bool wakePending_ = false;
  bool inTurn_ = false;
  int lastAcceptError_ = 0;
  std::vector<Listener> listeners_;
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
};

}  // namespace epollws
