#include "server_wrap.h"

#include "call_args.h"


#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace epollws {
namespace {

uint32_t optionU32(const Napi::Object& options, const char* name, uint32_t fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
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
                         InstanceMethod<&ServerWrap::useTls>("useTls"),
                         InstanceMethod<&ServerWrap::addServerName>("addServerName"),
                         InstanceMethod<&ServerWrap::removeServerName>("removeServerName"),
                         InstanceMethod<&ServerWrap::setSecureContext>("setSecureContext"),
                         InstanceMethod<&ServerWrap::getTicketKeys>("getTicketKeys"),
                         InstanceMethod<&ServerWrap::setTicketKeys>("setTicketKeys"),
                         InstanceMethod<&ServerWrap::tlsSession>("tlsSession"),
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
