#include "server_wrap.h"

#include "../core/memory_return.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace epollws {
namespace {

uint32_t toU32(const Napi::Value& v) { return v.As<Napi::Number>().Uint32Value(); }

ConnectionId idFrom(const Napi::CallbackInfo& info) {
  return ConnectionId{toU32(info[0]), toU32(info[1])};
}

std::string stringOrEmpty(const Napi::Value& v) {
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

uint32_t optionU32(const Napi::Object& options, const char* name, uint32_t fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

// Once frees have stopped (a burst ended, or the GC released dead message Buffers), trims
// what malloc kept: one unreferenced one-shot timer per process at a time, so an idle server
// ends up with its memory back without keeping the loop alive.
std::atomic<bool> trailingTrimScheduled{false};

void scheduleTrailingTrim(napi_env env) {
  if (trailingTrimScheduled.exchange(true)) return;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    trailingTrimScheduled = false;
    return;
  }
  auto* timer = new uv_timer_t;
  uv_timer_init(loop, timer);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer));
  uv_timer_start(timer, [](uv_timer_t* fired) {
    trimFreedMemory();
    // Also reached when the loop closes the handle at teardown (a worker exiting).
    uv_close(reinterpret_cast<uv_handle_t*>(fired), [](uv_handle_t* closed) {
      delete reinterpret_cast<uv_timer_t*>(closed);
      trailingTrimScheduled = false;
    });
  }, 1500, 0);
}

}  // namespace

// Outlives the ServerWrap until libuv has closed both handles. Their close callbacks are code of
// this addon, so Node must not unload it before they ran (a Worker exits with a live server):
// the async cleanup hook holds the environment's teardown until the last one.
struct ServerWrap::LoopHandles {
  uv_poll_t poll;
  uv_timer_t timer;
  ServerWrap* owner;
  napi_async_cleanup_hook_handle cleanupHook = nullptr;
  int open = 2;
};

Napi::Function ServerWrap::define(Napi::Env env) {
  return DefineClass(env, "Server",
                     {
                         InstanceMethod<&ServerWrap::listen>("listen"),
                         InstanceMethod<&ServerWrap::stopListening>("stopListening"),
                         InstanceMethod<&ServerWrap::dropConnections>("dropConnections"),
                         InstanceMethod<&ServerWrap::close>("close"),
                         InstanceMethod<&ServerWrap::terminate>("terminate"),
                         InstanceMethod<&ServerWrap::accept>("accept"),
                         InstanceMethod<&ServerWrap::reject>("reject"),
                         InstanceMethod<&ServerWrap::adopt>("adopt"),
                         InstanceMethod<&ServerWrap::holdRefusals>("holdRefusals"),
                         InstanceMethod<&ServerWrap::writeRefusal>("writeRefusal"),
                         InstanceMethod<&ServerWrap::endRefusal>("endRefusal"),
                         InstanceMethod<&ServerWrap::bufferedAmount>("bufferedAmount"),
                         InstanceMethod<&ServerWrap::armWritten>("armWritten"),
                         InstanceMethod<&ServerWrap::pauseReading>("pauseReading"),
                         InstanceMethod<&ServerWrap::peerAddress>("peerAddress"),
                         InstanceMethod<&ServerWrap::sharedFrame>("sharedFrame"),
                         InstanceMethod<&ServerWrap::sendShared>("sendShared"),
                         InstanceMethod<&ServerWrap::flush>("flush"),
                         InstanceMethod<&ServerWrap::connectionCount>("connectionCount"),
                         InstanceMethod<&ServerWrap::destroy>("destroy"),
                         InstanceMethod<&ServerWrap::subscribe>("subscribe"),
                         InstanceMethod<&ServerWrap::unsubscribe>("unsubscribe"),
                         InstanceMethod<&ServerWrap::isSubscribed>("isSubscribed"),
                         InstanceMethod<&ServerWrap::subscriptions>("subscriptions"),
                         InstanceMethod<&ServerWrap::subscriberCount>("subscriberCount"),
                         InstanceMethod<&ServerWrap::publishStats>("publishStats"),
                         InstanceMethod<&ServerWrap::setStreamHandler>("setStreamHandler"),
                         InstanceMethod<&ServerWrap::attachStream>("attachStream"),
                         InstanceMethod<&ServerWrap::adoptStream>("adoptStream"),
                         InstanceMethod<&ServerWrap::feed>("feed"),
                         InstanceMethod<&ServerWrap::endStream>("endStream"),
                         InstanceMethod<&ServerWrap::pauseStreamOutput>("pauseStreamOutput"),
                     });
}

// new Server(options, onBatch)
ServerWrap::ServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "Server(options, onBatch) expects an object and a function")
        .ThrowAsJavaScriptException();
    return;
  }
  Napi::Object options = info[0].As<Napi::Object>();
  ServerOptions core;
  Napi::Value maxPayload = options.Get("maxPayload");
  if (maxPayload.IsNumber()) core.maxPayload = static_cast<uint64_t>(maxPayload.As<Napi::Number>().DoubleValue());
  core.maxHeaderSize = optionU32(options, "maxHeaderSize", static_cast<uint32_t>(core.maxHeaderSize));
  core.maxConnections = optionU32(options, "maxConnections", core.maxConnections);
  core.handshakeTimeoutMs = optionU32(options, "handshakeTimeout", core.handshakeTimeoutMs);
  core.closeTimeoutMs = optionU32(options, "closeTimeout", core.closeTimeoutMs);
  core.idleTimeoutMs = optionU32(options, "idleTimeout", core.idleTimeoutMs);
  core.sendPings = options.Get("sendPings").ToBoolean().Value();
  Napi::Value maxBackpressure = options.Get("maxBackpressure");
  if (maxBackpressure.IsNumber()) {
    core.maxBackpressure = static_cast<uint64_t>(maxBackpressure.As<Napi::Number>().DoubleValue());
  }
  Napi::Value maxTotalBackpressure = options.Get("maxTotalBackpressure");
  if (maxTotalBackpressure.IsNumber()) {
    core.maxTotalBackpressure = static_cast<uint64_t>(maxTotalBackpressure.As<Napi::Number>().DoubleValue());
  }
  core.dropOnBackpressure = options.Get("dropOnBackpressure").ToBoolean().Value();
  core.maxFragments = optionU32(options, "maxFragments", core.maxFragments);
  core.proxyProtocol = options.Get("proxyProtocol").ToBoolean().Value();
  Napi::Value autoPong = options.Get("autoPong");
  if (autoPong.IsBoolean()) core.autoPong = autoPong.As<Napi::Boolean>().Value();
  core.path = stringOrEmpty(options.Get("path"));
  // permessage-deflate: an object (lib normalised it) or absent/null for off.
  Napi::Value deflate = options.Get("deflate");
  if (deflate.IsObject()) {
    Napi::Object d = deflate.As<Napi::Object>();
    DeflateOptions& out = core.deflate;
    out.enabled = true;
    out.serverNoContextTakeover = d.Get("serverNoContextTakeover").ToBoolean().Value();
    out.clientNoContextTakeover = d.Get("clientNoContextTakeover").ToBoolean().Value();
    out.serverMaxWindowBits = static_cast<uint8_t>(optionU32(d, "serverMaxWindowBits", 0));
    out.clientMaxWindowBits = static_cast<uint8_t>(optionU32(d, "clientMaxWindowBits", 0));
    Napi::Value level = d.Get("level");
    if (level.IsNumber()) out.level = level.As<Napi::Number>().Int32Value();
    out.memLevel = static_cast<int>(optionU32(d, "memLevel", static_cast<uint32_t>(out.memLevel)));
    out.strategy = static_cast<int>(optionU32(d, "strategy", static_cast<uint32_t>(out.strategy)));
    Napi::Value threshold = d.Get("threshold");
    if (threshold.IsNumber()) out.threshold = static_cast<size_t>(threshold.As<Napi::Number>().DoubleValue());
  }

  server_ = std::make_unique<Server>(std::move(core));
  if (int error = server_->init()) {
    Napi::Error::New(env, std::string("Could not create the event loop: ") + std::strerror(error))
        .ThrowAsJavaScriptException();
    return;
  }
  onBatch_ = Napi::Persistent(info[1].As<Napi::Function>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "epollws");

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  handles_ = new LoopHandles();
  handles_->owner = this;
  uv_poll_init(loop, &handles_->poll, server_->epollFd());
  uv_timer_init(loop, &handles_->timer);
  handles_->poll.data = handles_;
  handles_->timer.data = handles_;
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->timer));  // the poll handle keeps the loop alive
  uv_poll_start(&handles_->poll, UV_READABLE, &ServerWrap::onPoll);
  // Nothing listens and nothing is connected yet ({ noServer } or { server }): as with ws, the
  // server alone does not keep the process alive; listen() and connections take the reference.
  updateRef();
  napi_add_async_cleanup_hook(env, &ServerWrap::onCleanup, handles_, &handles_->cleanupHook);

  // send() is the hot path: a plain N-API function carrying `this` as its data skips both the
  // unwrap (a private-symbol lookup) and node-addon-api's per-call wrapping.
  napi_value sendFunction;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, &ServerWrap::sendRaw, this, &sendFunction);
  info.This().As<Napi::Object>().Set("send", Napi::Value(env, sendFunction));
  napi_value publishFunction;  // the same for publish (server_wrap_topics.cc)
  napi_create_function(env, "publish", NAPI_AUTO_LENGTH, &ServerWrap::publishRaw, this, &publishFunction);
  info.This().As<Napi::Object>().Set("publish", Napi::Value(env, publishFunction));
}

ServerWrap::~ServerWrap() { shutdown(); }

// The environment is going away with the server still open.
void ServerWrap::onCleanup(napi_async_cleanup_hook_handle /*hook*/, void* data) {
  ServerWrap* self = static_cast<LoopHandles*>(data)->owner;
  if (self) self->shutdown();  // otherwise the handles are closing already
}

void ServerWrap::shutdown() {
  if (destroyed_) return;
  destroyed_ = true;
  if (handles_) {
    handles_->owner = nullptr;
    auto closed = [](uv_handle_t* handle) {
      auto* handles = static_cast<LoopHandles*>(handle->data);
      if (--handles->open > 0) return;
      if (handles->cleanupHook) napi_remove_async_cleanup_hook(handles->cleanupHook);
      delete handles;
    };
    uv_poll_stop(&handles_->poll);
    uv_timer_stop(&handles_->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&handles_->poll), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&handles_->timer), closed);
    handles_ = nullptr;
  }
  server_.reset();  // closes every listener and connection fd
}

void ServerWrap::onPoll(uv_poll_t* handle, int status, int /*events*/) {
  ServerWrap* self = static_cast<LoopHandles*>(handle->data)->owner;
  if (self && status == 0) self->runTurn();
}

void ServerWrap::onTimer(uv_timer_t* handle) {
  ServerWrap* self = static_cast<LoopHandles*>(handle->data)->owner;
  if (self) self->runTurn();
}

void ServerWrap::runTurn() {
  if (destroyed_) return;
  Napi::HandleScope scope(Env());
  server_->runTurn(0);
  deliverEvents();
}

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

// A user call may have set or cleared a deadline (close timeout, handshake deadline): the uv timer
// must follow the wheel's next tick.
void ServerWrap::followDeadlines() { rearmTimer(); }

void ServerWrap::rearmTimer() {
  if (!handles_) return;
  int64_t due = server_->msUntilNextDeadline();
  if (due < 0) {
    uv_timer_stop(&handles_->timer);
  } else {
    uv_timer_start(&handles_->timer, &ServerWrap::onTimer, static_cast<uint64_t>(due) + 1, 0);
  }
}

void ServerWrap::updateRef() {
  // Like net.Server: a listening server or open connections keep the process alive.
  bool wanted = server_->listenerCount() > 0 || server_->connectionCount() > 0;
  if (wanted == referenced_ || !handles_) return;
  referenced_ = wanted;
  auto* handle = reinterpret_cast<uv_handle_t*>(&handles_->poll);
  if (wanted) {
    uv_ref(handle);
  } else {
    uv_unref(handle);
  }
}

// listen(host, port, backlog, reusePort) -> [errno, syscall, port]
Napi::Value ServerWrap::listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_) return env.Undefined();
  ListenResult result = server_->listen(stringOrEmpty(info[0]), static_cast<uint16_t>(toU32(info[1])),
                                        static_cast<int>(toU32(info[2])), info[3].ToBoolean().Value());
  updateRef();
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, result.error);
  out.Set(1u, result.syscall);
  out.Set(2u, static_cast<uint32_t>(result.port));
  return out;
}

Napi::Value ServerWrap::stopListening(const Napi::CallbackInfo& info) {
  if (!destroyed_) {
    server_->stopListening();
    updateRef();
  }
  return info.Env().Undefined();
}

// dropConnections(onlyUnknown)
Napi::Value ServerWrap::dropConnections(const Napi::CallbackInfo& info) {
  if (!destroyed_) server_->dropConnections(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// send(slot, generation, data: Buffer | Uint8Array | string, opcode | SEND_COMPRESS?, fin, track)
//   -> bufferedAmount, or a negative CallStatus (-1 closed, -3 dropped by backpressure)
// SEND_COMPRESS in the opcode lets permessage-deflate compress the message (no extra argument on
// the hot path). With track (a send callback waits on it), the message's end offset instead of
// the bufferedAmount (write_progress.h).
// Raw N-API on purpose: this runs once per message sent (see scripts/bench/napi-cost.mjs).
napi_value ServerWrap::sendRaw(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, args, nullptr, &data);
  auto* self = static_cast<ServerWrap*>(data);
  napi_value result;
  if (argc < 4 || self->destroyed_) {
    napi_create_int32(env, -1, &result);
    return result;
  }
  uint32_t slot = 0, generation = 0, opcode = 0;
  napi_get_value_uint32(env, args[0], &slot);
  napi_get_value_uint32(env, args[1], &generation);
  napi_get_value_uint32(env, args[3], &opcode);
  bool fin = true;
  if (argc >= 5) napi_get_value_bool(env, args[4], &fin);
  bool track = false;
  if (argc >= 6) napi_get_value_bool(env, args[5], &track);
  ConnectionId id{slot, generation};
  bool compress = (opcode & SEND_COMPRESS) != 0;
  opcode &= ~SEND_COMPRESS;
  if (track) self->server_->trackWrites(id);  // before the send: a large payload may be written at once

  SendResult sent;
  size_t length = 0;
  napi_valuetype type;
  napi_typeof(env, args[2], &type);
  if (type == napi_string) {
    napi_get_value_string_utf8(env, args[2], nullptr, 0, &length);
    self->scratch_.resize(length + 1);  // napi writes a terminating NUL
    napi_get_value_string_utf8(env, args[2], self->scratch_.data(), length + 1, &length);
    sent = self->server_->send(id, static_cast<Opcode>(opcode),
                               reinterpret_cast<const uint8_t*>(self->scratch_.data()), length, fin, compress);
  } else {
    void* bytes = nullptr;
    napi_typedarray_type arrayType;
    if (napi_get_typedarray_info(env, args[2], &arrayType, &length, &bytes, nullptr, nullptr) != napi_ok ||
        arrayType != napi_uint8_array) {
      napi_throw_type_error(env, nullptr, "send() data must be a string or a Uint8Array");
      return nullptr;
    }
    sent = self->server_->send(id, static_cast<Opcode>(opcode), static_cast<const uint8_t*>(bytes), length, fin,
                               compress);
  }
  double buffered = sent.status < 0 ? sent.status : static_cast<double>(sent.buffered);
  if (track && sent.status >= 0) buffered = static_cast<double>(self->server_->markWritten(id));
  napi_create_double(env, buffered, &result);
  return result;
}

// close(slot, generation, code, reason)
Napi::Value ServerWrap::close(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  std::string reason = stringOrEmpty(info[3]);
  int status = server_->close(idFrom(info), static_cast<uint16_t>(toU32(info[2])), reason);
  followDeadlines();
  return Napi::Number::New(info.Env(), status);
}

// terminate(slot, generation): the connection closes at once (no deadline remains to follow).
Napi::Value ServerWrap::terminate(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  int status = server_->terminate(idFrom(info));
  followDeadlines();
  return Napi::Number::New(info.Env(), status);
}

// accept(slot, generation, protocol, extensions, extraHeaderLines) -> CallStatus
// (ACCEPTED_DEFLATE: accepted, with permessage-deflate)
// (-4: the headers are not valid HTTP header lines; nothing was sent)
Napi::Value ServerWrap::accept(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  int status = server_->acceptUpgrade(idFrom(info), stringOrEmpty(info[2]), stringOrEmpty(info[3]),
                               stringOrEmpty(info[4]));
  followDeadlines();
  return Napi::Number::New(info.Env(), status);
}

// reject(slot, generation, status, extraHeaderLines, body) -> CallStatus (-4 as for accept)
Napi::Value ServerWrap::reject(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  int status = server_->rejectUpgrade(idFrom(info), static_cast<int>(toU32(info[2])), stringOrEmpty(info[3]),
                                      stringOrEmpty(info[4]));
  followDeadlines();
  return Napi::Number::New(info.Env(), status);
}

// adopt(fd, requestHead: Buffer, rest: Buffer, servePath, answerRefusal)
//   -> [errno, slot, generation, failure]: a socket node:http upgraded, validated by the core and
//   left awaiting the decision (failure 0), or refused (a HandshakeFailure; see Server::adoptHandshake).
Napi::Value ServerWrap::adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 4);
  if (destroyed_ || !info[1].IsBuffer()) {
    out.Set(0u, EBADF);
    return out;
  }
  auto head = info[1].As<Napi::Buffer<char>>();
  const uint8_t* rest = nullptr;
  size_t restLength = 0;
  if (info[2].IsBuffer()) {
    auto buffer = info[2].As<Napi::Buffer<uint8_t>>();
    rest = buffer.Data();
    restLength = buffer.Length();
  }
  Server::AdoptResult result = server_->adoptHandshake(
      static_cast<int>(info[0].As<Napi::Number>().Int32Value()), std::string_view(head.Data(), head.Length()), rest,
      restLength, info[3].ToBoolean().Value(), info[4].ToBoolean().Value());
  followDeadlines();
  updateRef();
  out.Set(0u, result.error);
  out.Set(1u, result.id.slot);
  out.Set(2u, result.id.generation);
  out.Set(3u, static_cast<uint32_t>(result.failure));
  return out;
}

// holdRefusals(hold): see Server::holdRefusals (lib sets it while 'wsClientError' has listeners).
Napi::Value ServerWrap::holdRefusals(const Napi::CallbackInfo& info) {
  if (!destroyed_) server_->holdRefusals(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// writeRefusal(slot, generation, data: Buffer) -> CallStatus; the bytes leave with the next flush.
Napi::Value ServerWrap::writeRefusal(const Napi::CallbackInfo& info) {
  if (destroyed_ || !info[2].IsBuffer()) return Napi::Number::New(info.Env(), -1);
  auto data = info[2].As<Napi::Buffer<uint8_t>>();
  return Napi::Number::New(info.Env(), server_->writeRefusal(idFrom(info), data.Data(), data.Length()));
}

// endRefusal(slot, generation) -> CallStatus: what was written goes out, then the connection closes.
Napi::Value ServerWrap::endRefusal(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  int status = server_->endRefusal(idFrom(info));
  followDeadlines();
  return Napi::Number::New(info.Env(), status);
}

Napi::Value ServerWrap::bufferedAmount(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), static_cast<double>(server_->bufferedAmount(idFrom(info))));
}

// armWritten(slot, generation, mark) -> CallStatus: WRITTEN once the transport took `mark` bytes.
Napi::Value ServerWrap::armWritten(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  auto mark = static_cast<uint64_t>(info[2].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(info.Env(), server_->armWritten(idFrom(info), mark));
}

// pauseReading(slot, generation, paused) -> CallStatus (ws's pause()/resume()).
Napi::Value ServerWrap::pauseReading(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), server_->pauseReading(idFrom(info), info[2].ToBoolean().Value()));
}

// sharedFrame(frame: Uint8Array) -> an External holding a reference to a copy of the frame's
// bytes (freed with the last queue and the External), for sendShared.
Napi::Value ServerWrap::sharedFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "sharedFrame() expects a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto bytes = info[0].As<Napi::Uint8Array>();
  SharedFrame* frame = SharedFrame::copyOf(bytes.Data(), bytes.ByteLength());
  return Napi::External<SharedFrame>::New(env, frame, [](Napi::Env, SharedFrame* held) { held->unref(); });
}

// sendShared(slot, generation, frame: External from sharedFrame, track) -> as send()
Napi::Value ServerWrap::sendShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (destroyed_ || !info[2].IsExternal()) return Napi::Number::New(env, -1);
  ConnectionId id = idFrom(info);
  bool track = info[3].ToBoolean().Value();
  if (track) server_->trackWrites(id);
  SendResult sent = server_->sendSharedFrame(id, info[2].As<Napi::External<SharedFrame>>().Data());
  double result = sent.status < 0 ? sent.status : static_cast<double>(sent.buffered);
  if (track && sent.status >= 0) result = static_cast<double>(server_->markWritten(id));
  return Napi::Number::New(env, result);
}

// peerAddress(slot, generation) -> [address, port, family (4 or 6)]; address "" when gone.
Napi::Value ServerWrap::peerAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PeerAddress peer = destroyed_ ? PeerAddress{} : server_->peerAddress(idFrom(info));
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, peer.address);
  out.Set(1u, static_cast<uint32_t>(peer.port));
  out.Set(2u, static_cast<uint32_t>(peer.family == 6 ? 6 : 4));
  return out;
}

// Writes everything queued outside a batch (JS calls this once at the end of the tick); returns
// what the streams have for lib (see takeDeliveries), or undefined.
Napi::Value ServerWrap::flush(const Napi::CallbackInfo& info) {
  if (destroyed_) return info.Env().Undefined();
  server_->flush();
  rearmTimer();
  return takeDeliveries();
}

Napi::Value ServerWrap::connectionCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), destroyed_ ? 0 : static_cast<double>(server_->connectionCount()));
}

// Closes every fd at once; the object is unusable afterwards. The events still queued (the CLOSE
// of every connection dropConnections just closed) are delivered first, so JS never has to make
// them up (review A3). From inside a batch they would re-enter it: there the batch's own end
// delivers nothing more, and they are lost with the core, as before.
Napi::Value ServerWrap::destroy(const Napi::CallbackInfo& info) {
  if (!destroyed_ && !inBatch_) deliverEvents();
  shutdown();
  return info.Env().Undefined();
}

}  // namespace epollws
