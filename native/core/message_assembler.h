// The frame parser's callbacks for one connection (its FrameSink): data frames are reassembled
// into whole messages and handed to the batch, control frames answered (ping) or turned into the
// close handshake (close). Where a message's bytes live on their way to JS is decided here too
// (the external-buffer policy), and messages sent compressed (permessage-deflate) are inflated
// here as their frames arrive.
//
// Built on the stack for one parser.consume() call: two references and where a paused inflate
// stopped, no state of its own (the reassembly buffer is the connection's `message`).
//
// An inflate that has produced its budget for the turn (PerMessageDeflate::INFLATE_BUDGET) pauses:
// the parser stops, the codec keeps the compressed bytes not yet inflated and the wire bytes behind
// them, the connection reads nothing more, and the owner calls resume() in the next turn (see
// ConnectionOwner::onInflateStalled) until the message and the kept frames are done.
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

  // Parses bytes as frames (unmasking them in place), keeping the rest if an inflate pauses.
  void consume(uint8_t* data, size_t len);
  // Goes on with a paused inflate, then with the frames kept behind it.
  void resume();

  // FrameParser's Handler interface. A true return stops the parser (nothing more is read).
  bool onDataChunk(Opcode messageOpcode, uint8_t* data, size_t len, bool first, bool last, bool compressed);
  bool onControl(Opcode op, uint8_t* payload, size_t len);
  void onProtocolError(ErrorCode code, uint32_t detail);

 private:
  void emitMessage(const uint8_t* data, size_t len);
  // A chunk of a message whose first frame had RSV1: inflated into the connection's `message`.
  bool onCompressedChunk(Opcode messageOpcode, const uint8_t* data, size_t len, bool first, bool last);
  // After an inflate call: checks and emits (true: the connection failed or the inflate paused).
  bool afterInflate(int status, size_t before, bool last);
  bool failInflate(ErrorCode error);
  void finishReassembly();

  ConnectionHost& host_;
  Connection& conn_;
  const uint8_t* pausedAt_ = nullptr;  // the end of the chunk whose inflate paused
};

}  // namespace epollws
