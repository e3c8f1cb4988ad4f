// The zlib side of permessage-deflate (the only core file that includes <zlib.h>).
//
// Memory: an idle connection holds no zlib stream, only its sliding windows. Streams are taken
// from a per-thread pool when a message starts and given back when it ends: a message is inflated
// or deflated synchronously, so a reactor needs about one stream of each kind at a time (more only
// while messages are in progress: fragments still to come, a paused inflate, a fragmented send).
// With context takeover the window is carried between messages with zlib's dictionary calls:
// all of the client's history the negotiated window covers (its back-references may reach that
// far), and the last DEFLATE_WINDOW_KEPT bytes of ours (any suffix of our history is a valid
// dictionary for what we compress, since the client's window holds it at the same distances; 4 KiB
// keeps most of the ratio on chat-sized messages at a tenth of the cost of the full 32 KiB).
//
// Inflate grows its output in bounded steps and never past maxPayload + 1 bytes, so a small
// compressed frame cannot make the server allocate what it would refuse uncompressed (a "zip
// bomb" costs one step, then 1009).
#include "permessage_deflate.h"
#include "memory_return.h"

#include <zlib.h>

#include <cstring>
#include <new>
#include <vector>

namespace epollws {
namespace {

constexpr uint8_t DEFLATE_TAIL[4] = {0x00, 0x00, 0xff, 0xff};  // RFC 7692 §7.2.1
constexpr size_t MIN_INFLATE_STEP = 16 * 1024;
constexpr size_t MAX_INFLATE_STEP = 4 * 1024 * 1024;
constexpr size_t DEFLATE_WINDOW_KEPT = 4 * 1024;
constexpr size_t POOL_KEPT = 4;  // idle streams of each kind kept per thread

z_stream* newStream() {
  z_stream* z = new (std::nothrow) z_stream;
  if (z) std::memset(z, 0, sizeof(*z));  // zalloc/zfree/opaque = Z_NULL: zlib's malloc
  return z;
}

void freeInflater(z_stream* z) {
  inflateEnd(z);
  delete z;
}

void freeDeflater(z_stream* z) {
  deflateEnd(z);
  delete z;
}

// Idle zlib streams of one thread (a Server runs on one). Deflaters are kept by the parameters
// fixed at deflateInit2; inflaters take any window size at inflateReset2.
struct StreamPool {
  struct Deflater {
    int bits, memLevel, level, strategy;
    z_stream* z;
  };
  std::vector<z_stream*> inflaters;
  std::vector<Deflater> deflaters;
  ~StreamPool() {
    for (z_stream* z : inflaters) freeInflater(z);
    for (Deflater& d : deflaters) freeDeflater(d.z);
  }
};

// The pool is reached through a trivially destructible pointer, so a codec destroyed after the
// thread's pool (at exit) frees its streams instead of touching a destroyed object.
thread_local StreamPool* tlsPool = nullptr;
thread_local bool tlsPoolGone = false;
struct PoolOwner {
  ~PoolOwner() {
    delete tlsPool;
    tlsPool = nullptr;
    tlsPoolGone = true;
  }
};
thread_local PoolOwner tlsPoolOwner;

StreamPool* pool() {
  if (!tlsPool && !tlsPoolGone) {
    (void)&tlsPoolOwner;  // constructed with the thread's first use, so that it destroys the pool
    tlsPool = new (std::nothrow) StreamPool;
  }
  return tlsPool;
}

constexpr size_t SCRATCH_KEPT = 256 * 1024;

thread_local ByteBuffer scratchBuffer;
thread_local ByteBuffer inflateScratchBuffer;

// Replaces `window` with `len` bytes copied by `copy` (zlib's get-dictionary calls), keeping the
// allocation when it is already the right size (a full window stays put message after message).
template <typename Copy>
void storeWindow(ByteBuffer& window, size_t len, Copy copy) {
  if (window.capacity() != len) {
    window.release();
    if (len) window.reserve(len);
  }
  window.clear();
  if (len) copy(window.grow(len));
}

}  // namespace

ByteBuffer& PerMessageDeflate::scratch() { return scratchBuffer; }

ByteBuffer& PerMessageDeflate::inflateScratch() { return inflateScratchBuffer; }

void PerMessageDeflate::trimScratch() {
  size_t freed = 0;
  if (scratchBuffer.capacity() > SCRATCH_KEPT) {
    freed += scratchBuffer.capacity();
    scratchBuffer.release();
  }
  if (inflateScratchBuffer.capacity() > SCRATCH_KEPT) {
    freed += inflateScratchBuffer.capacity();
    inflateScratchBuffer.release();
  }
  if (freed) noteFreedMemory(freed);
}

PerMessageDeflate::PerMessageDeflate(const DeflateParams& params, const DeflateOptions& options)
    : params_(params),
      threshold_(options.threshold),
      level_(options.level),
      memLevel_(options.memLevel),
      strategy_(options.strategy) {}

PerMessageDeflate::~PerMessageDeflate() {
  releaseInflater();
  releaseDeflater();
}

bool PerMessageDeflate::ensureInflater() {
  if (inflater_) return true;
  // zlib's deflate never uses an 8-bit window (it takes 9), so a client told 8 may well send 9.
  int bits = params_.clientMaxWindowBits < 9 ? 9 : params_.clientMaxWindowBits;
  StreamPool* streams = pool();
  z_stream* z = nullptr;
  if (streams && !streams->inflaters.empty()) {
    z = streams->inflaters.back();
    streams->inflaters.pop_back();
    if (inflateReset2(z, -bits) != Z_OK) {
      freeInflater(z);
      return false;
    }
  } else {
    z = newStream();
    if (!z) return false;
    if (inflateInit2(z, -bits) != Z_OK) {
      delete z;
      return false;
    }
  }
  inflater_ = z;
  if (!inWindow_.empty() && inflateSetDictionary(z, inWindow_.data(), static_cast<uInt>(inWindow_.size())) != Z_OK) {
    releaseInflater();
    return false;
  }
  return true;
}

void PerMessageDeflate::releaseInflater() {
  if (!inflater_) return;
  StreamPool* streams = pool();
  if (streams && streams->inflaters.size() < POOL_KEPT) {
    streams->inflaters.push_back(inflater_);
  } else {
    freeInflater(inflater_);
  }
  inflater_ = nullptr;
}

bool PerMessageDeflate::ensureDeflater() {
  if (deflater_) return true;
  int bits = params_.serverMaxWindowBits;
  StreamPool* streams = pool();
  z_stream* z = nullptr;
  if (streams) {
    for (size_t i = 0; i < streams->deflaters.size(); ++i) {
      const StreamPool::Deflater& d = streams->deflaters[i];
      if (d.bits == bits && d.memLevel == memLevel_ && d.level == level_ && d.strategy == strategy_) {
        z = d.z;
        streams->deflaters.erase(streams->deflaters.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }
  if (z) {
    if (deflateReset(z) != Z_OK) {
      freeDeflater(z);
      return false;
    }
  } else {
    z = newStream();
    if (!z) return false;
    if (deflateInit2(z, level_, Z_DEFLATED, -bits, memLevel_, strategy_) != Z_OK) {
      delete z;
      return false;
    }
  }
  deflater_ = z;
  if (!outWindow_.empty() &&
      deflateSetDictionary(z, outWindow_.data(), static_cast<uInt>(outWindow_.size())) != Z_OK) {
    releaseDeflater();
    return false;
  }
  return true;
}

void PerMessageDeflate::releaseDeflater() {
  if (!deflater_) return;
  StreamPool* streams = pool();
  if (streams && streams->deflaters.size() < POOL_KEPT) {
    streams->deflaters.push_back({params_.serverMaxWindowBits, memLevel_, level_, strategy_, deflater_});
  } else {
    freeDeflater(deflater_);
  }
  deflater_ = nullptr;
}

PerMessageDeflate::InflateStatus PerMessageDeflate::run(const uint8_t* in, size_t len, ByteBuffer& out,
                                                        uint64_t maxPayload, size_t limit) {
  if (len > UINT32_MAX) return InflateStatus::CORRUPT;  // reads are far smaller than 4 GiB
  z_stream* z = inflater_;
  z->next_in = const_cast<Bytef*>(in);
  z->avail_in = static_cast<uInt>(len);
  for (;;) {
    size_t step = out.size() < MIN_INFLATE_STEP ? MIN_INFLATE_STEP : out.size();
    if (step > MAX_INFLATE_STEP) step = MAX_INFLATE_STEP;
    if (maxPayload != 0) {
      uint64_t allowed = maxPayload + 1 - out.size();  // out.size() <= maxPayload here
      if (step > allowed) step = static_cast<size_t>(allowed);
    }
    if (limit > out.size() && step > limit - out.size()) step = limit - out.size();  // the turn's budget
    size_t before = out.size();
    z->next_out = out.grow(step);
    z->avail_out = static_cast<uInt>(step);
    int ret = ::inflate(z, Z_SYNC_FLUSH);
    out.shrinkTo(before + (step - z->avail_out));
    if (maxPayload != 0 && out.size() > maxPayload) return InflateStatus::TOO_BIG;
    if (ret == Z_STREAM_END) {
      // The client ended its stream (BFINAL): what follows starts a new one.
      if (inflateReset(z) != Z_OK) return InflateStatus::CORRUPT;
      if (z->avail_in == 0) return InflateStatus::OK;
      continue;
    }
    if (ret == Z_BUF_ERROR) return InflateStatus::OK;  // no progress possible: the input is used up
    if (ret != Z_OK) return InflateStatus::CORRUPT;
    if (z->avail_in == 0 && z->avail_out != 0) return InflateStatus::OK;  // all in, nothing pending
    if (out.size() >= limit) return InflateStatus::PAUSED;
  }
}

// Keeps what the inflater has not read yet (it points into the caller's buffer or pendingIn_).
PerMessageDeflate::InflateStatus PerMessageDeflate::pause(bool tailPending, bool last) {
  ByteBuffer rest;
  rest.append(inflater_->next_in, inflater_->avail_in);
  pendingIn_ = std::move(rest);
  pendingTail_ = tailPending;
  pendingLast_ = last;
  stalled_ = true;
  return InflateStatus::PAUSED;
}

void PerMessageDeflate::endMessage() {
  if (params_.clientNoContextTakeover) {
    inWindow_.release();
  } else {
    uInt len = 0;
    inflateGetDictionary(inflater_, nullptr, &len);
    storeWindow(inWindow_, len, [this](uint8_t* out) {
      uInt n = 0;
      inflateGetDictionary(inflater_, out, &n);
    });
  }
  releaseInflater();
}

PerMessageDeflate::InflateStatus PerMessageDeflate::inflate(const uint8_t* in, size_t len, bool last,
                                                            ByteBuffer& out, uint64_t maxPayload, size_t budget) {
  if (!ensureInflater()) return InflateStatus::CORRUPT;
  size_t limit = budget > SIZE_MAX - out.size() ? SIZE_MAX : out.size() + budget;
  InflateStatus status = run(in, len, out, maxPayload, limit);
  if (status == InflateStatus::PAUSED) return pause(last, last);
  if (status != InflateStatus::OK || !last) return status;
  status = run(DEFLATE_TAIL, sizeof(DEFLATE_TAIL), out, maxPayload, limit);
  if (status == InflateStatus::PAUSED) return pause(false, true);
  if (status == InflateStatus::OK) endMessage();
  return status;
}

PerMessageDeflate::InflateStatus PerMessageDeflate::resume(ByteBuffer& out, uint64_t maxPayload, size_t budget) {
  if (!stalled_) return InflateStatus::OK;
  stalled_ = false;
  size_t limit = budget > SIZE_MAX - out.size() ? SIZE_MAX : out.size() + budget;
  ByteBuffer in = std::move(pendingIn_);
  InflateStatus status = run(in.data(), in.size(), out, maxPayload, limit);
  if (status == InflateStatus::PAUSED) return pause(pendingTail_, pendingLast_);
  if (status != InflateStatus::OK) return status;
  if (pendingTail_) {
    pendingTail_ = false;
    status = run(DEFLATE_TAIL, sizeof(DEFLATE_TAIL), out, maxPayload, limit);
    if (status == InflateStatus::PAUSED) return pause(false, pendingLast_);
    if (status != InflateStatus::OK) return status;
  }
  if (pendingLast_) {
    pendingLast_ = false;
    endMessage();
  }
  return InflateStatus::OK;
}

bool PerMessageDeflate::deflate(const uint8_t* in, size_t len, bool fin, ByteBuffer& out) {
  out.clear();
  if (len > UINT32_MAX || !ensureDeflater()) return false;
  z_stream* z = deflater_;
  z->next_in = const_cast<Bytef*>(in);
  z->avail_in = static_cast<uInt>(len);
  // Room for the whole message in one go when it does not compress, plus the sync flush's tail.
  size_t step = len / 2 + 64;
  for (;;) {
    size_t before = out.size();
    z->next_out = out.grow(step);
    z->avail_out = static_cast<uInt>(step);
    int ret = ::deflate(z, Z_SYNC_FLUSH);
    out.shrinkTo(before + (step - z->avail_out));
    if (ret != Z_OK && ret != Z_BUF_ERROR) return false;
    if (z->avail_out != 0 && z->avail_in == 0) break;  // flushed completely
    step = out.size() < 1024 ? 1024 : out.size();
  }
  if (fin) {
    // A sync flush ends with an empty stored block, 00 00 ff ff: RFC 7692 §7.2.1 drops it.
    if (out.size() >= 4 && std::memcmp(out.data() + out.size() - 4, DEFLATE_TAIL, 4) == 0) {
      out.shrinkTo(out.size() - 4);
    }
    // zlib does not repeat a flush that has nothing new to flush (an empty message right after
    // another message): the empty message is then the lone byte of an empty stored block, 0x00,
    // which the receiver's appended 00 00 ff ff completes.
    if (out.empty()) out.append("", 1);
    if (!params_.serverNoContextTakeover) {
      // The last DEFLATE_WINDOW_KEPT bytes of our history become the next message's dictionary.
      uint8_t window[32 * 1024];
      uInt len = sizeof(window);
      if (deflateGetDictionary(z, window, &len) != Z_OK) len = 0;
      size_t keep = len < DEFLATE_WINDOW_KEPT ? len : DEFLATE_WINDOW_KEPT;
      storeWindow(outWindow_, keep, [&](uint8_t* dst) { std::memcpy(dst, window + len - keep, keep); });
    }
    releaseDeflater();
  }
  return true;
}

}  // namespace epollws
