// One WebSocket connection and its behaviour: the read-state switch (what bytes read in each state
// mean), the send queue, the end-of-turn flush, backpressure and read pausing, and the close
// handshake (its state diagram is in connection.cc). Owned by Server's slot table, which looks a
// connection up and delegates; everything it needs from the server comes through ConnectionHost.
// Its bytes move through `io` (transport.h); what only some connections need hangs off `extras`.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "byte_buffer.h"
#include "connection_host.h"
#include "frame_parser.h"
#include "http_upgrade.h"
#include "message_assembler.h"
#include "opcode.h"
#include "output_queue.h"
#include "permessage_deflate.h"
#include "server_options.h"
#include "topic_registry.h"
#include "transport.h"
#include "write_progress.h"

namespace epollws {

struct ConnectionHost;

enum class ConnState : uint8_t {
  HANDSHAKE,        // reading the HTTP request head
  AWAITING_ACCEPT,  // head complete, JS decides; reading paused
  OPEN,
  CLOSING,          // we sent a close frame, waiting for the peer's
  DRAINING,         // all that we will send is queued; after the flush we shut down writing and
                    // discard input until the peer closes or the close timeout fires
  CLOSED,           // fd closed; the slot is released once JS has seen the CLOSE event
};

// Only held while the opening handshake is in progress, so open connections do not pay for it.
struct HandshakeState {
  explicit HandshakeState(size_t maxHeaderSize) : parser(maxHeaderSize) {}
  UpgradeParser parser;
  std::string acceptKey;
  std::vector<uint8_t> pendingInput;  // frames that arrived behind the request head or before accept
  sockaddr_storage peer{};            // from accept4: saves a getpeername per handshake
  uint16_t refuseStatus = 0;          // answer this status once the head is read (503 over the limit)
  bool awaitingProxyHeader = false;   // a PROXY protocol header must come first
  // Taken over from node:http (Server::adoptHandshake): the user holds the request already, so no
  // UPGRADE or CLIENT_ERROR event is queued for it, and its path was checked by the user's rule.
  bool adopted = false;
  // Refused while the user listens for refusals (Server::holdRefusals): nothing is sent and input
  // is discarded until the user answers (writeRefusal/endRefusal) or the handshake deadline fires.
  bool refusalHeld = false;
  ByteBuffer proxyBytes;              // the PROXY header read so far
  std::string proxyAddress;           // the client's address, as the PROXY header gave it
  uint16_t proxyPort = 0;
  int proxyFamily = 0;
};

// State only some connections need, behind one pointer so an idle open connection pays 8 bytes for
// all of it: the opening handshake (freed at accept), a received close reason, a transport other
// than the inline fd (TLS over the fd, or a driver-fed stream), the socket's topics (see
// topic_registry.h), the permessage-deflate codec.
struct ConnectionExtras {
  std::unique_ptr<HandshakeState> handshake;
  std::string closeReason;  // the peer's close reason, when its close frame had one
  std::unique_ptr<Transport> transport;  // set for the connection's whole life, or never
  MemberTopics topics;      // the topics it subscribes to (the registry keeps the other side)
  std::unique_ptr<PerMessageDeflate> deflate;  // set at accept when negotiated, for good
  WriteProgress progress;  // send callbacks: bytes the transport took (write_progress.h)
  bool empty() const {
    return !handshake && closeReason.empty() && !transport && topics.empty() && !deflate && !progress.tracking;
  }
};

// One per socket, so its size is the server's floor per idle connection: members are ordered by
// alignment (no padding), the flags are bits, and whatever only some connections need (the
// handshake, a received close reason) is a pointer to memory allocated on demand.
struct Connection {
  // The flags are bit-fields (no default member initialisers before C++20): cleared here.
  Connection()
      : known(false),
        dirty(false),
        writeArmed(false),
        readPaused(false),
        closeSent(false),
        closeReceived(false),
        messageBinary(false),
        closeReplyPending(false),
        closeReplyEchoes(false),
        pingSent(false),
        needDrain(false),
        releaseOutput(false),
        outputPaused(false),
        sendFragmented(false),
        userPaused(false) {}

  // --- Behaviour (connection.cc). `host` is the owning server's side of the conversation. ---
  // Readiness from the reactor: write what waits, then read (the read-state switch).
  void onReady(ConnectionHost& host, uint32_t events, uint8_t* readBuffer, size_t readBufferSize);
  // Parses bytes as frames (in place: they are unmasked), as if just read.
  void consumeFrames(ConnectionHost& host, uint8_t* data, size_t len);
  // Goes on with an inflate paused by its per-turn budget (nothing is read meanwhile).
  void resumeInflate(ConnectionHost& host);
  bool inflateStalled() const { return extras && extras->deflate && extras->deflate->stalled(); }
  // The user's send: the backpressure policy, then the frame. See connection.cc for the rules.
  // `compress`: the user allows permessage-deflate for this message (when negotiated and the
  // message reaches the threshold).
  SendResult send(ConnectionHost& host, Opcode opcode, const uint8_t* payload, size_t length, bool fin,
                  bool compress = false);
  // Whether one more frame may be queued (false: the policy applied; with 'close' it closed).
  bool admitOutput(ConnectionHost& host);
  // Queues one frame (small ones wait for the flush). False: the connection broke and is closed.
  bool queueFrame(ConnectionHost& host, Opcode opcode, const uint8_t* payload, size_t length, bool fin = true,
                  bool rsv1 = false);
  // The user's close(): starts the close handshake (or drops a connection not yet open).
  void startClose(ConnectionHost& host, uint16_t code, std::string_view reason);
  // The peer's close frame or a protocol error: nothing more is read; our close frame follows
  // once the user's batch has run (sendCloseReply), unless ours is already out.
  void replyClose(ConnectionHost& host, uint16_t code, bool echoReason);
  void sendCloseReply(ConnectionHost& host);
  // All that will be sent is queued: once it is out, shut down writing (and wait for the FIN).
  void beginDraining(ConnectionHost& host);
  // Writes the queue (one writev per call, until the kernel stops taking it).
  void flush(ConnectionHost& host);
  void markDirty(ConnectionHost& host);
  // Tells the reactor what this connection now waits for (read, the peer's FIN, write room).
  void updateInterest(ConnectionHost& host);
  // Input the transport holds that epoll cannot report (TLS read-ahead) is read next turn.
  void checkBufferedInput(ConnectionHost& host);
  // Handshake or close deadline, `afterMs` from now (0: none).
  void setDeadline(ConnectionHost& host, uint32_t afterMs);
  // Closes the fd now (CLOSE event to the user when it knew the connection) and frees its buffers.
  void closeNow(ConnectionHost& host);
  // The user's sends are taken: open, or closed by the peer in the batch not yet handed out.
  bool canSend() const;
  // The transport took `bytes` of the output: reported to a user waiting for them (write_progress.cc).
  void noteWritten(ConnectionHost& host, size_t bytes) {
    if (extras && extras->progress.tracking) reportWritten(host, bytes);
  }
  void reportWritten(ConnectionHost& host, size_t bytes);
  // The end of what is queued now, as a count of bytes since tracking began; the user is told
  // (WRITTEN) once the transport has taken `mark` bytes, at once if it has already.
  uint64_t queuedEnd() const { return extras->progress.written + output.size(); }
  void armWritten(ConnectionHost& host, uint64_t mark);


  // The peer's close reason, empty when its close frame had none (or none came).
  std::string_view receivedCloseReason() const {
    return extras ? std::string_view(extras->closeReason) : std::string_view();
  }
  void setCloseReason(std::string_view reason) {
    ensureExtras().closeReason.assign(reason.data(), reason.size());
  }
  HandshakeState* handshake() const { return extras ? extras->handshake.get() : nullptr; }
  PerMessageDeflate* deflate() const { return extras ? extras->deflate.get() : nullptr; }
  void startHandshake(size_t maxHeaderSize) {
    ensureExtras().handshake = std::make_unique<HandshakeState>(maxHeaderSize);
  }
  // Frees the handshake state (and the extras when nothing else is in them).
  std::unique_ptr<HandshakeState> takeHandshake() {
    if (!extras) return nullptr;
    std::unique_ptr<HandshakeState> out = std::move(extras->handshake);
    if (extras->empty()) extras.reset();
    return out;
  }
  // The transport the connection's bytes move through (see transport.h).
  TransportRef io() { return TransportRef(fdIo, extras ? extras->transport.get() : nullptr); }
  ConnectionExtras& ensureExtras() {
    if (!extras) extras = std::make_unique<ConnectionExtras>();
    return *extras;
  }

  std::unique_ptr<ConnectionExtras> extras;
  uint64_t deadlineMs = 0;       // handshake / close timeout; 0 = none
  uint64_t lastActivityMs = 0;   // last time bytes came from the peer (idle timeout)
  uint64_t wheelDueMs = 0;       // due time of this connection's live timer wheel entry; 0 = none
  FrameParser<MessageAssembler> parser;
  ByteBuffer message;            // a message that spans reads or fragments
  OutputQueue output;
  FdTransport fdIo;              // see transport.h for why it is inline; use io()
  uint32_t slot = 0;
  uint32_t generation = 0;
  uint16_t closeCode = 0;        // code received from the peer (1005 when the frame had none)
  uint16_t closeReplyCode = 0;
  ConnState state = ConnState::CLOSED;
  bool known : 1;                // JS has been told about it (UPGRADE sent)
  bool dirty : 1;                // output waiting for the end-of-turn flush
  bool writeArmed : 1;           // EPOLLOUT registered: the kernel did not take everything
  bool readPaused : 1;
  bool closeSent : 1;
  bool closeReceived : 1;
  bool messageBinary : 1;
  bool closeReplyPending : 1;    // a close frame answers the peer once the user's batch has run
  bool closeReplyEchoes : 1;     // the reply repeats the peer's code and reason
  bool pingSent : 1;             // an idle ping is out; the next idle expiry drops the peer
  bool needDrain : 1;            // the user was told about backpressure: report DRAIN when empty
  bool releaseOutput : 1;        // free the output buffer once empty (after the 101: most
                                 // connections then sit idle, and idle ones should own nothing)
  bool outputPaused : 1;         // not read while its output is over the pause threshold
                                 // (TCP backpressure for a peer that does not read its answers)
  bool sendFragmented : 1;       // the user's last data frame had fin unset: a publish would land
                                 // inside its message, so publishes are refused until it ends
  bool userPaused : 1;           // not read: the user's pause() (ws's websocket.pause())
};
#if defined(__x86_64__) || defined(__aarch64__)
// 184 bytes on LP64 (a 192-byte malloc chunk); it was 328 with the control payload inline. Adding a
// member may cross into the next malloc size class: check that the growth is worth it.
static_assert(sizeof(Connection) <= 184, "Connection grew: see the comment above");
#endif

// The epoll_event data that names a connection: generation (below 2^30, see Server::addConnection)
// and slot, so that events of a slot's previous occupant are recognised.
inline uint64_t epollTag(const Connection& conn) {
  return (static_cast<uint64_t>(conn.generation) << 32) | conn.slot;
}

}  // namespace epollws
