// One load-generating WebSocket client connection and the state all connections share.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/unique_fd.h"
#include "deflate_codec.h"
#include "histogram.h"
#include "options.h"

namespace epollws::bench {

// Any protocol error or verification failure ends the run: a load figure measured against a server
// that corrupts data is worthless, so there is no partial recovery. Prints and exits with status 1.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

uint64_t monotonicNs();

// The core's owner of one fd (closes it exactly once).
using epollws::UniqueFd;

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string hostHeader;
};

// State every connection reads or updates; owned by main.
struct Shared {
  explicit Shared(const Options& o) : opts(o) {}
  const Options& opts;
  int epollFd = -1;
  SSL_CTX* tls = nullptr;    // set with --tls: every connection runs TLS under the WebSocket
  uint64_t now = 0;          // refreshed once per epoll batch: one clock read for many messages
  bool sending = true;       // false once the measured window ended: stop issuing new messages
  uint64_t maskState = 1;    // xorshift state for frame masks
  uint32_t pendingHandshakes = 0;
  uint32_t openConnections = 0;
  uint64_t lastOpenNs = 0;
  // Counted for the current window (reset when measuring starts).
  uint64_t messages = 0;
  uint64_t payloadBytes = 0;
  uint64_t wireOut = 0;            // frame bytes sent (headers, masks, payloads)
  uint64_t wireIn = 0;             // frame bytes received
  uint64_t compressedEchoes = 0;   // echoes that came back with RSV1 (--deflate)
  Histogram latency;
  // --deflate: reusable buffers for the message being built or checked (one at a time) and, in
  // --connect mode, one codec for all connections (each exchanges a single message).
  std::vector<uint8_t> plain;
  std::vector<uint8_t> packed;
  std::vector<uint8_t> inflated;
  std::unique_ptr<DeflateCodec> oneShotCodec;
  // Shared receive buffer: connections keep no per-connection input buffer, only parser state.
  std::vector<uint8_t> readBuf = std::vector<uint8_t>(512 * 1024);
};

class Connection {
 public:
  Connection(Shared& shared, uint32_t id) : shared_(shared), id_(id) {}
  ~Connection() {
    if (ssl_) SSL_free(ssl_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Creates the socket and starts a non-blocking connect; registers with epoll.
  void start(const Target& target, const in_addr* source);
  void onEvents(uint32_t events);
  bool isOpen() const { return state_ == State::kOpen; }
  uint32_t id() const { return id_; }
  // Send time of the oldest message still awaiting its echo; UINT64_MAX when none is pending.
  uint64_t oldestPendingNs() const {
    return recvSeq_ < sendSeq_ ? sentAt_[recvSeq_ % sentAt_.size()] : UINT64_MAX;
  }

 private:
  enum class State { kIdle, kConnecting, kTls, kHandshake, kOpen };

  void onConnected();
  void driveTls();
  void sendUpgrade();
  // recv/send, through TLS when on: -1 with errno EAGAIN when nothing moved now.
  ssize_t ioRead(uint8_t* buf, size_t len);
  ssize_t ioWrite(const uint8_t* buf, size_t len);
  void onReadable();
  void readHandshake(const uint8_t* data, size_t len);
  void checkHandshakeResponse(const std::string& head);
  void onOpen();
  void parseFrames(const uint8_t* data, size_t len);
  void onFrameHeader();
  void onFrameEnd();
  void onMessageComplete();
  void queueMessage();
  void queueFrame(uint8_t opcode, const uint8_t* payload, size_t len);
  uint8_t* reserveOut(size_t n);
  void flush();
  void setWantWrite(bool want);
  void nextMask(uint8_t mask[4]);
  DeflateCodec& codec();
  void checkDeflatedMessage();

  Shared& shared_;
  uint32_t id_;
  State state_ = State::kIdle;
  UniqueFd fd_;
  SSL* ssl_ = nullptr;
  bool wantWrite_ = false;
  std::string hostHeader_;
  std::string expectedAccept_;
  std::string handshakeIn_;

  // Output: frames are appended here and written once per read batch (corked).
  std::vector<uint8_t> out_;
  size_t outOff_ = 0;

  // Closed loop: send time of each message in flight, in a ring indexed by sequence number
  // (echoes come back in order).
  std::vector<uint64_t> sentAt_;
  uint64_t sendSeq_ = 0;
  uint64_t recvSeq_ = 0;

  // Incremental frame parser; payload bytes are verified as they stream past, never stored.
  uint8_t hdr_[14] = {};
  uint8_t hdrLen_ = 0;
  uint8_t hdrNeed_ = 2;
  bool inPayload_ = false;
  uint8_t frameOpcode_ = 0;
  bool frameFin_ = false;
  uint64_t frameRemaining_ = 0;
  bool inMessage_ = false;
  uint64_t msgOffset_ = 0;
  uint64_t msgSeed_ = 0;
  uint8_t ctl_[125] = {};

  // permessage-deflate (--deflate): negotiated parameters, this connection's zlib streams (echo
  // mode: its own context takeover), and the current message's payload collected for inflating.
  bool deflateOn_ = false;
  DeflateParams deflate_;
  std::unique_ptr<DeflateCodec> codec_;
  bool msgCompressed_ = false;
  std::vector<uint8_t> msgIn_;
  uint8_t ctlLen_ = 0;
};

}  // namespace epollws::bench
