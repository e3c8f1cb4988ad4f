// Incremental RFC 6455 frame parser for the server side: pure and I/O-free. It takes whatever bytes a
// read produced, validates each header as soon as the bytes that carry a field have arrived, unmasks
// payloads in place and hands them to a Handler as they come; data payloads are never buffered. Only a
// split header is kept in the object (14 bytes inline). A control payload that a read cuts in two
// (rare) is assembled on the heap, in a buffer that lives until that frame is finished: one parser
// per connection, so an idle parser must own nothing but its fixed 64 bytes.
//
// Handler concept. Each bool method returns true to STOP now (the connection was closed, or stopped
// reading, inside the callback); consume() then returns false at once without touching the parser, so
// a handler may destroy the parser inside any callback as long as it returns true.
//   bool onDataChunk(Opcode messageOpcode, uint8_t* data, size_t len, bool first, bool last,
//                    bool compressed);
//     messageOpcode is TEXT or BINARY; data is unmasked, inside the caller's buffer. first marks the
//     first chunk of a message, last the end of its FIN frame; compressed is RSV1 of the first frame.
//     Uncompressed text has been UTF-8-validated up to this chunk (and checked complete when last).
//     Empty frames produce no call, except the FIN frame, which gives a len 0 call with last set
//     (so an empty message is one call with first = last = true).
//   bool onControl(Opcode op, uint8_t* payload, size_t len);
//     A complete, unmasked CLOSE, PING or PONG. payload points into the caller's buffer or into a
//     buffer of the parser's and is valid only during the call. A CLOSE payload is already
//     validated (empty, or a valid close code and a UTF-8 reason).
//   void onProtocolError(ErrorCode code, uint32_t detail);
//     The parser is dead afterwards; the caller fails the connection with errorCloseCode(code).
//     detail is what ws's message names (errorDetail below): the opcode of INVALID_OPCODE, the
//     length of INVALID_CONTROL_PAYLOAD_LENGTH / INVALID_CLOSE_PAYLOAD_LENGTH, the code of
//     INVALID_CLOSE_CODE; 0 otherwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "opcode.h"
#include "status.h"
#include "unmask.h"
#include "utf8.h"

namespace epollws {

struct FrameParserOptions {
  uint64_t maxPayload = 100 * 1024 * 1024;  // max message size (sum over fragments); 0 = no limit
  bool rsv1Allowed = false;                 // true once permessage-deflate is negotiated
  uint32_t maxFragments = 0;                // max frames in one message; 0 = no limit
};

namespace detail {
constexpr size_t MIN_FRAME_HEADER = 2;
constexpr size_t MAX_CLIENT_FRAME_HEADER = 14;  // 2 + 8 (64-bit length) + 4 (mask)
constexpr size_t MASK_SIZE = 4;
}  // namespace detail

template <class Handler>
class FrameParser {
 public:
  // The flags are bit-fields (no default member initialisers before C++20): set them here.
  explicit FrameParser(FrameParserOptions options = {})
      : state_(State::HEADER),
        maskOffset_(0),
        fin_(false),
        compressed_(false),
        firstChunk_(false),
        rsv1Allowed_(false),
        failed_(false) {
    setOptions(options);
  }

  void setOptions(FrameParserOptions options) {
    maxPayload_ = options.maxPayload;
    rsv1Allowed_ = options.rsv1Allowed;
    maxFragments_ = options.maxFragments;
  }

  // Consumes all len bytes, unmasking payloads in place. Returns false if the handler stopped it or a
  // protocol error was reported (then stop feeding it).
  bool consume(uint8_t* data, size_t len, Handler& handler) {
    if (failed_) return false;
    uint8_t* p = data;
    uint8_t* const end = data + len;
    while (p < end) {
      switch (state_) {
        case State::HEADER:
          if (!readHeader(p, end, handler)) return false;
          break;
        case State::DATA_PAYLOAD:
          if (!readDataPayload(p, end, handler)) return false;
          break;
        case State::CONTROL_PAYLOAD:
          if (!readControlPayload(p, end, handler)) return false;
          break;
      }
    }
    return true;
  }

  bool failed() const { return failed_; }
  // The handler failed the connection itself (e.g. data that does not inflate): nothing more is
  // parsed, as after a protocol error the parser found.
  void abandon() { failed_ = true; }
  // permessage-deflate was negotiated: RSV1 may mark a message's first frame as compressed.
  void allowRsv1() { rsv1Allowed_ = true; }
  // Inside a message whose first frame had RSV1 (its payload is inflated, not copied).
  bool messageCompressed() const { return compressed_ && messageOpcode_ != Opcode::CONTINUATION; }
  // Payload bytes of the current frame still to come; inside onDataChunk, those after the chunk
  // (lets a handler size a reassembly buffer once instead of growing it).
  uint64_t framePayloadRemaining() const { return remaining_; }
  // Inside a data frame's payload (between reads: the next bytes are payload of that frame).
  bool inDataPayload() const { return state_ == State::DATA_PAYLOAD; }
  // No partial header, data payload or control frame pending.
  bool atFrameBoundary() const { return state_ == State::HEADER && held_ == 0; }
  // A data message has started and its final frame has not been fully received yet.
  bool inFragmentedMessage() const { return messageOpcode_ != Opcode::CONTINUATION; }
  // A control payload cut by a read is being assembled on the heap (false again once it is handed out).
  bool holdsControlBuffer() const { return control_ != nullptr; }

 private:
  enum class State : uint8_t { HEADER, DATA_PAYLOAD, CONTROL_PAYLOAD };

  struct HeaderInfo {
    size_t size = detail::MIN_FRAME_HEADER;  // total header size, once byte 1 is known
    uint64_t payloadLength = 0;              // valid once the whole length field is known
  };

  // Checks the fields present in h[0, avail) and fills info with what they tell. Re-run from the
  // start as more header bytes arrive: at most 14 bytes, and it keeps the parser state untouched
  // until the header is complete.
  ErrorCode checkHeader(const uint8_t* h, size_t avail, HeaderInfo& info) const {
    const uint8_t b0 = h[0];
    const bool fin = (b0 & 0x80) != 0;
    const bool rsv1 = (b0 & 0x40) != 0;
    const uint8_t op = b0 & 0x0F;
    if ((b0 & 0x30) != 0) return ErrorCode::UNEXPECTED_RSV_2_3;
    const bool control = (op & 0x08) != 0;
    if (control) {
      if (op > static_cast<uint8_t>(Opcode::PONG)) return ErrorCode::INVALID_OPCODE;
      if (rsv1) return ErrorCode::UNEXPECTED_RSV_1;
      if (!fin) return ErrorCode::EXPECTED_FIN;
    } else if (op == static_cast<uint8_t>(Opcode::CONTINUATION)) {
      if (messageOpcode_ == Opcode::CONTINUATION) return ErrorCode::INVALID_OPCODE;
      if (rsv1) return ErrorCode::UNEXPECTED_RSV_1;
      // A flood of tiny fragments costs CPU without ever reaching maxPayload: bound it too.
      if (maxFragments_ != 0 && fragments_ >= maxFragments_) return ErrorCode::UNSUPPORTED_MESSAGE_LENGTH;
    } else {
      if (op > static_cast<uint8_t>(Opcode::BINARY)) return ErrorCode::INVALID_OPCODE;
      if (messageOpcode_ != Opcode::CONTINUATION) return ErrorCode::INVALID_OPCODE;
      if (rsv1 && !rsv1Allowed_) return ErrorCode::UNEXPECTED_RSV_1;
    }
    if (avail < 2) return ErrorCode::NONE;

    const uint8_t b1 = h[1];
    if ((b1 & 0x80) == 0) return ErrorCode::EXPECTED_MASK;
    const uint8_t len7 = b1 & 0x7F;
    if (control && len7 > MAX_CONTROL_PAYLOAD) return ErrorCode::INVALID_CONTROL_PAYLOAD_LENGTH;
    const size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    info.size = detail::MIN_FRAME_HEADER + extended + detail::MASK_SIZE;
    if (avail < detail::MIN_FRAME_HEADER + extended) return ErrorCode::NONE;

    uint64_t length = len7;
    if (extended != 0) {
      length = 0;
      for (size_t i = 0; i < extended; ++i) length = (length << 8) | h[2 + i];
      if (length >> 63) return ErrorCode::UNSUPPORTED_DATA_PAYLOAD_LENGTH;
    }
    info.payloadLength = length;
    // Limits are decided from the header, before any payload is read or buffered. The first frame of
    // a message starts a new count (messageLength_ is 0 between messages).
    if (!control && maxPayload_ != 0 &&
        (messageLength_ > maxPayload_ || length > maxPayload_ - messageLength_)) {
      return ErrorCode::UNSUPPORTED_MESSAGE_LENGTH;
    }
    return ErrorCode::NONE;
  }

  bool fail(ErrorCode code, Handler& handler, uint32_t detail = 0) {
    failed_ = true;
    handler.onProtocolError(code, detail);
    return false;
  }

  // A header check failed on `h` (the bytes checkHeader saw): what the error's message names.
  static uint32_t errorDetail(ErrorCode code, const uint8_t* h) {
    if (code == ErrorCode::INVALID_OPCODE) return h[0] & 0x0F;
    if (code == ErrorCode::INVALID_CONTROL_PAYLOAD_LENGTH) return h[1] & 0x7F;  // only checked once h[1] is in
    return 0;
  }

  // Reads one header, from the buffer directly when it is all there (the common case), otherwise
  // through the spill bytes in spill_.
  bool readHeader(uint8_t*& p, uint8_t* end, Handler& handler) {
    HeaderInfo info;
    const uint8_t* h;
    if (held_ == 0) {
      const size_t avail = static_cast<size_t>(end - p);
      ErrorCode error = checkHeader(p, avail, info);
      if (error != ErrorCode::NONE) return fail(error, handler, errorDetail(error, p));
      if (avail < info.size || avail < detail::MIN_FRAME_HEADER) {
        std::memcpy(spill_, p, avail);  // avail < 14 here
        held_ = static_cast<uint8_t>(avail);
        p = end;
        return true;
      }
      h = p;
      p += info.size;
    } else {
      // Top up the spill to the header size known so far; it grows once byte 1 is in.
      for (;;) {
        ErrorCode error = checkHeader(spill_, held_, info);
        if (error != ErrorCode::NONE) return fail(error, handler, errorDetail(error, spill_));
        if (held_ >= info.size) break;
        if (p == end) return true;
        const size_t want = info.size - held_;
        const size_t take = want < static_cast<size_t>(end - p) ? want : static_cast<size_t>(end - p);
        std::memcpy(spill_ + held_, p, take);
        held_ = static_cast<uint8_t>(held_ + take);
        p += take;
      }
      h = spill_;
      held_ = 0;  // held_ now counts control payload bytes, if this is a control frame
    }
    return beginFrame(h, info, p, handler);
  }

  // payload is where this frame's payload starts in the caller's buffer (maybe its end); it is also
  // what empty frames hand out, so handlers never see a null pointer.
  bool beginFrame(const uint8_t* h, const HeaderInfo& info, uint8_t* payload, Handler& handler) {
    const Opcode op = static_cast<Opcode>(h[0] & 0x0F);
    std::memcpy(mask_, h + info.size - detail::MASK_SIZE, detail::MASK_SIZE);
    remaining_ = info.payloadLength;
    maskOffset_ = 0;
    if (isControl(op)) {
      controlOpcode_ = op;
      state_ = State::CONTROL_PAYLOAD;
      return remaining_ == 0 ? finishControl(payload, 0, handler) : true;
    }
    if (op != Opcode::CONTINUATION) {
      messageOpcode_ = op;
      compressed_ = (h[0] & 0x40) != 0;
      firstChunk_ = true;
      messageLength_ = 0;
      fragments_ = 0;
      utf8_.reset();
    }
    ++fragments_;
    messageLength_ += info.payloadLength;
    fin_ = (h[0] & 0x80) != 0;
    state_ = State::DATA_PAYLOAD;
    if (remaining_ != 0) return true;
    state_ = State::HEADER;
    // Only an empty FIN frame is worth a call: it marks the end of the message.
    return fin_ ? deliverData(payload, 0, handler) : true;
  }

  bool readDataPayload(uint8_t*& p, uint8_t* end, Handler& handler) {
    const size_t avail = static_cast<size_t>(end - p);
    const size_t take = remaining_ < avail ? static_cast<size_t>(remaining_) : avail;
    unmaskInPlace(p, take, mask_, maskOffset_);
    maskOffset_ = static_cast<uint8_t>((maskOffset_ + take) & 3);
    remaining_ -= take;
    if (remaining_ == 0) state_ = State::HEADER;
    uint8_t* chunk = p;
    p += take;
    // An empty non-final piece cannot happen here (take > 0), so every call carries data or ends it.
    return deliverData(chunk, take, handler);
  }

  // Validates text and calls the handler with one chunk of the current message. The parser state is
  // final before the call, so nothing is touched after the handler returns true.
  bool deliverData(uint8_t* chunk, size_t len, Handler& handler) {
    const bool last = fin_ && remaining_ == 0;
    const Opcode op = messageOpcode_;
    const bool compressed = compressed_;
    if (op == Opcode::TEXT && !compressed) {
      if (!utf8_.feed(chunk, len) || (last && !utf8_.complete())) {
        return fail(ErrorCode::INVALID_UTF8, handler);
      }
    }
    const bool first = firstChunk_;
    firstChunk_ = false;
    if (last) {
      messageOpcode_ = Opcode::CONTINUATION;
      messageLength_ = 0;
    }
    return !handler.onDataChunk(op, chunk, len, first, last, compressed);
  }

  bool readControlPayload(uint8_t*& p, uint8_t* end, Handler& handler) {
    const size_t avail = static_cast<size_t>(end - p);
    const size_t take = remaining_ < avail ? static_cast<size_t>(remaining_) : avail;
    unmaskInPlace(p, take, mask_, maskOffset_);
    uint8_t* chunk = p;
    p += take;
    if (take == remaining_ && held_ == 0) {
      remaining_ = 0;
      return finishControl(chunk, take, handler);  // whole payload in this read: no copy
    }
    // Cut by a read (take > 0 here, as p < end): assemble it in a buffer of exactly the payload's
    // size, allocated with its first piece.
    if (held_ == 0) control_.reset(new uint8_t[remaining_]);
    remaining_ -= take;
    std::memcpy(control_.get() + held_, chunk, take);
    held_ = static_cast<uint8_t>(held_ + take);
    maskOffset_ = held_ & 3;
    if (remaining_ != 0) return true;
    const size_t len = held_;
    held_ = 0;
    // The buffer leaves the parser before the call: it must outlive the call even if the handler
    // destroys the parser, and it is freed right after, so the connection goes back to owning none.
    std::unique_ptr<uint8_t[]> payload = std::move(control_);
    return finishControl(payload.get(), len, handler);
  }

  bool finishControl(uint8_t* payload, size_t len, Handler& handler) {
    state_ = State::HEADER;
    const Opcode op = controlOpcode_;
    if (op == Opcode::CLOSE && len != 0) {
      if (len == 1) return fail(ErrorCode::INVALID_CLOSE_PAYLOAD_LENGTH, handler, 1);
      const uint16_t code = static_cast<uint16_t>((payload[0] << 8) | payload[1]);
      if (!isValidCloseCode(code)) return fail(ErrorCode::INVALID_CLOSE_CODE, handler, code);
      if (!isValidUtf8(payload + 2, len - 2)) return fail(ErrorCode::INVALID_UTF8, handler);
    }
    return !handler.onControl(op, payload, len);
  }

  // Ordered by size, so that the parser is 64 bytes with no padding (one per connection).
  std::unique_ptr<uint8_t[]> control_;  // a control payload cut by a read, until it is complete
  uint64_t maxPayload_ = 0;
  uint64_t remaining_ = 0;      // payload bytes of the current frame not yet received
  uint64_t messageLength_ = 0;  // payload bytes of the open data message so far, for maxPayload
  uint32_t maxFragments_ = 0;
  uint32_t fragments_ = 0;      // frames of the open data message so far, for maxFragments
  uint8_t mask_[detail::MASK_SIZE] = {};
  Utf8Validator utf8_;
  Opcode messageOpcode_ = Opcode::CONTINUATION;  // TEXT or BINARY while a message is open
  Opcode controlOpcode_ = Opcode::CLOSE;
  // Bytes held: of a split header in spill_ (State::HEADER), or of a control payload in control_
  // (CONTROL_PAYLOAD). The two never overlap in time.
  uint8_t held_ = 0;
  State state_ : 2;
  uint8_t maskOffset_ : 2;  // payload bytes of the current frame already unmasked, mod 4
  bool fin_ : 1;
  bool compressed_ : 1;
  bool firstChunk_ : 1;
  bool rsv1Allowed_ : 1;
  bool failed_ : 1;
  uint8_t spill_[detail::MAX_CLIENT_FRAME_HEADER];

  static_assert(MAX_CONTROL_PAYLOAD <= UINT8_MAX, "held_ counts control payload bytes");
};

}  // namespace epollws
