// ServerWrap's topic calls: subscribe, unsubscribe, isSubscribed, subscriptions, subscriberCount,
// publish (raw N-API: it runs once per published message, as send does) and publishStats. They
// only translate; the rules are in native/core/server_topics.cc.
#include "server_wrap.h"

#include "call_args.h"

namespace epollws {
namespace {

// A string's UTF-8 into `out` (napi writes a terminating NUL); false if it is not a string.
bool utf8Of(napi_env env, napi_value value, std::string& out) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) return false;
  out.resize(length + 1);
  napi_get_value_string_utf8(env, value, out.data(), length + 1, &length);
  out.resize(length);
  return true;
}

}  // namespace

const std::string& ServerWrap::topicArgument(const Napi::Value& value) {
  if (!utf8Of(value.Env(), value, topic_)) topic_.clear();  // lib checks the type first
  return topic_;
}

// subscribe(slot, generation, topic) -> the topic's count after it; 0: nothing changed
Napi::Value ServerWrap::subscribe(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), static_cast<double>(server_->subscribe(idFrom(info), topicArgument(info[2]))));
}

// unsubscribe(slot, generation, topic) -> the topic's count after it; -1: nothing changed
Napi::Value ServerWrap::unsubscribe(const Napi::CallbackInfo& info) {
  size_t after = 0;
  bool changed = !destroyed_ && server_->unsubscribe(idFrom(info), topicArgument(info[2]), &after);
  return Napi::Number::New(info.Env(), changed ? static_cast<double>(after) : -1);
}

Napi::Value ServerWrap::isSubscribed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !destroyed_ && server_->isSubscribed(idFrom(info), topicArgument(info[2])));
}

// subscriptions(slot, generation) -> string[]
Napi::Value ServerWrap::subscriptions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string_view> names;
  if (!destroyed_) server_->subscriptions(idFrom(info), names);
  Napi::Array out = Napi::Array::New(env, names.size());
  for (uint32_t i = 0; i < names.size(); ++i) out.Set(i, Napi::String::New(env, names[i].data(), names[i].size()));
  return out;
}

Napi::Value ServerWrap::subscriberCount(const Napi::CallbackInfo& info) {
  if (destroyed_) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), static_cast<double>(server_->subscriberCount(topicArgument(info[0]))));
}

// publishStats() -> [publishes, queued, refused, deflates] since the server started
Napi::Value ServerWrap::publishStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 4);
  Server::PublishStats stats = destroyed_ ? Server::PublishStats{} : server_->publishStats();
  out.Set(0u, static_cast<double>(stats.publishes));
  out.Set(1u, static_cast<double>(stats.queued));
  out.Set(2u, static_cast<double>(stats.refused));
  out.Set(3u, static_cast<double>(stats.deflates));
  return out;
}

// publish(topic, data: Uint8Array | string, opcode | SEND_COMPRESS?, exceptSlot, exceptGeneration)
//   -> the number of sockets it was queued for (the refused ones are in publishStats)
// exceptSlot 0xFFFFFFFF: no socket is excluded. SEND_COMPRESS: permessage-deflate subscribers get
// it compressed (as send's flag).
napi_value ServerWrap::publishRaw(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, args, nullptr, &data);
  auto* self = static_cast<ServerWrap*>(data);
  napi_value result;
  if (argc < 5 || self->destroyed_ || !utf8Of(env, args[0], self->topic_)) {
    napi_create_uint32(env, 0, &result);
    return result;
  }
  uint32_t opcode = 0, exceptSlot = UINT32_MAX, exceptGeneration = 0;
  napi_get_value_uint32(env, args[2], &opcode);
  napi_get_value_uint32(env, args[3], &exceptSlot);
  napi_get_value_uint32(env, args[4], &exceptGeneration);
  bool compress = (opcode & SEND_COMPRESS) != 0;
  opcode &= ~SEND_COMPRESS;
  ConnectionId except{exceptSlot, exceptGeneration};
  const ConnectionId* excluded = exceptSlot == UINT32_MAX ? nullptr : &except;

  Server::PublishResult published;
  napi_valuetype type;
  napi_typeof(env, args[1], &type);
  if (type == napi_string) {
    utf8Of(env, args[1], self->scratch_);
    published = self->server_->publish(self->topic_, static_cast<Opcode>(opcode),
                                       reinterpret_cast<const uint8_t*>(self->scratch_.data()), self->scratch_.size(),
                                       excluded, compress);
  } else {
    void* bytes = nullptr;
    size_t length = 0;
    napi_typedarray_type arrayType;
    if (napi_get_typedarray_info(env, args[1], &arrayType, &length, &bytes, nullptr, nullptr) != napi_ok ||
        arrayType != napi_uint8_array) {
      napi_throw_type_error(env, nullptr, "publish() data must be a string or a Uint8Array");
      return nullptr;
    }
    published = self->server_->publish(self->topic_, static_cast<Opcode>(opcode), static_cast<const uint8_t*>(bytes),
                                       length, excluded, compress);
  }
  napi_create_double(env, static_cast<double>(published.queued), &result);
  return result;
}

}  // namespace epollws
