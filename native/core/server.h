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

#include "clock.h"
#include "connection.h"
#include "connection_host.h"
#include "event_batch.h"
#include "listener.h"
#include "net.h"
#include "opcode.h"
#include "reactor.h"
#include "server_options.h"
#include "timer_wheel.h"
#include "tls_context_set.h"
#include "tls_session_info.h"
#include "tls_transport.h"
#include "topic_registry.h"
#include "unique_fd.h"

namespace epollws {

class Server : private AcceptSink, private ConnectionOwner, private TopicLists {
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
  // permessage-deflate is negotiated here (options.deflate), the same for both entry paths: its
  // answer replaces `extensions`, and the call returns ACCEPTED_DEFLATE instead of OK.
  int acceptUpgrade(ConnectionId id, std::string_view protocol, std::string_view extensions,
                    std::string_view extraHeaderLines);
  int rejectUpgrade(ConnectionId id, int status, std::string_view extraHeaderLines, std::string_view body);

  // Takes over a TCP connection whose upgrade request head node:http read, BEFORE the user's
  // decision: dup()s `fd` (the caller closes its own copy) and runs `requestHead` (the head as
  // rebuilt from node's parse, final CRLFCRLF included) through the same parser and checks as the
  // core's own listeners. `rest` (bytes after the head) is kept as the first frames. servePath is
  // the user's path rule (shouldHandle). On success the connection is AWAITING_ACCEPT and known,
  // with no UPGRADE event (the caller has the request): answer it with acceptUpgrade/rejectUpgrade.
  // On failure `failure` says why; the core answers it (answerRefusal) or drops its copy silently
  // (the caller answers on its own socket, ws's wsClientError rule). No CLIENT_ERROR event either.
  struct AdoptResult {
    int error = 0;  // errno (dup or fcntl failed); nothing was taken over
    ConnectionId id{0, 0};
    HandshakeFailure failure = HandshakeFailure::NONE;
  };
  AdoptResult adoptHandshake(int fd, std::string_view requestHead, const uint8_t* rest, size_t restLength,
                             bool servePath, bool answerRefusal);
  // While `hold` is set, a request the core refuses on its own listeners is not answered: the
  // CLIENT_ERROR event carries CLIENT_ERROR_HELD and the user answers with writeRefusal (raw
  // bytes) and endRefusal (send them, then close), or terminate(); the handshake deadline still
  // applies. ws's rule: with a wsClientError listener, the listener answers.
  void holdRefusals(bool hold) { holdRefusals_ = hold; }
  int writeRefusal(ConnectionId id, const uint8_t* data, size_t length);
  int endRefusal(ConnectionId id);
  // Queues a data or control frame. Status OK, CLOSED, or DROPPED (backpressure, drop policy);
  // with the close policy, a send made while over maxBackpressure drops the connection instead.
  // One message of any size may always be queued below the limit.
  // `compress`: permessage-deflate may compress this message (if negotiated and over the threshold).
  SendResult send(ConnectionId id, Opcode opcode, const uint8_t* payload, size_t length, bool fin = true,
                  bool compress = false);
  int close(ConnectionId id, uint16_t code, std::string_view reason);
  int terminate(ConnectionId id);
  // Bytes queued but not yet taken by the kernel; -1 for a stale id.
  int64_t bufferedAmount(ConnectionId id) const;
  // Send callbacks (write_progress.h/.cc): trackWrites before a send the user waits on, then
  // markWritten after it returns that send's end (-1: gone) and reports WRITTEN once the
  // transport has taken it; armWritten(mark) asks for the next report (at once if taken).
  void trackWrites(ConnectionId id);
  int64_t markWritten(ConnectionId id);
  int armWritten(ConnectionId id, uint64_t mark);
  // The user's pause()/resume(): the connection is not read while paused.
  int pauseReading(ConnectionId id, bool paused);
  // The TCP peer of an open connection (empty address for a stale id or a closed connection).
  PeerAddress peerAddress(ConnectionId id) const;
  // Queues `frame` (one complete server frame, header included) by reference, with send()'s
  // rules (server_compat.cc): socket.io hands one pre-encoded broadcast frame to every recipient.
  SendResult sendSharedFrame(ConnectionId id, SharedFrame* frame);
  size_t connectionCount() const { return liveConnections_; }

  // TLS on the server's own listeners (server_tls.cc). From useTls() on, every accepted
  // connection starts with a TLS handshake on `contexts` (its default certificate, or the one its
  // SNI names); the handshake deadline covers it, and at most tlsHandshakesPerTurn handshake
  // steps run per turn. Call it before listening. False, with `error`, if `contexts` has no
  // default certificate or this process's OpenSSL cannot serve it.
  bool useTls(std::unique_ptr<TlsContextSet> contexts, std::string& error);
  // The server's certificates (for addServerName, setSecureContext, ticket keys); nullptr without TLS.
  TlsContextSet* tls() const { return tls_.get(); }
  // The TLS session of a connection on a TLS listener, once its handshake is done. False for a
  // stale id, a connection without TLS, one still in its TLS handshake, or one whose session
  // was already taken (a TLS 1.3 connection's is kept once, for its upgrade request).
  bool tlsSession(ConnectionId id, TlsSessionInfo& out) const;
  struct TlsStats {
    uint64_t handshakes = 0;  // completed TLS handshakes
    uint64_t handedOver = 0;  // TLS 1.3 connections carried on without their SSL (tls_transport.h)
  };
  TlsStats tlsStats() const { return tlsIo_ ? TlsStats{tlsIo_->handshakes, tlsIo_->handedOver} : TlsStats{}; }

  // Streams (server_stream.cc): connections with no fd, whose bytes the driver moves (a Node
  // TLSSocket, the server fuzzer). attachStream() starts one in the opening handshake, as if
  // accepted from `peer`; `window` is its send buffer (see StreamTransport). feed() and
  // streamEnded() are read in the next runTurn, like bytes and a FIN epoll reports. takeOutput()
  // moves what the connection wrote to `out`: call it for every stream after endTurn() and after
  // flush(); once the slot is released (after its CLOSE was handed out) untaken bytes are gone,
  // as a terminated socket's are.
  struct StreamOutput {
    int status = 0;          // OK, or CLOSED for a stale id
    size_t bytes = 0;        // appended to `out`
    bool writeShut = false;  // the server finished sending (end the socket once `out` is written)
    bool closed = true;      // the connection is gone (destroy the socket once `out` is written)
  };
  ConnectionId attachStream(PeerAddress peer, size_t window);
  // adoptHandshake() for a stream: a socket Node owns whose upgrade request node:http read (a
  // TLSSocket of an https.Server, any Duplex). The same checks and results; no fd to dup.
  AdoptResult adoptStream(PeerAddress peer, size_t window, std::string_view requestHead, const uint8_t* rest,
                          size_t restLength, bool servePath, bool answerRefusal);
  // OK, STREAM_INPUT_HELD (OK, and stop reading the socket until DELIVERY_RESUME_INPUT), CLOSED.
  static constexpr int STREAM_INPUT_HELD = 1;
  int feed(ConnectionId id, const uint8_t* bytes, size_t length);
  // `failed`: the socket broke (reset, error) rather than ended; the connection closes as on ECONNRESET.
  int streamEnded(ConnectionId id, bool failed = false);
  StreamOutput takeOutput(ConnectionId id, ByteBuffer& out);
  // For a driver with many streams: appends to `out` what every stream has for it (see
  // StreamTransport::takeDelivery), so it learns which streams have output without asking each.
  // Call it after flush() and before the turn's slots are released (the binding: flush(),
  // takeDeliveries(), endTurn()), or a stream closed in the turn is released with its last bytes.
  struct StreamDelivery {
    ConnectionId id;
    ByteBuffer bytes;
    uint8_t flags = 0;  // StreamTransport::DELIVERY_*
  };
  void takeDeliveries(std::vector<StreamDelivery>& out);
  bool hasStreams() const { return !streams_.empty(); }
  // The driver's socket stopped draining (paused) or drained again; see StreamTransport.
  int pauseStreamOutput(ConnectionId id, bool paused);
  // Output queued in every connection together (what maxTotalBackpressure bounds).
  size_t totalBuffered() const { return totalQueued_; }

  // Topics (server_topics.cc; the structures are in topic_registry.h). subscribe() returns the
  // topic's count after it, 0 when nothing changed (already subscribed, not open, or a name over
  // TopicRegistry::MAX_TOPIC_LENGTH); unsubscribe() whether it changed anything. A closing
  // connection's subscriptions end with it: a topic it was the last subscriber of is reported by
  // a SUBSCRIPTION event (after its CLOSE).
  size_t subscribe(ConnectionId id, std::string_view topic);
  bool unsubscribe(ConnectionId id, std::string_view topic, size_t* countAfter = nullptr);
  bool isSubscribed(ConnectionId id, std::string_view topic) const;
  // Appends the connection's topics to `out` (views valid until the registry next changes).
  void subscriptions(ConnectionId id, std::vector<std::string_view>& out) const;
  size_t subscriberCount(std::string_view topic) const { return topics_.subscriberCount(topic); }
  const TopicRegistry& topics() const { return topics_; }

  // What a publish did: sockets the frame was queued for, and sockets that refused it (their
  // backpressure policy applied to them alone: 'drop' skipped them, 'close' dropped them; or a
  // fragmented send of theirs was unfinished). Closing sockets are neither.
  struct PublishResult {
    size_t queued = 0;
    size_t refused = 0;
  };
  struct PublishStats {
    uint64_t publishes = 0;
    uint64_t queued = 0;
    uint64_t refused = 0;
    uint64_t deflates = 0;  // deflate runs for permessage-deflate subscribers (server_topics.cc)
  };
  // Frames the message once and queues it, in call order with send(), for every subscriber of
  // `topic` but `except` (nullptr: none). Large frames are one shared block referenced by every
  // queue; small ones are copied into each queue's corked tail (see server_topics.cc).
  // `compress`: permessage-deflate subscribers get it compressed (over their threshold), deflated
  // once per window size for those without server context takeover.
  PublishResult publish(std::string_view topic, Opcode opcode, const uint8_t* payload, size_t length,
                        const ConnectionId* except = nullptr, bool compress = false);
  // Queues one complete, already framed message (header included) to each of `ids` (stale ones
  // skipped), with the same sharing, ordering and backpressure rules as publish().
  PublishResult publishFrame(const uint8_t* frame, size_t length, const ConnectionId* ids, size_t count);
  const PublishStats& publishStats() const { return publishStats_; }

 private:
  // AcceptSink
  void onAccepted(int fd, const sockaddr_storage& peer) override;
  void onAcceptError(int error) override;
  // ConnectionOwner
  void onConnectionClosed(Connection& conn) override;
  void armTimer(Connection& conn) override;
  void onHandshakeBytes(Connection& conn, uint8_t* data, size_t len) override { readHandshake(&conn, data, len); }
  size_t totalBudgetCutoff() override;
  void onInflateStalled(Connection& conn) override;
  void onInputBuffered(Connection& conn) override;
  // TopicLists
  MemberTopics& listOf(uint32_t slot) override { return slots_[slot]->ensureExtras().topics; }

  void releaseDelivered();
  void expireDeadlines();
  Connection* lookup(ConnectionId id) const;
  // Puts an accepted, non-blocking fd into a free slot and the epoll set (nullptr on failure).
  // With `ssl`, the connection's bytes go through a TlsTransport that takes both.
  Connection* addConnection(int fd, SSL* ssl = nullptr);
  // The upgrade flow (server_handshake.cc).
  PeerAddress peerOf(Connection* conn) const;
  void readHandshake(Connection* conn, uint8_t* data, size_t len);
  void readProxyHeader(Connection* conn, const uint8_t* data, size_t len);
  void finishHandshakeHead(Connection* conn, const uint8_t* rest, size_t restLen);
  void refuseHandshake(Connection* conn, HandshakeFailure failure);
  void queueClientError(Connection* conn, HandshakeFailure failure, bool held);
  void adoptRequest(Connection* conn, AdoptResult& result, std::string_view requestHead, const uint8_t* rest,
                    size_t restLength, bool servePath, bool answerRefusal);
  Connection* addStream(PeerAddress peer, size_t window);
  Connection* heldRefusal(ConnectionId id) const;
  // The connection's own behaviour, delegated (connection.cc).
  void onReady(Connection* conn, uint32_t events);  // readiness from epoll or serviceStreams()
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
  size_t heavyQueueCutoff();
  // Not through host_: the constructor reads the clock before host_ exists.
  uint64_t clockMs() const { return options_.clock ? options_.clock->nowMs() : monotonicMs(); }
  StreamTransport* streamOf(ConnectionId id) const;
  // Readiness for streams, as level-triggered epoll reports it for fds (called by runTurn).
  void serviceStreams();
  // Topics (server_topics.cc): a closed connection's subscriptions end; one frame to one socket.
  void endSubscriptions(Connection& conn);
  struct OutgoingFrame;
  bool queuePublished(Connection* conn, const OutgoingFrame& frame, PublishResult& result);
  void appendPublished(Connection* conn, const OutgoingFrame& frame, PublishResult& result);

  ServerOptions options_;
  Reactor reactor_;
  Listeners listeners_{reactor_};
  bool inTurn_ = false;
  bool holdRefusals_ = false;
  size_t totalQueued_ = 0;     // sum of every connection's output.size()
  size_t budgetCutoff_ = 0;    // see heavyQueueCutoff(); 0 = not computed since the last flush
  size_t budgetCutoffAt_ = 0;  // totalQueued_ when budgetCutoff_ was computed
  // TLS (declared before the slots: connections' SSLs refer to them, and go first).
  std::unique_ptr<TlsSharedIo> tlsIo_;
  std::unique_ptr<TlsContextSet> tls_;
  uint32_t tlsHandshakeBudget_ = 0;          // reset each turn to options_.tlsHandshakesPerTurn
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
  std::vector<ConnectionId> streams_;        // attached streams; released ones are pruned by serviceStreams
  std::vector<ConnectionId> inflateStalled_;  // resumed next turn (see onInflateStalled)
  std::vector<ConnectionId> inputBuffered_;   // read next turn (see onInputBuffered)
  TopicRegistry topics_{*this};
  std::vector<uint32_t> publishTargets_;     // a publish's subscriber slots (reused: no allocation per publish)
  PublishStats publishStats_;
  // What every connection sees of this server (declared last: it refers to the members above).
  ConnectionHost host_{options_, *this, reactor_, batch_, totalQueued_, dirty_, closeReplies_, nowMs_, inTurn_,
                         tlsHandshakeBudget_};
};

}  // namespace epollws
