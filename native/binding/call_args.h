// Reading the arguments of ServerWrap's calls, shared by its translation units: every
// per-connection call starts with (slot, generation).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "../core/server_options.h"

namespace epollws {

inline uint32_t toU32(const Napi::Value& v) { return v.As<Napi::Number>().Uint32Value(); }

inline ConnectionId idFrom(const Napi::CallbackInfo& info) {
  return ConnectionId{toU32(info[0]), toU32(info[1])};
}

inline std::string stringOrEmpty(const Napi::Value& v) {
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

}  // namespace epollws
