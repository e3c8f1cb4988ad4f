{
  "variables": {
    "openssl_fips": "",
    "core_sources": [
      "native/core/connection.cc",
      "native/core/deflate_negotiation.cc",
      "native/core/handshake.cc",
      "native/core/http_upgrade.cc",
      "native/core/listener.cc",
      "native/core/memory_return.cc",
      "native/core/message_assembler.cc",
      "native/core/net.cc",
      "native/core/openssl_api.cc",
      "native/core/output_queue.cc",
      "native/core/permessage_deflate.cc",
      "native/core/proxy_protocol.cc",
      "native/core/reactor.cc",
      "native/core/server.cc",
      "native/core/server_compat.cc",
      "native/core/server_handshake.cc",
      "native/core/server_stream.cc",
      "native/core/server_tls.cc",
      "native/core/server_topics.cc",
      "native/core/status.cc",
      "native/core/stream_transport.cc",
      "native/core/tls_context.cc",
      "native/core/tls_context_set.cc",
      "native/core/tls_session_info.cc",
      "native/core/tls13_records.cc",
      "native/core/tls_transport.cc",
      "native/core/tls_transport_records.cc",
      "native/core/topic_registry.cc",
      "native/core/transport.cc",
      "native/core/utf8.cc",
      "native/core/write_progress.cc"
    ]
  },
  "target_defaults": {
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
    "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions"],
    "conditions": [
      ["OS!='linux'", { "type": "none", "sources": [], "actions": [{
        "action_name": "unsupported",
        "inputs": [], "outputs": ["unsupported"],
        "action": ["sh", "-c", "echo 'epollws needs Linux (epoll)' >&2; exit 1"]
      }] }]
    ]
  },
  "targets": [
    {
      "target_name": "epollws_core",
      "type": "static_library",
      "sources": ["<@(core_sources)"]
    },
    {
      "target_name": "epollws",
      "dependencies": [
        "epollws_core",
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api"
      ],
      "sources": ["native/binding/addon.cc", "native/binding/server_wrap.cc", "native/binding/batch_delivery.cc", "native/binding/connection_calls.cc", "native/binding/server_wrap_topics.cc", "native/binding/stream_wrap.cc", "native/binding/tls_wrap.cc"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"]
    }
  ]
}
