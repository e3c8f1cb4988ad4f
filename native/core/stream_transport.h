// A transport with no fd: its driver feeds in the bytes the peer sent and takes out what the
// connection wrote. The driver is whatever already owns the bytes: a Node TLSSocket of an
// https.Server (issue #13), or the server fuzzer. The connection above it runs the same parser,
// timers, close handshake and backpressure as over FdTransport; only readiness differs: the
// Server polls its streams each turn (Server::serviceStreams) instead of asking epoll.
//
// `window` plays the kernel's send buffer: writev takes at most that much untaken output, then
// says WOULD_BLOCK, so a driver that stops taking output (its socket is not draining) puts the
// connection under backpressure exactly as a full TCP send buffer does.
#pragma once
#include <cstddef>
#include <cstdint>

#include "byte_buffer.h"
#include "transport.h"

namespace epollws {

class StreamTransport final : public Transport {
 public:
  StreamTransport(PeerAddress peer, size_t window) : peer_(std::move(peer)), window_(window ? window : 1) {}

  // The driver's side.
  void feed(const uint8_t* bytes, size_t length);
  void end() { ended_ = true; }
  // Appends the untaken output to `out` and empties it; returns the bytes moved.
  size_t takeOutput(ByteBuffer& out);
  bool hasInput() const { return inputBegin_ < input_.size(); }
  bool ended() const { return ended_; }
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
  bool writeShut_ = false;
  bool closed_ = false;
};

}  // namespace epollws
