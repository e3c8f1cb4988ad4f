// ServerWrap's per-connection calls other than send: close, terminate, the upgrade decision,
// adopting node:http sockets, refusals, write progress, read pausing, shared frames, peer
// address. Each reads (slot, generation), calls the core and returns its CallStatus; the rules
// live in native/core.
#include "server_wrap.h"

#include "call_args.h"

namespace epollws {

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

}  // namespace epollws
