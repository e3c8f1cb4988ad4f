// ServerWrap's stream calls: connections whose bytes a Node stream carries (a TLSSocket of an
// https.Server or of the `tls` option's tls.Server, any Duplex) instead of an fd the core reads.
// lib/stream-bridge.ts feeds what the socket read and writes what the core hands back. The
// binding tells it which streams have something after every turn and every flush, so lib never
// polls: deliverStreams() after a turn (one callback, only when a stream has something), and
// flush() returns the same list. See native/core/stream_transport.h for the flags.
#include <cerrno>
#include <cstdlib>

#include "../core/stream_transport.h"
#include "call_args.h"
#include "server_wrap.h"

namespace epollws {
namespace {

PeerAddress peerFrom(const Napi::CallbackInfo& info, size_t at) {
  PeerAddress peer;
  if (info[at].IsString()) peer.address = info[at].As<Napi::String>().Utf8Value();
  if (info[at + 1].IsNumber()) peer.port = static_cast<uint16_t>(info[at + 1].As<Napi::Number>().Uint32Value());
  peer.family = info[at + 2].IsNumber() ? static_cast<int>(info[at + 2].As<Napi::Number>().Int32Value()) : 4;
  return peer;
}

size_t windowFrom(const Napi::Value& value) {
  return value.IsNumber() ? static_cast<size_t>(value.As<Napi::Number>().DoubleValue()) : 256 * 1024;
}

Napi::Array adoptResult(Napi::Env env, const Server::AdoptResult& result) {
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, result.error);
  out.Set(1u, result.id.slot);
  out.Set(2u, result.id.generation);
  out.Set(3u, static_cast<uint32_t>(result.failure));
  return out;
}

}  // namespace

// setStreamHandler(fn): fn(deliveries) after each turn in which a stream has something.
Napi::Value ServerWrap::setStreamHandler(const Napi::CallbackInfo& info) {
  if (info[0].IsFunction()) streamHandler_ = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// attachStream(address, port, family, window) -> [slot, generation]: a stream that starts with
// the opening handshake, read by the core as on its own listeners (the `tls` option's sockets).
Napi::Value ServerWrap::attachStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 2);
  ConnectionId id{UINT32_MAX, 0};
  if (!destroyed_) id = server_->attachStream(peerFrom(info, 0), windowFrom(info[3]));
  followDeadlines();
  updateRef();
  out.Set(0u, static_cast<double>(id.slot));
  out.Set(1u, id.generation);
  return out;
}

// adoptStream(requestHead, rest, servePath, answerRefusal, address, port, family, window)
//   -> [errno, slot, generation, failure], as adopt() for an fd.
Napi::Value ServerWrap::adoptStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Server::AdoptResult result;
  if (destroyed_ || !info[0].IsBuffer()) {
    result.error = EBADF;
    return adoptResult(env, result);
  }
  auto head = info[0].As<Napi::Buffer<char>>();
  const uint8_t* rest = nullptr;
  size_t restLength = 0;
  if (info[1].IsBuffer()) {
    auto buffer = info[1].As<Napi::Buffer<uint8_t>>();
    rest = buffer.Data();
    restLength = buffer.Length();
  }
  result = server_->adoptStream(peerFrom(info, 4), windowFrom(info[7]), std::string_view(head.Data(), head.Length()),
                                rest, restLength, info[2].ToBoolean().Value(), info[3].ToBoolean().Value());
  followDeadlines();
  updateRef();
  return adoptResult(env, result);
}

// feed(slot, generation, bytes) -> CallStatus, or STREAM.INPUT_HELD: stop reading the socket.
Napi::Value ServerWrap::feed(const Napi::CallbackInfo& info) {
  if (destroyed_ || !info[2].IsTypedArray()) return Napi::Number::New(info.Env(), -1);
  auto bytes = info[2].As<Napi::Uint8Array>();
  return Napi::Number::New(info.Env(), server_->feed(idFrom(info), bytes.Data(), bytes.ByteLength()));
}

// endStream(slot, generation, failed) -> CallStatus: the socket ended (or broke: `failed`).
Napi::Value ServerWrap::endStream(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), server_->streamEnded(idFrom(info), info[2].ToBoolean().Value()));
}

// pauseStreamOutput(slot, generation, paused) -> CallStatus: the socket's write() said false / 'drain'.
Napi::Value ServerWrap::pauseStreamOutput(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), server_->pauseStreamOutput(idFrom(info), info[2].ToBoolean().Value()));
}

// [slot, generation, flags, bytes | undefined, ...] for every stream with something, or undefined.
Napi::Value ServerWrap::takeDeliveries() {
  Napi::Env env = Env();
  if (destroyed_ || !server_->hasStreams()) return env.Undefined();
  deliveries_.clear();
  server_->takeDeliveries(deliveries_);
  if (deliveries_.empty()) return env.Undefined();
  Napi::Array list = Napi::Array::New(env, deliveries_.size() * 4);
  uint32_t at = 0;
  for (Server::StreamDelivery& delivery : deliveries_) {
    list.Set(at++, delivery.id.slot);
    list.Set(at++, delivery.id.generation);
    list.Set(at++, static_cast<uint32_t>(delivery.flags));
    size_t length = delivery.bytes.size();
    if (length == 0) {
      list.Set(at++, env.Undefined());
    } else if (length < 64 * 1024) {
      list.Set(at++, Napi::Buffer<uint8_t>::Copy(env, delivery.bytes.data(), length));
    } else {
      // Large output becomes the Buffer's memory, as large messages do (no second copy).
      list.Set(at++, Napi::Buffer<uint8_t>::NewOrCopy(env, delivery.bytes.detach(), length,
                                                      [](Napi::Env, uint8_t* bytes) { std::free(bytes); }));
    }
  }
  deliveries_.clear();
  return list;
}

// After a turn's flush and before its slots are released (a stream closed in the turn still
// hands over its last bytes and its close).
void ServerWrap::deliverStreams() {
  if (streamHandler_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::Value list = takeDeliveries();
  if (list.IsUndefined()) return;
  napi_value args[1] = {list};
  napi_value result;
  inBatch_ = true;
  napi_status status = napi_make_callback(env, *asyncContext_, Value(), streamHandler_.Value(), 1, args, &result);
  inBatch_ = false;
  if (status != napi_ok && env.IsExceptionPending()) {
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace epollws
