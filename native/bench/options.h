// Command-line options of the load generator.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace epollws::bench {

struct Options {
  std::string host = "127.0.0.1";
  std::vector<uint16_t> ports;
  std::vector<in_addr> sourceAddrs;  // empty: let the kernel choose
  std::string path = "/";
  uint32_t connections = 100;
  uint32_t inflight = 1;
  uint64_t size = 32;
  bool text = false;
  double duration = 5.0;
  double warmup = 1.0;
  double hold = 0.0;
  bool connectMode = false;
  bool tls = false;
  bool deflate = false;  // offer permessage-deflate; compress, inflate and verify JSON-like payloads  // wss: TLS (any certificate accepted, SNI "localhost") under the WebSocket
  uint32_t handshakeConcurrency = 256;
  pid_t serverPid = 0;
  bool json = false;
};

// Parses argv; on error or --help prints usage and exits (a CLI has nothing to recover).
Options parseOptions(int argc, char** argv);

}  // namespace epollws::bench
