// permessage-deflate's codec for one connection (RFC 7692): the inflater for the client's messages
// and the deflater for ours, zlib streams borrowed from a per-thread pool for the length of a
// message, with the sliding windows kept between messages for context takeover. This is
// the only core file that includes <zlib.h> (permessage_deflate.cc): inside the addon zlib comes
// from the running node binary, in the tests and fuzzers from the system's libz.
//
// Runs on the reactor thread, synchronously: a message is inflated as its frames arrive (no
// compressed copy is kept) and deflated in one call when it is sent.
#pragma once
#include <cstddef>
#include <cstdint>

#include "byte_buffer.h"
#include "deflate_negotiation.h"
#include "utf8.h"

struct z_stream_s;

namespace epollws {

class PerMessageDeflate {
 public:
  PerMessageDeflate(const DeflateParams& params, const DeflateOptions& options);
  ~PerMessageDeflate();
  PerMessageDeflate(const PerMessageDeflate&) = delete;
  PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;

  // Inflated bytes one connection may produce per call before the rest waits for the next turn, so
  // that one huge message cannot stall every other socket of the reactor.
  static constexpr size_t INFLATE_BUDGET = 1024 * 1024;

  enum class InflateStatus { OK, PAUSED, TOO_BIG, CORRUPT };
  // Inflates the next piece of a compressed message, appending to `out`. `last` ends the message
  // (the 00 00 ff ff tail RFC 7692 §7.2.2 removed is fed back first). Inflating stops at the first
  // byte past maxPayload (0: no limit) with TOO_BIG: `out` never holds more than maxPayload + a
  // bounded step, whatever the compression ratio. PAUSED: `budget` bytes were produced and work
  // remains; the input not yet inflated is kept (stalled()) and resume() goes on with it.
  InflateStatus inflate(const uint8_t* in, size_t len, bool last, ByteBuffer& out, uint64_t maxPayload,
                        size_t budget = SIZE_MAX);
  // Goes on with a paused inflate (same rules); OK: the kept input is done, and the message too
  // when stalledLast() said so.
  InflateStatus resume(ByteBuffer& out, uint64_t maxPayload, size_t budget = SIZE_MAX);
  bool stalled() const { return stalled_; }
  bool stalledLast() const { return pendingLast_; }
  // The frames that arrived behind the paused chunk, parsed once the inflate is done.
  void keepUnparsed(const uint8_t* bytes, size_t len) {
    pendingFrames_.clear();
    pendingFrames_.append(bytes, len);
  }
  ByteBuffer takeUnparsed() { return std::move(pendingFrames_); }

  // Compresses one frame's payload (a whole message, or one fragment of it when `fin` is false)
  // into `out` (replaced). False only if zlib failed (out of memory).
  bool deflate(const uint8_t* in, size_t len, bool fin, ByteBuffer& out);

  // The reusable buffer compressed frames are built in (one per thread: a Server runs on one),
  // and trimScratch() gives back what a large message grew it to.
  static ByteBuffer& scratch();
  // Where a message that arrived whole is inflated (also one per thread; trimmed by trimScratch()).
  static ByteBuffer& inflateScratch();
  static void trimScratch();

  const DeflateParams& params() const { return params_; }
  size_t threshold() const { return threshold_; }
  // The UTF-8 state of the text message being inflated (the parser only checks uncompressed text).
  Utf8Validator& inflatedUtf8() { return utf8_; }
  // Whether the fragmented message being sent is compressed (decided by its first frame).
  bool sendingCompressed = false;
  // Whether a zlib stream is held now (idle connections without context takeover hold none).
  bool holdsStreams() const { return inflater_ != nullptr || deflater_ != nullptr; }

 private:
  bool ensureInflater();
  bool ensureDeflater();
  void releaseInflater();  // back to the thread's pool (or freed)
  void releaseDeflater();
  // Inflates `in` into `out` until it is used up (OK), `limit` is reached with work left (PAUSED:
  // the inflater's next_in/avail_in say what is left), or an error.
  InflateStatus run(const uint8_t* in, size_t len, ByteBuffer& out, uint64_t maxPayload, size_t limit);
  InflateStatus pause(bool tailPending, bool last);
  void endMessage();

  DeflateParams params_;
  size_t threshold_;
  int level_, memLevel_, strategy_;
  z_stream_s* inflater_ = nullptr;
  z_stream_s* deflater_ = nullptr;
  Utf8Validator utf8_;
  // The sliding windows an idle connection keeps instead of zlib streams (context takeover).
  ByteBuffer inWindow_;
  ByteBuffer outWindow_;
  // A paused inflate: the compressed bytes not yet inflated, whether the 00 00 ff ff tail and the
  // end of the message follow them, and the wire bytes behind the paused chunk.
  ByteBuffer pendingIn_;
  ByteBuffer pendingFrames_;
  bool stalled_ = false;
  bool pendingTail_ = false;
  bool pendingLast_ = false;
};

}  // namespace epollws
