// A transport with no fd: its driver feeds in the bytes the peer sent and takes out what the
// connection wrote. The driver is whatever already owns the bytes: a Node TLSSocket of an
// https.Server (issue #13), or the server fuzzer. The connection above it runs the same parser,
// timers, close handshake and backpressure as over FdTransport; only readiness differs: the
// Server polls its streams each turn (Server::serviceStreams) instead of asking epoll.
//
// `window` plays the kernel's send buffer: writev takes at most that much untaken output, then
// says WOULD_BLOCK, so a driver that stops taking output (its socket is not draining) puts the
// connection under backpressure exactly as a full TCP send buffer does.
//
// A driver with a real socket under it (lib/stream-bridge.ts) also needs to be told what changed
// without asking each stream: takeDelivery() hands over, once, the output, the end of writing,
// the close, and that input it was asked to hold back may flow again. The driver holds back input
// (pauses its socket) when feed() says the unread input passed INPUT_HIGH, as a full kernel
// receive buffer stops the peer; it stops taking output (pauseOutput) while its socket does not
// drain, so output piles up to the window and the connection meets backpressure.
#pragma once
#include <cstddef>
#include <cstdint>

#include "byte_buffer.h"
#include "transport.h"

namespace epollws {

class StreamTransport final : public Transport {
 public:
  StreamTransport(PeerAddress peer, size_t window) : peer_(std::move(peer)), window_(window ? window : 1) {}

  // Unread input from which feed() asks the driver to stop reading its socket; it may read again
  // once the connection has read the input down to INPUT_LOW (DELIVERY_RESUME_INPUT).
  static constexpr size_t INPUT_HIGH = 1024 * 1024;
  static constexpr size_t INPUT_LOW = INPUT_HIGH / 4;
  // takeDelivery()'s flags.
  static constexpr uint8_t DELIVERY_WRITE_SHUT = 1;    // end the socket once the bytes are written
  static constexpr uint8_t DELIVERY_CLOSED = 2;        // destroy it once the bytes are written
  static constexpr uint8_t DELIVERY_RESUME_INPUT = 4;  // read the socket again

  // The driver's side. feed() returns true when the driver should stop reading (INPUT_HIGH).
  bool feed(const uint8_t* bytes, size_t length);
  // The peer will send nothing more: cleanly (a FIN) or not (`failed`: a reset, a socket error).
  void end(bool failed = false) {
    ended_ = true;
    failed_ = failed_ || failed;
  }
  // Appends the untaken output to `out` and empties it; returns the bytes moved.
  size_t takeOutput(ByteBuffer& out);
  // What the driver was not told yet: untaken output (none while output is paused, unless the
  // stream closed), and the flags above, each reported once. False when there is nothing.
  bool takeDelivery(ByteBuffer& out, uint8_t& flags);
  void pauseOutput(bool paused) { outputPaused_ = paused; }
  bool hasOutput() const { return !output_.empty(); }
  bool hasInput() const { return inputBegin_ < input_.size(); }
  bool ended() const { return ended_; }
  bool failed() const { return failed_; }
  bool writable() const { return !closed_ && output_.size() < window_; }
  bool writeShut() const { return writeShut_; }
  bool closed() const { return closed_; }

  // The connection's side (Transport).
  IoResult read(uint8_t* buffer, size_t capacity) override;
  IoResult writev(const iovec* parts, int count) override;
  void shutdownWrite() override { writeShut_ = true; }
  // Drops unread input; output already written stays for the driver to take, as the kernel
  // still sends what a closed socket had in its send buffer.
  void close() override;
  PeerAddress peerAddress() const override { return peer_; }
  int pollFd() const override { return -1; }
  StreamTransport* asStream() override { return this; }

 private:
  PeerAddress peer_;
  size_t window_;
  ByteBuffer input_;       // fed, and read from inputBegin_ on
  size_t inputBegin_ = 0;
  ByteBuffer output_;      // written, not yet taken
  bool ended_ = false;     // the peer will send nothing more
  bool failed_ = false;    // ... because the stream broke: reads say FAILED after the input
  bool inputHeld_ = false;     // feed() asked the driver to stop reading
  bool outputPaused_ = false;  // the driver's socket is not draining: keep the output
  bool shutReported_ = false;
  bool closeReported_ = false;
  bool writeShut_ = false;
  bool closed_ = false;
};

}  // namespace epollws
