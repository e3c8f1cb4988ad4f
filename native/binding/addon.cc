// Module entry: exports the ServerWrap class and the constants JS must agree on with the core.
// No global state: every server owns its core, so the addon works in several worker_threads.
#include <napi.h>

#include "../core/event_batch.h"
#include "../core/status.h"
#include "server_wrap.h"

namespace {

Napi::Object constants(Napi::Env env) {
  using epollws::EventKind;
  Napi::Object out = Napi::Object::New(env);
  out.Set("EVENT_UPGRADE", static_cast<uint32_t>(EventKind::UPGRADE));
  out.Set("EVENT_MESSAGE", static_cast<uint32_t>(EventKind::MESSAGE));
  out.Set("EVENT_PING", static_cast<uint32_t>(EventKind::PING));
  out.Set("EVENT_PONG", static_cast<uint32_t>(EventKind::PONG));
  out.Set("EVENT_CLOSE", static_cast<uint32_t>(EventKind::CLOSE));
  out.Set("EVENT_DRAIN", static_cast<uint32_t>(EventKind::DRAIN));
  out.Set("EVENT_ERROR", static_cast<uint32_t>(EventKind::ERROR));
  out.Set("EVENT_CLIENT_ERROR", static_cast<uint32_t>(EventKind::CLIENT_ERROR));
  out.Set("EVENT_ACCEPT_ERROR", static_cast<uint32_t>(EventKind::ACCEPT_ERROR));
  out.Set("EVENT_STOPPED", static_cast<uint32_t>(EventKind::STOPPED));
  out.Set("MESSAGE_BINARY", epollws::MESSAGE_BINARY);
  out.Set("MESSAGE_EXTERNAL", epollws::MESSAGE_EXTERNAL);
  out.Set("RECORD_WORDS", static_cast<uint32_t>(epollws::EVENT_RECORD_WORDS));

  Napi::Array errors = Napi::Array::New(env);
  for (uint32_t i = 0; i < static_cast<uint32_t>(epollws::ErrorCode::COUNT); ++i) {
    auto code = static_cast<epollws::ErrorCode>(i);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("code", epollws::errorCodeName(code));
    entry.Set("message", epollws::errorCodeMessage(code));
    entry.Set("closeCode", epollws::errorCloseCode(code));
    errors.Set(i, entry);
  }
  out.Set("ERRORS", errors);
  return out;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("Server", epollws::ServerWrap::define(env));
  exports.Set("constants", constants(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(epollws, init)
