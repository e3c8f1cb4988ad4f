// fanout: the load generator of the fan-out benchmark (scenario (h) of scripts/bench/run.mjs).
//
// N subscribers connect to ws://HOST:PORT/sub, then P publishers to /pub. The server under test
// sends every message a publisher sends to every subscriber (topics, or a loop over its sockets).
// Each message is binary: publisher index (4 bytes), sequence number (8 bytes), then bytes that
// follow from both (pattern), so every subscriber checks that it receives every message of each
// publisher exactly once, in order, intact. Closed loop: a publisher keeps at most --window
// messages that not every subscriber has received yet. After the measured window the publishers
// stop and every subscriber must have received everything that was sent.
//
//   fanout --port P [--host H] [--publishers 1] [--subscribers 1000] [--size 32] [--window 16]
//          [--warmup 2] [--duration 5] [--server-pid PID] [--json]
//
// One thread, one level-triggered epoll loop. Prints a summary (one JSON line with --json).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::fprintf(stderr, "loadgen: error: ");
  std::vfprintf(stderr, fmt, args);
  std::fprintf(stderr, "\n");
  va_end(args);
  std::exit(1);
}

uint64_t nowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

double processCpu() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

double serverCpu(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) fail("cannot read /proc/%d/stat", pid);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string token;
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; field <= 15 && (fields >> token); ++field) {
    if (field == 14) utime = std::strtoull(token.c_str(), nullptr, 10);
    if (field == 15) stime = std::strtoull(token.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The byte at `offset` (from 12 on) of message `seq` of publisher `pub`.
inline uint8_t patternByte(uint32_t pub, uint64_t seq, size_t offset) {
  return static_cast<uint8_t>(seq * 31 + pub * 7 + offset);
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  uint32_t publishers = 1;
  uint32_t subscribers = 1000;
  size_t size = 32;
  uint32_t window = 16;
  double warmup = 2;
  double duration = 5;
  int serverPid = 0;
  bool json = false;
};

// The key of RFC 6455's example, so the expected accept value is the RFC's too.
const char* const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const char* const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct Conn {
  int fd = -1;
  bool publisher = false;
  uint32_t pub = 0;   // publisher index
  bool open = false;
  std::string head;   // the handshake response so far
  std::string out;    // unsent bytes
  size_t outAt = 0;
  bool wantWrite = false;
  // The frame parser (server frames are never masked).
  uint8_t header[10];
  size_t headerHave = 0, headerNeed = 2;
  uint64_t remaining = 0, at = 0;
  bool inPayload = false;
  uint8_t first[12];  // publisher index and sequence number of the message being read
  uint8_t opcode = 0;
  std::vector<uint64_t> expect;  // next sequence number from each publisher
};

struct State {
  Options opts;
  int epollFd = -1;
  std::vector<Conn> conns;
  std::vector<uint64_t> sent, done;          // per publisher
  std::vector<std::vector<uint32_t>> ring;   // per publisher: subscribers that got seq % window
  bool sending = false;
  bool measuring = false;
  uint64_t deliveries = 0;     // in the measured window
  uint64_t published = 0;      // in the measured window
  uint32_t opened = 0;
};

void watch(State& s, Conn& c, uint32_t index, bool write) {
  epoll_event event{};
  event.events = write ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  event.data.u32 = index;
  if (epoll_ctl(s.epollFd, EPOLL_CTL_MOD, c.fd, &event) != 0) fail("epoll_ctl: %s", std::strerror(errno));
  c.wantWrite = write;
}

void flush(State& s, Conn& c, uint32_t index) {
  while (c.outAt < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.outAt, c.out.size() - c.outAt, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) fail("send: %s", std::strerror(errno));
    c.outAt += static_cast<size_t>(n);
  }
  if (c.outAt == c.out.size()) {
    c.out.clear();
    c.outAt = 0;
  }
  bool want = !c.out.empty();
  if (want != c.wantWrite) watch(s, c, index, want);
}

void publishNext(State& s, uint32_t pub) {
  Conn& c = s.conns[s.opts.subscribers + pub];
  const size_t size = s.opts.size;
  const uint8_t mask[4] = {0x5a, 0xa5, 0x3c, 0xc3};
  while (s.sending && s.sent[pub] < s.done[pub] + s.opts.window) {
    uint64_t seq = s.sent[pub]++;
    if (s.measuring) ++s.published;
    uint8_t frameHeader[14];
    size_t h = 0;
    frameHeader[h++] = 0x82;
    if (size < 126) {
      frameHeader[h++] = static_cast<uint8_t>(0x80 | size);
    } else if (size <= 0xffff) {
      frameHeader[h++] = 0x80 | 126;
      frameHeader[h++] = static_cast<uint8_t>(size >> 8);
      frameHeader[h++] = static_cast<uint8_t>(size);
    } else {
      fail("--size must be at most 65535");
    }
    std::memcpy(frameHeader + h, mask, 4);
    h += 4;
    c.out.append(reinterpret_cast<char*>(frameHeader), h);
    size_t start = c.out.size();
    c.out.resize(start + size);
    uint8_t* payload = reinterpret_cast<uint8_t*>(&c.out[start]);
    std::memcpy(payload, &pub, 4);
    std::memcpy(payload + 4, &seq, 8);
    for (size_t i = 12; i < size; ++i) payload[i] = patternByte(pub, seq, i);
    for (size_t i = 0; i < size; ++i) payload[i] ^= mask[i & 3];
  }
  flush(s, c, s.opts.subscribers + pub);
}

void delivered(State& s, Conn& c) {
  if (c.opcode != 2) fail("subscriber got opcode %u, not binary", c.opcode);
  uint32_t pub;
  uint64_t seq;
  std::memcpy(&pub, c.first, 4);
  std::memcpy(&seq, c.first + 4, 8);
  if (pub >= s.opts.publishers) fail("message names publisher %u of %u", pub, s.opts.publishers);
  if (seq != c.expect[pub]) {
    fail("subscriber expected message %llu of publisher %u, got %llu (lost, duplicated or reordered)",
         static_cast<unsigned long long>(c.expect[pub]), pub, static_cast<unsigned long long>(seq));
  }
  ++c.expect[pub];
  if (s.measuring) ++s.deliveries;
  std::vector<uint32_t>& ring = s.ring[pub];
  if (++ring[seq % s.opts.window] == s.opts.subscribers && seq == s.done[pub]) {
    while (ring[s.done[pub] % s.opts.window] == s.opts.subscribers) ring[s.done[pub]++ % s.opts.window] = 0;
    publishNext(s, pub);
  }
}

void parse(State& s, Conn& c, const uint8_t* data, size_t len) {
  while (len) {
    if (!c.inPayload) {
      size_t take = std::min(len, c.headerNeed - c.headerHave);
      std::memcpy(c.header + c.headerHave, data, take);
      c.headerHave += take;
      data += take;
      len -= take;
      if (c.headerHave < c.headerNeed) return;
      if (c.headerNeed == 2) {
        if (c.header[1] & 0x80) fail("server frame is masked");
        uint8_t l = c.header[1] & 0x7f;
        c.headerNeed = l == 126 ? 4 : l == 127 ? 10 : 2;
        if (c.headerNeed > 2) continue;
      }
      uint64_t length = c.header[1] & 0x7f;
      if (length == 126) length = (c.header[2] << 8) | c.header[3];
      if (length == 127) {
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | c.header[i];
      }
      if (!(c.header[0] & 0x80)) fail("fragmented message");
      c.opcode = c.header[0] & 0x0f;
      if (c.opcode >= 8) fail("unexpected control frame (opcode %u)", c.opcode);
      if (length != s.opts.size) fail("message of %llu bytes, expected %zu", static_cast<unsigned long long>(length), s.opts.size);
      c.remaining = length;
      c.at = 0;
      c.inPayload = true;
      c.headerHave = 0;
      c.headerNeed = 2;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(len, c.remaining));
    for (size_t i = 0; i < take; ++i, ++c.at) {
      if (c.at < 12) {
        c.first[c.at] = data[i];
      } else {
        uint32_t pub;
        uint64_t seq;
        std::memcpy(&pub, c.first, 4);
        std::memcpy(&seq, c.first + 4, 8);
        if (data[i] != patternByte(pub, seq, c.at)) fail("corrupt byte %llu of a message", static_cast<unsigned long long>(c.at));
      }
    }
    data += take;
    len -= take;
    c.remaining -= take;
    if (c.remaining == 0) {
      c.inPayload = false;
      delivered(s, c);
    }
  }
}

void onReadable(State& s, Conn& c) {
  uint8_t buffer[256 * 1024];
  for (int reads = 0; reads < 4; ++reads) {
    ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) fail("the server closed a connection (%s)", n == 0 ? "EOF" : std::strerror(errno));
    const uint8_t* data = buffer;
    size_t len = static_cast<size_t>(n);
    if (!c.open) {
      c.head.append(reinterpret_cast<const char*>(data), len);
      size_t end = c.head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      if (c.head.rfind("HTTP/1.1 101", 0) != 0 || c.head.find(ACCEPT) == std::string::npos) {
        fail("bad handshake response: %s", c.head.substr(0, 80).c_str());
      }
      c.open = true;
      ++s.opened;
      data += end + 4 - (c.head.size() - len);
      len = c.head.size() - end - 4;
      c.head.clear();
    }
    if (len && c.publisher) fail("a publisher received data");
    if (len) parse(s, c, data, len);
    if (static_cast<size_t>(n) < sizeof buffer) return;
  }
}

void connectAll(State& s, uint32_t from, uint32_t to, const sockaddr_in& addr) {
  for (uint32_t i = from; i < to; ++i) {
    Conn& c = s.conns[i];
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0) fail("socket: %s", std::strerror(errno));
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fail("connect: %s", std::strerror(errno));
    std::string request = std::string("GET ") + (c.publisher ? "/pub" : "/sub") + " HTTP/1.1\r\nHost: " + s.opts.host +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + KEY +
                          "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) fail("send");
    if (fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK) != 0) fail("fcntl: %s", std::strerror(errno));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u32 = i;
    if (epoll_ctl(s.epollFd, EPOLL_CTL_ADD, c.fd, &event) != 0) fail("epoll_ctl: %s", std::strerror(errno));
  }
}

void loop(State& s, uint64_t untilNs, bool (*stop)(const State&)) {
  epoll_event events[512];
  while (nowNs() < untilNs && !(stop && stop(s))) {
    int n = epoll_wait(s.epollFd, events, 512, 10);
    for (int i = 0; i < n; ++i) {
      Conn& c = s.conns[events[i].data.u32];
      if (events[i].events & EPOLLOUT) flush(s, c, events[i].data.u32);
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(s, c);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  State s;
  Options& o = s.opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) fail("%s needs a value", a.c_str());
      return argv[++i];
    };
    if (a == "--host") o.host = next();
    else if (a == "--port") o.port = std::atoi(next());
    else if (a == "--publishers") o.publishers = static_cast<uint32_t>(std::atoi(next()));
    else if (a == "--subscribers") o.subscribers = static_cast<uint32_t>(std::atoi(next()));
    else if (a == "--size") o.size = static_cast<size_t>(std::atol(next()));
    else if (a == "--window") o.window = static_cast<uint32_t>(std::atoi(next()));
    else if (a == "--warmup") o.warmup = std::atof(next());
    else if (a == "--duration") o.duration = std::atof(next());
    else if (a == "--server-pid") o.serverPid = std::atoi(next());
    else if (a == "--json") o.json = true;
    else fail("unknown option %s (see the header of native/bench/fanout.cc)", a.c_str());
  }
  if (o.port <= 0 || o.publishers == 0 || o.subscribers == 0 || o.window == 0 || o.size < 12) fail("bad options");
  rlimit files;  // one fd per connection: raise the soft limit to the hard one
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) fail("--host must be an IPv4 address");
  s.epollFd = epoll_create1(0);
  s.conns.resize(o.subscribers + o.publishers);
  for (uint32_t p = 0; p < o.publishers; ++p) {
    s.conns[o.subscribers + p].publisher = true;
    s.conns[o.subscribers + p].pub = p;
  }
  for (Conn& c : s.conns) c.expect.assign(o.publishers, 0);
  s.sent.assign(o.publishers, 0);
  s.done.assign(o.publishers, 0);
  s.ring.assign(o.publishers, std::vector<uint32_t>(o.window, 0));

  // Subscribers first (in batches, so the listen backlog holds), then the publishers.
  uint32_t total = o.subscribers + o.publishers;
  for (uint32_t from = 0; from < total; from += 200) {
    uint32_t to = std::min(total, from + 200);
    connectAll(s, from, to, addr);
    uint64_t deadline = nowNs() + 15000000000ull;
    while (s.opened < to) {
      if (nowNs() > deadline) fail("%u of %u handshakes done after 15 s", s.opened, to);
      loop(s, nowNs() + 20000000ull, nullptr);
    }
  }
  loop(s, nowNs() + 200000000ull, nullptr);  // let the server finish its subscriptions
  std::fprintf(stderr, "loadgen: ready: %u subscribers, %u publishers\n", o.subscribers, o.publishers);

  s.sending = true;
  for (uint32_t p = 0; p < o.publishers; ++p) publishNext(s, p);
  loop(s, nowNs() + static_cast<uint64_t>(o.warmup * 1e9), nullptr);
  s.measuring = true;
  double cpu0 = processCpu(), server0 = serverCpu(o.serverPid);
  uint64_t t0 = nowNs();
  loop(s, t0 + static_cast<uint64_t>(o.duration * 1e9), nullptr);
  uint64_t t1 = nowNs();
  double cpu1 = processCpu(), server1 = serverCpu(o.serverPid);
  s.measuring = false;
  s.sending = false;
  // Everything sent must arrive everywhere (a slow server may take a while for what is in flight).
  loop(s, nowNs() + 90000000000ull, [](const State& st) {
    for (size_t p = 0; p < st.sent.size(); ++p) {
      if (st.done[p] != st.sent[p]) return false;
    }
    return true;
  });
  for (uint32_t i = 0; i < o.subscribers; ++i) {
    for (uint32_t p = 0; p < o.publishers; ++p) {
      if (s.conns[i].expect[p] != s.sent[p]) {
        fail("subscriber %u received %llu of the %llu messages of publisher %u", i,
             static_cast<unsigned long long>(s.conns[i].expect[p]), static_cast<unsigned long long>(s.sent[p]), p);
      }
    }
  }
  double seconds = (t1 - t0) / 1e9;
  double perSec = s.deliveries / seconds;
  double loadgenCpu = (cpu1 - cpu0) / seconds;
  double serverCpuShare = (server1 - server0) / seconds;
  double usPerDelivery = s.deliveries ? (server1 - server0) * 1e6 / static_cast<double>(s.deliveries) : 0;
  if (o.json) {
    std::printf("{\"mode\":\"fanout\",\"publishers\":%u,\"subscribers\":%u,\"size\":%zu,\"window\":%u,\"seconds\":%.3f,"
                "\"published\":%llu,\"deliveries\":%llu,\"deliveriesPerSec\":%.1f,\"serverCpu\":%.3f,"
                "\"serverCpuUsPerDelivery\":%.4f,\"loadgenCpu\":%.3f,\"loadgenSaturated\":%s}\n",
                o.publishers, o.subscribers, o.size, o.window, seconds, static_cast<unsigned long long>(s.published),
                static_cast<unsigned long long>(s.deliveries), perSec, serverCpuShare, usPerDelivery, loadgenCpu,
                loadgenCpu >= 0.95 ? "true" : "false");
  } else {
    std::printf("%u publisher(s) x %u subscribers, %zu B: %.0f deliveries/s, server %.3f us/delivery (%.0f%% CPU), "
                "loadgen %.0f%% CPU; every message verified everywhere\n",
                o.publishers, o.subscribers, o.size, perSec, usPerDelivery, serverCpuShare * 100, loadgenCpu * 100);
  }
  return 0;
}
