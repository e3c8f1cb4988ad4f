// ServerWrap's side of a reactor turn: the turn's event records and payloads become JS values
// (one reused Uint32Array, payload chunks, external Buffers for large messages), one callback
// hands them to lib/core.ts, then the core's end of turn runs. See docs/ARCHITECTURE.md, "A
// message's path", steps 8 and 11.
#include "server_wrap.h"

#include "../core/memory_return.h"

#include <atomic>
#include <cstdlib>

namespace epollws {
namespace {

// Once frees have stopped (a burst ended, or the GC released dead message Buffers), trims
// what malloc kept: one unreferenced one-shot timer per process at a time, so an idle server
// ends up with its memory back without keeping the loop alive. The timer is a handle on the
// loop of the environment that scheduled it: an async cleanup hook closes it when that
// environment goes first (a worker exiting), since Node refuses to close a loop with open handles.
std::atomic<bool> trailingTrimScheduled{false};

struct TrailingTrim {
  uv_timer_t timer;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool closing = false;
};

void closeTrailingTrim(TrailingTrim* trim) {
  if (trim->closing) return;
  trim->closing = true;
  uv_timer_stop(&trim->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&trim->timer), [](uv_handle_t* closed) {
    auto* done = static_cast<TrailingTrim*>(closed->data);
    if (done->hook) napi_remove_async_cleanup_hook(done->hook);
    delete done;
    trailingTrimScheduled = false;
  });
}

void scheduleTrailingTrim(napi_env env) {
  if (trailingTrimScheduled.exchange(true)) return;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    trailingTrimScheduled = false;
    return;
  }
  auto* trim = new TrailingTrim;
  uv_timer_init(loop, &trim->timer);
  trim->timer.data = trim;
  uv_unref(reinterpret_cast<uv_handle_t*>(&trim->timer));
  napi_add_async_cleanup_hook(
      env, [](napi_async_cleanup_hook_handle, void* arg) { closeTrailingTrim(static_cast<TrailingTrim*>(arg)); }, trim,
      &trim->hook);
  uv_timer_start(&trim->timer, [](uv_timer_t* fired) {
    trimFreedMemory();
    closeTrailingTrim(static_cast<TrailingTrim*>(fired->data));
  }, 1500, 0);
}

}  // namespace

Napi::Uint32Array ServerWrap::recordsView(size_t words) {
  if (words > recordsCapacity_ || records_.IsEmpty()) {
    size_t capacity = recordsCapacity_ ? recordsCapacity_ : 1024;
    while (capacity < words) capacity *= 2;
    records_ = Napi::Persistent(Napi::Uint32Array::New(Env(), capacity));
    recordsCapacity_ = capacity;
  }
  return records_.Value();
}

void ServerWrap::deliverEvents() {
  Napi::Env env = Env();
  server_->takeBatch(delivering_);
  if (!delivering_.empty()) {
    size_t count = delivering_.records.size();
    Napi::Uint32Array records = recordsView(count * EVENT_RECORD_WORDS);
    std::memcpy(records.Data(), delivering_.records.data(), count * sizeof(EventRecord));
    Napi::Value data = payloadChunks();
    Napi::Value externals = env.Undefined();
    if (!delivering_.externals.empty()) {
      Napi::Array list = Napi::Array::New(env, delivering_.externals.size());
      for (size_t i = 0; i < delivering_.externals.size(); ++i) {
        ByteBuffer& message = delivering_.externals[i];
        size_t length = message.size();
        // The message's own memory becomes the Buffer's (no second copy); where the runtime
        // forbids external buffers NewOrCopy copies and runs the finalizer at once.
        list.Set(static_cast<uint32_t>(i),
                 Napi::Buffer<uint8_t>::NewOrCopy(env, message.detach(), length,
                                                  [](Napi::Env finalizing, uint8_t* bytes, size_t* size) {
                                                    std::free(bytes);
                                                    if (noteFreedMemory(*size)) scheduleTrailingTrim(finalizing);
                                                    delete size;
                                                  },
                                                  new size_t(length)));
      }
      externals = list;
    }
    napi_value args[4] = {Napi::Number::New(env, static_cast<double>(count)), records, data, externals};
    napi_value result;
    // MakeCallback runs process.nextTick and promise jobs after the batch, before the flush below,
    // so whatever they send leaves in the same write.
    inBatch_ = true;
    napi_status status = napi_make_callback(env, *asyncContext_, Value(), onBatch_.Value(), 4, args, &result);
    inBatch_ = false;
    if (status != napi_ok && env.IsExceptionPending()) {
      Napi::Error error = env.GetAndClearPendingException();
      napi_fatal_exception(env, error.Value());
    }
    delivering_.clear();
    releaseRecordsAfterBurst(count);
  }
  if (destroyed_) return;  // the user destroyed the server from inside the batch
  if (server_->hasStreams()) {
    server_->flush();  // endTurn's flush then finds nothing: the streams get their bytes first
    deliverStreams();
    if (destroyed_) return;
  }
  server_->endTurn();
  if (freedMemoryPending()) scheduleTrailingTrim(env);
  rearmTimer();
  updateRef();
}

// Small payloads reach JS in Buffers of at most PAYLOAD_CHUNK_BYTES, cut between records, so a
// message the application keeps pins one chunk at most, not the whole turn with every other
// connection's payloads. One allocation per chunk, none per message; a payload is never split
// (the core keeps messages of 64 KiB and more in their own buffers, see MESSAGE_EXTERNAL).
// JS finds a record's chunk by walking the chunks in record order (lib/core.ts).
Napi::Array ServerWrap::payloadChunks() {
  constexpr size_t PAYLOAD_CHUNK_BYTES = 64 * 1024;
  Napi::Env env = Env();
  static const uint8_t none = 0;
  const uint8_t* bytes = delivering_.data.empty() ? &none : delivering_.data.data();
  Napi::Array chunks = Napi::Array::New(env);
  uint32_t count = 0;
  size_t start = 0;
  auto cut = [&](size_t end) { chunks.Set(count++, Napi::Buffer<uint8_t>::Copy(env, bytes + start, end - start)); };
  if (delivering_.data.size() <= PAYLOAD_CHUNK_BYTES) {  // most turns: one chunk, no walk over the records
    cut(delivering_.data.size());
    return chunks;
  }
  for (const EventRecord& record : delivering_.records) {
    bool external = record.kind == static_cast<uint32_t>(EventKind::MESSAGE) && (record.arg & MESSAGE_EXTERNAL);
    if (external || record.kind == static_cast<uint32_t>(EventKind::WRITTEN)) continue;  // no payload bytes
    size_t end = static_cast<size_t>(record.offset) + record.length;
    if (end - start > PAYLOAD_CHUNK_BYTES && record.offset > start) {
      cut(record.offset);
      start = record.offset;
    }
  }
  cut(delivering_.data.size());
  return chunks;
}

// A burst (a ping flood, thousands of closes at once) grows the JS records array; once batches are
// small again, let it go. (The core's own batch buffers shrink in Server::takeBatch.)
void ServerWrap::releaseRecordsAfterBurst(size_t count) {
  constexpr size_t LARGE_WORDS = 64 * 1024;
  if (recordsCapacity_ > LARGE_WORDS && count * EVENT_RECORD_WORDS < recordsCapacity_ / 8) {
    records_.Reset();
    recordsCapacity_ = 0;
  }
}

}  // namespace epollws
