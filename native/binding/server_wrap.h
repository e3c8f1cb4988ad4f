// ServerWrap: the JS face of one core Server. This layer only translates (arguments, lifetimes,
// events); protocol decisions live in native/core and option defaults in lib/options.ts.
//
// The core runs on the JS thread: a uv_poll_t watches the core's epoll fd and a uv_timer_t its
// nearest deadline. Each turn hands every event to JS in one MakeCallback (records in a reused
// Uint32Array, small payloads in Buffers of at most 64 KiB), then flushes the output the JS queued.
#pragma once
#include <napi.h>
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "../core/server.h"

namespace epollws {

// Or'ed into send()'s opcode argument: permessage-deflate may compress this message.
constexpr uint32_t SEND_COMPRESS = 0x100;

class ServerWrap : public Napi::ObjectWrap<ServerWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit ServerWrap(const Napi::CallbackInfo& info);
  ~ServerWrap() override;

 private:
  struct LoopHandles;

  Napi::Value listen(const Napi::CallbackInfo& info);
  Napi::Value stopListening(const Napi::CallbackInfo& info);
  Napi::Value dropConnections(const Napi::CallbackInfo& info);
  static napi_value sendRaw(napi_env env, napi_callback_info info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value terminate(const Napi::CallbackInfo& info);
  Napi::Value accept(const Napi::CallbackInfo& info);
  Napi::Value reject(const Napi::CallbackInfo& info);
  Napi::Value adopt(const Napi::CallbackInfo& info);
  Napi::Value holdRefusals(const Napi::CallbackInfo& info);
  Napi::Value writeRefusal(const Napi::CallbackInfo& info);
  Napi::Value endRefusal(const Napi::CallbackInfo& info);
  Napi::Value bufferedAmount(const Napi::CallbackInfo& info);
  Napi::Value armWritten(const Napi::CallbackInfo& info);
  Napi::Value pauseReading(const Napi::CallbackInfo& info);
  Napi::Value peerAddress(const Napi::CallbackInfo& info);
  Napi::Value sharedFrame(const Napi::CallbackInfo& info);
  Napi::Value sendShared(const Napi::CallbackInfo& info);
  Napi::Value flush(const Napi::CallbackInfo& info);
  Napi::Value connectionCount(const Napi::CallbackInfo& info);
  Napi::Value destroy(const Napi::CallbackInfo& info);
  // Topics (server_wrap_topics.cc).
  Napi::Value subscribe(const Napi::CallbackInfo& info);
  Napi::Value unsubscribe(const Napi::CallbackInfo& info);
  Napi::Value isSubscribed(const Napi::CallbackInfo& info);
  Napi::Value subscriptions(const Napi::CallbackInfo& info);
  Napi::Value subscriberCount(const Napi::CallbackInfo& info);
  Napi::Value publishStats(const Napi::CallbackInfo& info);
  static napi_value publishRaw(napi_env env, napi_callback_info info);
  const std::string& topicArgument(const Napi::Value& value);
  // TLS on the core's own listeners (tls_wrap.cc).
  Napi::Value useTls(const Napi::CallbackInfo& info);
  Napi::Value addServerName(const Napi::CallbackInfo& info);
  Napi::Value removeServerName(const Napi::CallbackInfo& info);
  Napi::Value setSecureContext(const Napi::CallbackInfo& info);
  Napi::Value getTicketKeys(const Napi::CallbackInfo& info);
  Napi::Value setTicketKeys(const Napi::CallbackInfo& info);
  Napi::Value tlsSession(const Napi::CallbackInfo& info);
  // The server's certificates; nullptr once destroyed or without the `tls` option.
  TlsContextSet* tlsContexts() const { return destroyed_ ? nullptr : server_->tls(); }
  // Streams (stream_wrap.cc).
  Napi::Value setStreamHandler(const Napi::CallbackInfo& info);
  Napi::Value attachStream(const Napi::CallbackInfo& info);
  Napi::Value adoptStream(const Napi::CallbackInfo& info);
  Napi::Value feed(const Napi::CallbackInfo& info);
  Napi::Value endStream(const Napi::CallbackInfo& info);
  Napi::Value pauseStreamOutput(const Napi::CallbackInfo& info);
  Napi::Value takeDeliveries();
  void deliverStreams();

  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onTimer(uv_timer_t* handle);
  static void onCleanup(napi_async_cleanup_hook_handle hook, void* data);
  void runTurn();
  void deliverEvents();
  Napi::Array payloadChunks();
  void followDeadlines();
  void releaseRecordsAfterBurst(size_t count);
  void rearmTimer();
  void updateRef();
  void shutdown();
  Napi::Uint32Array recordsView(size_t words);

  std::unique_ptr<Server> server_;
  LoopHandles* handles_ = nullptr;  // freed by the uv close callbacks
  Napi::FunctionReference onBatch_;
  Napi::Reference<Napi::Uint32Array> records_;
  size_t recordsCapacity_ = 0;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  EventBatch delivering_;
  Napi::FunctionReference streamHandler_;
  std::vector<Server::StreamDelivery> deliveries_;
  std::string scratch_;  // UTF-8 of a string being sent
  std::string topic_;    // UTF-8 of a topic name
  bool destroyed_ = false;
  bool inBatch_ = false;  // onBatch is running: delivering again would re-enter it
  bool referenced_ = true;
};

}  // namespace epollws
