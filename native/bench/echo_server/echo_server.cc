// The ceiling: an echo server on native/core with no JavaScript at all. It drives the core the
// way the binding does (runTurn, takeBatch, react, endTurn) and answers every message in kind.
// `echo_server --port P [--host H]` prints `listening on ws://H:P` once it accepts.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../core/server.h"

using namespace epollws;

namespace {

volatile std::sig_atomic_t stopping = 0;

void raiseFdLimit() {
  rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void echo(Server& server, const EventBatch& batch) {
  for (const EventRecord& record : batch.records) {
    ConnectionId id{record.slot, record.generation};
    switch (static_cast<EventKind>(record.kind)) {
      case EventKind::UPGRADE:
        server.acceptUpgrade(id, "", "", "");
        break;
      case EventKind::MESSAGE: {
        const uint8_t* payload = record.arg & MESSAGE_EXTERNAL ? batch.externals[record.offset].data()
                                                               : batch.data.data() + record.offset;
        Opcode opcode = record.arg & MESSAGE_BINARY ? Opcode::BINARY : Opcode::TEXT;
        server.send(id, opcode, payload, record.length);
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 8080;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--host") == 0) host = argv[i + 1];
  }
  raiseFdLimit();
  std::signal(SIGINT, [](int) { stopping = 1; });
  std::signal(SIGTERM, [](int) { stopping = 1; });

  ServerOptions options;
  options.maxPayload = 16 * 1024 * 1024 + 64 * 1024;
  Server server(options);
  if (int error = server.init()) {
    std::fprintf(stderr, "echo_server: %s\n", std::strerror(error));
    return 1;
  }
  ListenResult listening = server.listen(host, static_cast<uint16_t>(port), 511, false);
  if (listening.error) {
    std::fprintf(stderr, "echo_server: %s: %s\n", listening.syscall, std::strerror(listening.error));
    return 1;
  }
  std::printf("listening on ws://%s:%u\n", host.c_str(), listening.port);
  std::fflush(stdout);

  EventBatch batch;
  while (!stopping) {
    int64_t due = server.msUntilNextDeadline();
    server.runTurn(due < 0 || due > 1000 ? 1000 : static_cast<int>(due));
    server.takeBatch(batch);
    echo(server, batch);
    server.endTurn();
  }
  return 0;
}
