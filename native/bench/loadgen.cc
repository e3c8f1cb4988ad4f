// loadgen: closed-loop WebSocket echo load generator and handshake/idle-connection driver.
//
// One thread, one epoll loop, level-triggered. Every echoed byte is verified against a pattern that
// encodes connection and sequence number (pattern.h); latency is recorded per message into a
// fixed-size histogram. The measured window reports throughput, latency, this process's CPU (to tell
// when the load generator, not the server, was the limit) and, given --server-pid, the server's CPU
// time per message.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "client.h"
#include "options.h"

namespace epollws::bench {
namespace {

struct Snapshot {
  uint64_t ns = 0;
  double userSec = 0;
  double sysSec = 0;
  double serverSec = 0;  // server utime + stime
  double machineBusySec = 0;  // all CPUs, from /proc/stat: tells how much other work competed
};

double tv(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

// utime + stime of the whole process (all threads), in seconds. Fields 14 and 15 of
// /proc/PID/stat, counted after the parenthesised command name, which may itself hold spaces.
double serverCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) fail("cannot read /proc/%d/stat: is the server (--server-pid) still running?", pid);
  size_t close = line.rfind(')');
  if (close == std::string::npos) fail("unexpected /proc/%d/stat format", pid);
  std::istringstream fields(line.substr(close + 2));
  std::string tok;
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; field <= 15 && (fields >> tok); ++field) {
    if (field == 14) utime = std::strtoull(tok.c_str(), nullptr, 10);
    if (field == 15) stime = std::strtoull(tok.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Busy CPU seconds of the whole machine (the aggregate "cpu" line of /proc/stat, idle and iowait
// excluded). Subtracting this process and the server leaves what everything else used meanwhile.
double machineBusySeconds() {
  std::ifstream in("/proc/stat");
  std::string name;
  unsigned long long v[8] = {};
  if (!(in >> name) || name != "cpu") return 0;
  for (auto& x : v) in >> x;
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // user nice system irq softirq steal
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Snapshot takeSnapshot(const Options& o) {
  Snapshot s;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  s.userSec = tv(ru.ru_utime);
  s.sysSec = tv(ru.ru_stime);
  if (o.serverPid > 0) s.serverSec = serverCpuSeconds(o.serverPid);
  s.machineBusySec = machineBusySeconds();
  s.ns = monotonicNs();
  return s;
}

void raiseFdLimit(uint64_t needed) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur != RLIM_INFINITY && needed > rl.rlim_cur)
    fail("%" PRIu64 " connections need more file descriptors than the hard limit of %llu", needed,
         static_cast<unsigned long long>(rl.rlim_cur));
}

std::vector<Target> resolveTargets(const Options& o) {
  std::vector<Target> targets;
  for (uint16_t port : o.ports) {
    Target t;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&t.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    if (inet_pton(AF_INET, o.host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      t.len = sizeof(sockaddr_in);
      t.hostHeader = o.host + ":" + std::to_string(port);
    } else if (inet_pton(AF_INET6, o.host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      t.len = sizeof(sockaddr_in6);
      t.hostHeader = "[" + o.host + "]:" + std::to_string(port);
    } else {
      fail("--host must be an IPv4 or IPv6 literal, got \"%s\"", o.host.c_str());
    }
    targets.push_back(t);
  }
  if (!o.sourceAddrs.empty() && targets[0].addr.ss_family != AF_INET)
    fail("--source-addrs needs an IPv4 --host");
  return targets;
}

void reportEcho(const Options& o, const Shared& sh, const Snapshot& a, const Snapshot& b) {
  double secs = static_cast<double>(b.ns - a.ns) / 1e9;
  double msgs = static_cast<double>(sh.messages) / secs;
  double mb = static_cast<double>(sh.payloadBytes) / secs / 1e6;
  double cpu = (b.userSec - a.userSec + b.sysSec - a.sysSec) / secs;
  bool saturated = cpu >= 0.95;
  double srvSec = b.serverSec - a.serverSec;
  double srvUsPerMsg = sh.messages ? srvSec * 1e6 / static_cast<double>(sh.messages) : 0;
  double other = (b.machineBusySec - a.machineBusySec - srvSec) / secs - cpu;
  if (other < 0) other = 0;
  const Histogram& h = sh.latency;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  // Wire bytes per message; the messages in flight when the window closed make it a slight
  // over-estimate of the sending side (sent, not yet echoed), negligible over thousands of echoes.
  auto perMsg = [&](uint64_t bytes) { return sh.messages ? static_cast<double>(bytes) / sh.messages : 0.0; };
  if (o.json) {
    std::printf(
        "{\"mode\":\"echo\",\"connections\":%u,\"inflight\":%u,\"size\":%" PRIu64
        ",\"type\":\"%s\",\"warmup\":%.3f,\"duration\":%.3f,\"messages\":%" PRIu64
        ",\"msgsPerSec\":%.1f,\"mbPerSec\":%.3f,\"latencyUs\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,"
        "\"max\":%.2f,\"mean\":%.2f},\"loadgenCpu\":%.4f,\"loadgenUserCpu\":%.4f,\"loadgenSysCpu\":%.4f,"
        "\"loadgenSaturated\":%s",
        o.connections, o.inflight, o.size, o.text ? "text" : "binary", o.warmup, secs, sh.messages, msgs, mb,
        us(h.percentile(0.5)), us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()), h.mean() / 1000.0,
        cpu, (b.userSec - a.userSec) / secs, (b.sysSec - a.sysSec) / secs, saturated ? "true" : "false");
    if (o.serverPid > 0)
      std::printf(",\"serverPid\":%d,\"serverCpu\":%.4f,\"serverCpuUsPerMsg\":%.4f", o.serverPid, srvSec / secs,
                  srvUsPerMsg);
    if (o.deflate)
      std::printf(",\"deflate\":true,\"wireBytesPerMsgOut\":%.2f,\"wireBytesPerMsgIn\":%.2f,"
                  "\"compressedEchoes\":%" PRIu64,
                  perMsg(sh.wireOut), perMsg(sh.wireIn), sh.compressedEchoes);
    std::printf(",\"otherCpu\":%.4f,\"errors\":0}\n", other);
  } else {
    std::printf("loadgen: %u connections x %u in flight, %" PRIu64 " B %s, %.2f s measured after %.1f s warmup\n",
                o.connections, o.inflight, o.size, o.text ? "text" : "binary", secs, o.warmup);
    std::printf("  messages     %" PRIu64 " echoed and verified: %.0f msgs/s, %.2f MB/s payload each way\n",
                sh.messages, msgs, mb);
    std::printf("  latency      p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us, mean %.1f us\n",
                us(h.percentile(0.5)), us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()),
                h.mean() / 1000.0);
    std::printf("  loadgen CPU  %.0f%% of one core (user %.0f%%, sys %.0f%%)\n", cpu * 100,
                (b.userSec - a.userSec) / secs * 100, (b.sysSec - a.sysSec) / secs * 100);
    if (o.serverPid > 0)
      std::printf("  server CPU   %.0f%% of one core, %.3f us per message\n", srvSec / secs * 100, srvUsPerMsg);
    std::printf("  other CPU    %.0f%% of one core used by other processes meanwhile\n", other * 100);
    if (o.deflate)
      std::printf("  deflate      %.1f B on the wire per message out, %.1f B in (payload %" PRIu64 " B), %" PRIu64
                  " of %" PRIu64 " echoes compressed\n",
                  perMsg(sh.wireOut), perMsg(sh.wireIn), o.size, sh.compressedEchoes, sh.messages);
  }
  if (saturated)
    std::fprintf(stderr,
                 "loadgen: WARNING: the load generator used %.0f%% of a core: it was the bottleneck, and the "
                 "server may be faster than these figures show\n",
                 cpu * 100);
}

void reportConnect(const Options& o, const Snapshot& a, const Snapshot& b, uint64_t openNs) {
  double secs = static_cast<double>(openNs - a.ns) / 1e9;
  double rate = secs > 0 ? o.connections / secs : 0;
  double cpu = (b.userSec - a.userSec + b.sysSec - a.sysSec) / (static_cast<double>(b.ns - a.ns) / 1e9);
  bool saturated = cpu >= 0.95;
  double srvUs = (b.serverSec - a.serverSec) * 1e6 / o.connections;
  double wall = static_cast<double>(b.ns - a.ns) / 1e9;
  double other = (b.machineBusySec - a.machineBusySec - (b.serverSec - a.serverSec)) / wall - cpu;
  if (other < 0) other = 0;
  if (o.json) {
    std::printf(
        "{\"mode\":\"connect\",\"connections\":%u,\"connectSeconds\":%.4f,\"handshakesPerSec\":%.1f,"
        "\"hold\":%.3f,\"loadgenCpu\":%.4f,\"loadgenSaturated\":%s",
        o.connections, secs, rate, o.hold, cpu, saturated ? "true" : "false");
    if (o.serverPid > 0) std::printf(",\"serverPid\":%d,\"serverCpuUsPerHandshake\":%.3f", o.serverPid, srvUs);
    std::printf(",\"otherCpu\":%.4f,\"errors\":0}\n", other);
  } else {
    std::printf("loadgen: %u connections opened in %.3f s: %.0f handshakes/s (loadgen CPU %.0f%%)\n",
                o.connections, secs, rate, cpu * 100);
    if (o.serverPid > 0) std::printf("  server CPU   %.1f us per handshake\n", srvUs);
    std::printf("  other CPU    %.0f%% of one core used by other processes meanwhile\n", other * 100);
  }
  if (saturated)
    std::fprintf(stderr, "loadgen: WARNING: the load generator used %.0f%% of a core while connecting: it was "
                         "the bottleneck\n", cpu * 100);
}

int run(const Options& o) {
  signal(SIGPIPE, SIG_IGN);
  raiseFdLimit(static_cast<uint64_t>(o.connections) + 32);
  std::vector<Target> targets = resolveTargets(o);

  Shared sh(o);
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (epoll.get() < 0) fail("epoll_create1: %s", std::strerror(errno));
  sh.epollFd = epoll.get();
  if (o.tls) {
    sh.tls = SSL_CTX_new(TLS_client_method());
    if (!sh.tls) fail("SSL_CTX_new failed");
    SSL_CTX_set_verify(sh.tls, SSL_VERIFY_NONE, nullptr);  // a benchmark: the server's certificate is a test one
    // flush() retries with the same bytes after WANT_WRITE; partial writes keep it like send().
    SSL_CTX_set_mode(sh.tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  if (getrandom(&sh.maskState, sizeof sh.maskState, 0) != sizeof sh.maskState) fail("getrandom failed");
  sh.maskState |= 1;  // xorshift must not start at zero

  std::vector<std::unique_ptr<Connection>> conns;
  conns.reserve(o.connections);
  std::vector<epoll_event> events(1024);

  enum class Phase { kConnecting, kWarmup, kMeasure, kHold } phase = Phase::kConnecting;
  const Snapshot start = takeSnapshot(o);
  // Generous, but bounded: a server that stops accepting must not hang the harness.
  const uint64_t connectLimitNs = static_cast<uint64_t>(30 + o.connections / 500) * 1000000000ull;
  uint64_t phaseEnd = start.ns + connectLimitNs;
  Snapshot measureStart;

  for (;;) {
    while (conns.size() < o.connections && sh.pendingHandshakes < o.handshakeConcurrency) {
      uint32_t i = static_cast<uint32_t>(conns.size());
      conns.push_back(std::make_unique<Connection>(sh, i));
      const in_addr* src = o.sourceAddrs.empty() ? nullptr : &o.sourceAddrs[i % o.sourceAddrs.size()];
      conns.back()->start(targets[i % targets.size()], src);
    }
    uint64_t now = monotonicNs();
    int timeoutMs = now >= phaseEnd ? 0 : static_cast<int>((phaseEnd - now) / 1000000 + 1);
    if (timeoutMs > 100) timeoutMs = 100;
    int n = epoll_wait(sh.epollFd, events.data(), static_cast<int>(events.size()), timeoutMs);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", std::strerror(errno));
    sh.now = monotonicNs();
    for (int i = 0; i < n; ++i) static_cast<Connection*>(events[i].data.ptr)->onEvents(events[i].events);
    now = monotonicNs();

    if (phase == Phase::kConnecting) {
      if (sh.openConnections == o.connections) {
        if (o.connectMode) {
          Snapshot connected = takeSnapshot(o);
          reportConnect(o, start, connected, sh.lastOpenNs);
          std::fflush(stdout);
          // The harness waits for this line before reading the server's memory.
          std::fprintf(stderr, "loadgen: ready: %u connections open, holding %.1f s\n", o.connections, o.hold);
          phase = Phase::kHold;
          phaseEnd = now + static_cast<uint64_t>(o.hold * 1e9);
        } else {
          phase = Phase::kWarmup;
          phaseEnd = now + static_cast<uint64_t>(o.warmup * 1e9);
        }
      } else if (now >= phaseEnd) {
        fail("only %u of %u connections completed the handshake within %.0f s", sh.openConnections, o.connections,
             static_cast<double>(connectLimitNs) / 1e9);
      }
    }
    if (phase == Phase::kWarmup && now >= phaseEnd) {
      sh.messages = 0;
      sh.payloadBytes = 0;
      sh.wireOut = 0;
      sh.wireIn = 0;
      sh.compressedEchoes = 0;
      sh.latency.reset();
      measureStart = takeSnapshot(o);
      phase = Phase::kMeasure;
      phaseEnd = measureStart.ns + static_cast<uint64_t>(o.duration * 1e9);
    } else if (phase == Phase::kMeasure && now >= phaseEnd) {
      Snapshot end = takeSnapshot(o);
      sh.sending = false;
      if (sh.messages == 0) fail("no message was echoed during the %.1f s measured window", o.duration);
      // A server that silently drops or holds a message stalls that connection's closed loop while
      // the others carry on; the totals would hide it, so check every connection made progress.
      double stallSec = o.duration / 2 < 0.5 ? 0.5 : o.duration / 2 > 2.0 ? 2.0 : o.duration / 2;
      for (const auto& c : conns) {
        uint64_t oldest = c->oldestPendingNs();
        if (oldest != UINT64_MAX && end.ns > oldest && static_cast<double>(end.ns - oldest) / 1e9 > stallSec)
          fail("connection %u: no echo for %.1f s: the server lost or held back a message", c->id(),
               static_cast<double>(end.ns - oldest) / 1e9);
      }
      reportEcho(o, sh, measureStart, end);
      return 0;
    } else if (phase == Phase::kHold && now >= phaseEnd) {
      return 0;
    }
  }
}

}  // namespace
}  // namespace epollws::bench

int main(int argc, char** argv) {
  epollws::bench::Options o = epollws::bench::parseOptions(argc, argv);
  return epollws::bench::run(o);
}
