// The frame parser's callbacks for one connection (its FrameSink): data frames are reassembled
// into whole messages and handed to the batch, control frames answered (ping) or turned into the
// close handshake (close). Where a message's bytes live on their way to JS is decided here too
// (the external-buffer policy), and messages sent compressed (permessage-deflate) are inflated
// here as their frames arrive.
//
// Built on the stack for one parser.consume() call: two references, no state of its own (the
// reassembly buffer is the connection's `message`).
#pragma once
#include <cstddef>
#include <cstdint>

#include "opcode.h"
#include "status.h"

namespace epollws {

struct Connection;
struct ConnectionHost;

class MessageAssembler {
 public:
  // Messages at least this large reach JS in their own buffer instead of the batch's shared one.
  static constexpr size_t EXTERNAL_MESSAGE_MIN = 64 * 1024;

  MessageAssembler(ConnectionHost& host, Connection& conn) : host_(host), conn_(conn) {}

  // FrameParser's Handler interface. A true return stops the parser (nothing more is read).
  bool onDataChunk(Opcode messageOpcode, uint8_t* data, size_t len, bool first, bool last, bool compressed);
  bool onControl(Opcode op, uint8_t* payload, size_t len);
  void onProtocolError(ErrorCode code);

 private:
  void emitMessage(const uint8_t* data, size_t len);
  // A chunk of a message whose first frame had RSV1: inflated into the connection's `message`.
  bool onCompressedChunk(Opcode messageOpcode, const uint8_t* data, size_t len, bool first, bool last);
  void finishReassembly();

  ConnectionHost& host_;
  Connection& conn_;
};

}  // namespace epollws
