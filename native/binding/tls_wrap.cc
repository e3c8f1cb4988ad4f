// ServerWrap's TLS calls: the `tls` option's certificates into the core (TlsConfig per entry),
// SNI names, certificate renewal, session ticket keys, and a connection's TLS session for the
// upgrade request. lib/tls-options.ts has already checked types and turned node:tls's option
// values into what is read here (PEM text, a PKCS#12 Buffer, version numbers).
// Errors are thrown as Error with a `code`: EPOLLWS_TLS_UNAVAILABLE where this process's OpenSSL
// cannot serve TLS, EPOLLWS_TLS_CONFIG for options OpenSSL refused (its reasons in the message).
#include "../core/tls_context_set.h"
#include "call_args.h"
#include "server_wrap.h"

namespace epollws {
namespace {

Napi::Value throwTlsError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

std::string bytesOf(const Napi::Value& value) {
  if (value.IsBuffer()) {
    Napi::Buffer<char> buffer = value.As<Napi::Buffer<char>>();
    return std::string(buffer.Data(), buffer.Length());
  }
  return stringOrEmpty(value);
}

TlsConfig configFrom(const Napi::Object& o) {
  TlsConfig config;
  config.key = bytesOf(o.Get("key"));
  config.cert = bytesOf(o.Get("cert"));
  Napi::Value ca = o.Get("ca");
  if (ca.IsArray()) {
    Napi::Array list = ca.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) config.ca.push_back(bytesOf(list.Get(i)));
  }
  config.pfx = bytesOf(o.Get("pfx"));
  config.passphrase = bytesOf(o.Get("passphrase"));
  config.ciphers = stringOrEmpty(o.Get("ciphers"));
  config.ecdhCurve = stringOrEmpty(o.Get("ecdhCurve"));
  Napi::Value minVersion = o.Get("minVersion");
  if (minVersion.IsNumber()) config.minVersion = minVersion.As<Napi::Number>().Int32Value();
  Napi::Value maxVersion = o.Get("maxVersion");
  if (maxVersion.IsNumber()) config.maxVersion = maxVersion.As<Napi::Number>().Int32Value();
  Napi::Value timeout = o.Get("sessionTimeout");
  if (timeout.IsNumber()) config.sessionTimeoutSeconds = timeout.As<Napi::Number>().Uint32Value();
  config.honorCipherOrder = o.Get("honorCipherOrder").ToBoolean().Value();
  config.requestCert = o.Get("requestCert").ToBoolean().Value();
  config.rejectUnauthorized = o.Get("rejectUnauthorized").ToBoolean().Value();
  return config;
}

}  // namespace

// useTls(defaultConfig, [[serverName, config]...], ticketKeys | undefined)
Napi::Value ServerWrap::useTls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string error;
  const OpenSsl* api = openSsl(&error);
  if (!api) return throwTlsError(env, "EPOLLWS_TLS_UNAVAILABLE", "TLS is unavailable: " + error);
  if (destroyed_ || !info[0].IsObject()) return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "no TLS options");
  auto contexts = std::make_unique<TlsContextSet>(*api);
  if (info[2].IsBuffer()) {
    Napi::Buffer<uint8_t> keys = info[2].As<Napi::Buffer<uint8_t>>();
    if (!contexts->setTicketKeys(keys.Data(), keys.Length(), error)) {
      return throwTlsError(env, "EPOLLWS_TLS_CONFIG", error);
    }
  }
  if (!contexts->setDefault(configFrom(info[0].As<Napi::Object>()), error)) {
    return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "tls: " + error);
  }
  if (info[1].IsArray()) {
    Napi::Array names = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      Napi::Array entry = names.Get(i).As<Napi::Array>();
      std::string name = stringOrEmpty(entry.Get(0u));
      if (!contexts->addServerName(name, configFrom(entry.Get(1u).As<Napi::Object>()), error)) {
        return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "tls (serverName " + name + "): " + error);
      }
    }
  }
  if (!server_->useTls(std::move(contexts), error)) return throwTlsError(env, "EPOLLWS_TLS_CONFIG", error);
  return env.Undefined();
}

// addServerName(name, config) / setSecureContext(config): throw EPOLLWS_TLS_CONFIG if refused.
Napi::Value ServerWrap::addServerName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TlsContextSet* contexts = tlsContexts();
  if (!contexts) return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "the server has no TLS");
  std::string name = stringOrEmpty(info[0]);
  std::string error;
  if (!contexts->addServerName(name, configFrom(info[1].As<Napi::Object>()), error)) {
    return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "addServerName(" + name + "): " + error);
  }
  return env.Undefined();
}

Napi::Value ServerWrap::removeServerName(const Napi::CallbackInfo& info) {
  TlsContextSet* contexts = tlsContexts();
  bool removed = contexts && contexts->removeServerName(stringOrEmpty(info[0]));
  return Napi::Boolean::New(info.Env(), removed);
}

Napi::Value ServerWrap::setSecureContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TlsContextSet* contexts = tlsContexts();
  if (!contexts) return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "the server has no TLS");
  std::string error;
  if (!contexts->setDefault(configFrom(info[0].As<Napi::Object>()), error)) {
    return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "setSecureContext: " + error);
  }
  return env.Undefined();
}

// getTicketKeys() -> Buffer (48 bytes) | undefined; setTicketKeys(buffer)
Napi::Value ServerWrap::getTicketKeys(const Napi::CallbackInfo& info) {
  TlsContextSet* contexts = tlsContexts();
  if (!contexts) return info.Env().Undefined();
  const auto& keys = contexts->ticketKeys();
  return Napi::Buffer<uint8_t>::Copy(info.Env(), keys.data(), keys.size());
}

Napi::Value ServerWrap::setTicketKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TlsContextSet* contexts = tlsContexts();
  if (!contexts) return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "the server has no TLS");
  if (!info[0].IsBuffer()) return throwTlsError(env, "EPOLLWS_TLS_CONFIG", "ticketKeys must be a Buffer");
  Napi::Buffer<uint8_t> keys = info[0].As<Napi::Buffer<uint8_t>>();
  std::string error;
  if (!contexts->setTicketKeys(keys.Data(), keys.Length(), error)) {
    return throwTlsError(env, "EPOLLWS_TLS_CONFIG", error);
  }
  return env.Undefined();
}

// tlsSession(slot, generation) -> { protocol, cipher, standardCipher, alpn, servername, reused,
// authorized, authorizationError, peerCertificate } | null
Napi::Value ServerWrap::tlsSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TlsSessionInfo session;
  if (destroyed_ || !server_->tlsSession(idFrom(info), session)) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("protocol", session.protocol);
  out.Set("cipher", session.cipher);
  out.Set("standardCipher", session.standardCipher);
  out.Set("alpn", session.alpn);
  out.Set("servername", session.serverName);
  out.Set("reused", session.sessionReused);
  out.Set("authorized", session.authorized);
  out.Set("authorizationError", session.authorizationError);
  if (session.peerCertificate.empty()) {
    out.Set("peerCertificate", env.Null());
  } else {
    out.Set("peerCertificate", Napi::Buffer<char>::Copy(env, session.peerCertificate.data(), session.peerCertificate.size()));
  }
  return out;
}

}  // namespace epollws
