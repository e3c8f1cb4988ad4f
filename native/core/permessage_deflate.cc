// The zlib side of permessage-deflate (the only core file that includes <zlib.h>).
//
// Inflate grows its output in bounded steps and never past maxPayload + 1 bytes, so a small
// compressed frame cannot make the server allocate what it would refuse uncompressed (a "zip
// bomb" costs one step, then 1009). A client without context takeover gets its inflater freed
// after each message (inflateInit is cheap), so its idle connection holds no zlib memory; the
// deflater, whose state is ~256 KiB and costly to create, is reset instead.
#include "permessage_deflate.h"

#include <zlib.h>

#include <cstring>
#include <new>

namespace epollws {
namespace {

constexpr uint8_t DEFLATE_TAIL[4] = {0x00, 0x00, 0xff, 0xff};  // RFC 7692 §7.2.1
constexpr size_t MIN_INFLATE_STEP = 16 * 1024;
constexpr size_t MAX_INFLATE_STEP = 4 * 1024 * 1024;

z_stream* newStream() {
  z_stream* z = new (std::nothrow) z_stream;
  if (z) std::memset(z, 0, sizeof(*z));  // zalloc/zfree/opaque = Z_NULL: zlib's malloc
  return z;
}

constexpr size_t SCRATCH_KEPT = 256 * 1024;

thread_local ByteBuffer scratchBuffer;

}  // namespace

ByteBuffer& PerMessageDeflate::scratch() { return scratchBuffer; }

void PerMessageDeflate::trimScratch() {
  if (scratchBuffer.capacity() > SCRATCH_KEPT) scratchBuffer.release();
}

PerMessageDeflate::PerMessageDeflate(const DeflateParams& params, const DeflateOptions& options)
    : params_(params),
      threshold_(options.threshold),
      level_(options.level),
      memLevel_(options.memLevel),
      strategy_(options.strategy) {}

PerMessageDeflate::~PerMessageDeflate() {
  if (inflater_) {
    inflateEnd(inflater_);
    delete inflater_;
  }
  if (deflater_) {
    deflateEnd(deflater_);
    delete deflater_;
  }
}

bool PerMessageDeflate::ensureInflater() {
  if (inflater_) return true;
  z_stream* z = newStream();
  if (!z) return false;
  // zlib's deflate never uses an 8-bit window (it takes 9), so a client told 8 may well send 9.
  int bits = params_.clientMaxWindowBits < 9 ? 9 : params_.clientMaxWindowBits;
  if (inflateInit2(z, -bits) != Z_OK) {
    delete z;
    return false;
  }
  inflater_ = z;
  return true;
}

bool PerMessageDeflate::ensureDeflater() {
  if (deflater_) return true;
  z_stream* z = newStream();
  if (!z) return false;
  if (deflateInit2(z, level_, Z_DEFLATED, -static_cast<int>(params_.serverMaxWindowBits), memLevel_, strategy_) !=
      Z_OK) {
    delete z;
    return false;
  }
  deflater_ = z;
  return true;
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
    inflateEnd(inflater_);
    delete inflater_;
    inflater_ = nullptr;
  }
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
    if (params_.serverNoContextTakeover && deflateReset(z) != Z_OK) return false;
  }
  return true;
}

}  // namespace epollws
