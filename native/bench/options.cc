#include "options.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace epollws::bench {
namespace {

const char kUsage[] =
    "usage: loadgen [options]\n"
    "  --host ADDR            server address (default 127.0.0.1; IPv4 or IPv6 literal)\n"
    "  --ports LIST           e.g. 9000 or 9000-9099,9101 (connections spread round-robin)\n"
    "  --path PATH            request path (default /)\n"
    "  --connections N        connections (default 100)\n"
    "  --inflight P           messages in flight per connection (default 1)\n"
    "  --size S               payload bytes per message (default 32)\n"
    "  --text | --binary      message type (default binary)\n"
    "  --duration D           measured seconds (default 5)\n"
    "  --warmup W             seconds before measuring (default 1)\n"
    "  --source-addrs LIST    e.g. 127.0.0.2-127.0.0.50: bind() each connection to one of these\n"
    "  --connect              open N connections as fast as possible, report handshakes/s, then idle\n"
    "  --tls                  wss: TLS under each connection (the certificate is not verified)\n"
    "  --deflate              offer permessage-deflate (client_max_window_bits), require it, send\n"
    "                         compressed JSON-like messages, inflate and verify every echo, count\n"
    "                         wire bytes; with --connect each connection exchanges one message\n"
    "  --hold H               with --connect: keep the connections open H seconds (default 0)\n"
    "  --handshake-concurrency C  handshakes pending at once (default 256)\n"
    "  --server-pid PID       report the server's CPU time per message from /proc/PID/stat\n"
    "  --json                 print one JSON object instead of text\n";

[[noreturn]] void usageError(const char* fmt, const char* arg) {
  std::fprintf(stderr, "loadgen: ");
  std::fprintf(stderr, fmt, arg);
  std::fprintf(stderr, "\n%s", kUsage);
  std::exit(2);
}

uint64_t parseUnsigned(const char* s, const char* name, uint64_t max) {
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v > max) usageError("bad value for %s", name);
  return v;
}

double parseSeconds(const char* s, const char* name) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0) || v > 86400) usageError("bad value for %s", name);
  return v;
}

// "9000-9099,9101": ranges inclusive.
void parsePorts(const std::string& list, std::vector<uint16_t>& out) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = item.find('-');
    uint64_t lo = parseUnsigned(item.substr(0, dash).c_str(), "--ports", 65535);
    uint64_t hi = dash == std::string::npos ? lo : parseUnsigned(item.substr(dash + 1).c_str(), "--ports", 65535);
    if (lo == 0 || hi < lo) usageError("bad port range in %s", list.c_str());
    for (uint64_t p = lo; p <= hi; ++p) out.push_back(static_cast<uint16_t>(p));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
}

in_addr parseIpv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) usageError("bad IPv4 address %s", s.c_str());
  return a;
}

// "127.0.0.2-127.0.0.50,127.0.1.1": ranges inclusive, IPv4 only (source binding is an IPv4 trick
// to get more than one ephemeral port range towards the same destination).
void parseAddrs(const std::string& list, std::vector<in_addr>& out) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = item.find('-');
    uint32_t lo = ntohl(parseIpv4(item.substr(0, dash)).s_addr);
    uint32_t hi = dash == std::string::npos ? lo : ntohl(parseIpv4(item.substr(dash + 1)).s_addr);
    if (hi < lo || hi - lo > 65536) usageError("bad address range %s", item.c_str());
    for (uint64_t a = lo; a <= hi; ++a) {
      in_addr addr{};
      addr.s_addr = htonl(static_cast<uint32_t>(a));
      out.push_back(addr);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
}

}  // namespace

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usageError("%s needs a value", a.c_str());
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--host") {
      o.host = value();
    } else if (a == "--ports" || a == "--port") {
      parsePorts(value(), o.ports);
    } else if (a == "--path") {
      o.path = value();
    } else if (a == "--connections") {
      o.connections = static_cast<uint32_t>(parseUnsigned(value(), "--connections", 1000000));
    } else if (a == "--inflight") {
      o.inflight = static_cast<uint32_t>(parseUnsigned(value(), "--inflight", 1 << 20));
    } else if (a == "--size") {
      o.size = parseUnsigned(value(), "--size", 1ull << 31);
    } else if (a == "--text") {
      o.text = true;
    } else if (a == "--binary") {
      o.text = false;
    } else if (a == "--duration") {
      o.duration = parseSeconds(value(), "--duration");
    } else if (a == "--warmup") {
      o.warmup = parseSeconds(value(), "--warmup");
    } else if (a == "--hold") {
      o.hold = parseSeconds(value(), "--hold");
    } else if (a == "--source-addrs") {
      parseAddrs(value(), o.sourceAddrs);
    } else if (a == "--connect") {
      o.connectMode = true;
    } else if (a == "--tls") {
      o.tls = true;
    } else if (a == "--deflate") {
      o.deflate = true;
    } else if (a == "--handshake-concurrency") {
      o.handshakeConcurrency = static_cast<uint32_t>(parseUnsigned(value(), "--handshake-concurrency", 100000));
    } else if (a == "--server-pid") {
      o.serverPid = static_cast<pid_t>(parseUnsigned(value(), "--server-pid", 1u << 30));
    } else if (a == "--json") {
      o.json = true;
    } else {
      usageError("unknown option %s", a.c_str());
    }
  }
  if (o.ports.empty()) usageError("%s", "--ports is required");
  if (o.connections == 0) usageError("%s", "--connections must be > 0");
  if (o.inflight == 0) usageError("%s", "--inflight must be > 0");
  if (o.handshakeConcurrency == 0) o.handshakeConcurrency = 1;
  if (!o.connectMode && o.duration <= 0) usageError("%s", "--duration must be > 0");
  return o;
}

}  // namespace epollws::bench
