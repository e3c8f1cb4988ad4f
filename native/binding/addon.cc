// Module entry: exports the ServerWrap class and everything JS must agree on with the core (event
// kinds, record layout, opcodes, call statuses, option defaults, the error table), so lib repeats
// none of it. No global state: every server owns its core, so the addon works in several
// worker_threads.
#include <napi.h>

#include "../core/event_batch.h"
#include "../core/opcode.h"
#include "../core/server.h"
#include "../core/status.h"
#include "../core/stream_transport.h"
#include "server_wrap.h"

namespace {

uint32_t u32(epollws::EventKind kind) { return static_cast<uint32_t>(kind); }
uint32_t u32(epollws::Opcode opcode) { return static_cast<uint32_t>(opcode); }
int32_t i32(epollws::CallStatus status) { return static_cast<int32_t>(status); }

Napi::Object opcodes(Napi::Env env) {
  using epollws::Opcode;
  Napi::Object out = Napi::Object::New(env);
  out.Set("CONTINUATION", u32(Opcode::CONTINUATION));
  out.Set("TEXT", u32(Opcode::TEXT));
  out.Set("BINARY", u32(Opcode::BINARY));
  out.Set("CLOSE", u32(Opcode::CLOSE));
  out.Set("PING", u32(Opcode::PING));
  out.Set("PONG", u32(Opcode::PONG));
  return out;
}

Napi::Object callStatuses(Napi::Env env) {
  using epollws::CallStatus;
  Napi::Object out = Napi::Object::New(env);
  out.Set("OK", i32(CallStatus::OK));
  out.Set("ACCEPTED_DEFLATE", i32(CallStatus::ACCEPTED_DEFLATE));
  out.Set("CLOSED", i32(CallStatus::CLOSED));
  out.Set("WRONG_STATE", i32(CallStatus::WRONG_STATE));
  out.Set("DROPPED", i32(CallStatus::DROPPED));
  out.Set("INVALID_HEADERS", i32(CallStatus::INVALID_HEADERS));
  return out;
}

// The core's own defaults (ServerOptions in native/core/server_options.h), under lib's option names.
Napi::Object defaults(Napi::Env env) {
  const epollws::ServerOptions core;
  Napi::Object out = Napi::Object::New(env);
  out.Set("maxPayload", static_cast<double>(core.maxPayload));
  out.Set("maxHeaderSize", static_cast<double>(core.maxHeaderSize));
  out.Set("maxConnections", core.maxConnections);
  out.Set("handshakeTimeout", core.handshakeTimeoutMs);
  out.Set("closeTimeout", core.closeTimeoutMs);
  out.Set("idleTimeout", core.idleTimeoutMs);
  out.Set("sendPings", core.sendPings);
  out.Set("maxBackpressure", static_cast<double>(core.maxBackpressure));
  out.Set("maxTotalBackpressure", static_cast<double>(core.maxTotalBackpressure));
  out.Set("maxFragments", core.maxFragments);
  return out;
}

Napi::Array errors(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t i = 0; i < static_cast<uint32_t>(epollws::ErrorCode::COUNT); ++i) {
    auto code = static_cast<epollws::ErrorCode>(i);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("code", epollws::errorCodeName(code));
    entry.Set("message", epollws::errorCodeMessage(code));
    entry.Set("closeCode", epollws::errorCloseCode(code));
    out.Set(i, entry);
  }
  return out;
}

// HANDSHAKE_FAILURES[failure] = { reason, status, message }: CLIENT_ERROR's arg and adopt()'s
// failure index this table (native/core/handshake_failure.h).
Napi::Array handshakeFailures(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t i = 0; i < static_cast<uint32_t>(epollws::HandshakeFailure::COUNT); ++i) {
    const epollws::HandshakeFailureInfo& info = epollws::handshakeFailureInfo(static_cast<epollws::HandshakeFailure>(i));
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("reason", info.name);
    entry.Set("status", info.status);
    entry.Set("message", info.message);
    out.Set(i, entry);
  }
  return out;
}

Napi::Object constants(Napi::Env env) {
  using epollws::EventKind;
  Napi::Object out = Napi::Object::New(env);
  out.Set("EVENT_UPGRADE", u32(EventKind::UPGRADE));
  out.Set("EVENT_MESSAGE", u32(EventKind::MESSAGE));
  out.Set("EVENT_PING", u32(EventKind::PING));
  out.Set("EVENT_PONG", u32(EventKind::PONG));
  out.Set("EVENT_CLOSE", u32(EventKind::CLOSE));
  out.Set("EVENT_DRAIN", u32(EventKind::DRAIN));
  out.Set("EVENT_ERROR", u32(EventKind::ERROR));
  out.Set("EVENT_CLIENT_ERROR", u32(EventKind::CLIENT_ERROR));
  out.Set("EVENT_ACCEPT_ERROR", u32(EventKind::ACCEPT_ERROR));
  out.Set("EVENT_STOPPED", u32(EventKind::STOPPED));
  out.Set("EVENT_SUBSCRIPTION", u32(EventKind::SUBSCRIPTION));
  out.Set("MAX_TOPIC_LENGTH", static_cast<uint32_t>(epollws::TopicRegistry::MAX_TOPIC_LENGTH));
  out.Set("EVENT_WRITTEN", u32(EventKind::WRITTEN));
  out.Set("MESSAGE_BINARY", epollws::MESSAGE_BINARY);
  out.Set("MESSAGE_EXTERNAL", epollws::MESSAGE_EXTERNAL);
  out.Set("RECORD_WORDS", static_cast<uint32_t>(epollws::EVENT_RECORD_WORDS));
  out.Set("SEND_COMPRESS", epollws::SEND_COMPRESS);
  out.Set("MAX_CONTROL_PAYLOAD", static_cast<uint32_t>(epollws::MAX_CONTROL_PAYLOAD));
  out.Set("OPCODES", opcodes(env));
  out.Set("CALL_STATUS", callStatuses(env));
  out.Set("DEFAULTS", defaults(env));
  out.Set("ERRORS", errors(env));
  out.Set("HANDSHAKE_FAILURES", handshakeFailures(env));
  out.Set("CLIENT_ERROR_HELD", epollws::CLIENT_ERROR_HELD);
  Napi::Object stream = Napi::Object::New(env);
  stream.Set("WRITE_SHUT", static_cast<uint32_t>(epollws::StreamTransport::DELIVERY_WRITE_SHUT));
  stream.Set("CLOSED", static_cast<uint32_t>(epollws::StreamTransport::DELIVERY_CLOSED));
  stream.Set("RESUME_INPUT", static_cast<uint32_t>(epollws::StreamTransport::DELIVERY_RESUME_INPUT));
  stream.Set("INPUT_HELD", epollws::Server::STREAM_INPUT_HELD);
  out.Set("STREAM", stream);
  return out;
}

// isValidCloseCode(code): the core's rule, exported so a test can check lib's copy against it.
Napi::Value isValidCloseCode(const Napi::CallbackInfo& info) {
  uint32_t code = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Boolean::New(info.Env(), code <= 0xffff && epollws::isValidCloseCode(static_cast<uint16_t>(code)));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("Server", epollws::ServerWrap::define(env));
  exports.Set("constants", constants(env));
  exports.Set("isValidCloseCode", Napi::Function::New<isValidCloseCode>(env, "isValidCloseCode"));
  return exports;
}

}  // namespace

NODE_API_MODULE(epollws, init)
