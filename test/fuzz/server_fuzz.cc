// The whole server under fuzzing (the uWS EpollEchoServer idea): one Server whose connections
// are in-memory streams (StreamTransport), driven as the binding drives it (runTurn, takeBatch,
// the user's calls, endTurn) on a ManualClock. The input is a program, read front to back:
//
//   header: 4 option bytes (backpressure limits and policy, maxPayload, path, timeouts, pings)
//   then ops: attach a stream (valid, mutated or random upgrade request; a send window), append a
//   client frame (wire.h's encoder) or raw bytes to a stream's script, feed a random split of the
//   script, end the stream, make a user call (accept, reject, send, close, terminate), move the
//   clock, take output, drain everything, flush outside a turn.
//
// An echo application answers each MESSAGE with the same message and accepts upgrades when the
// header says so. Checked, besides ASan/UBSan: every connection the user saw gets exactly one
// CLOSE (none once rejected) and no event after it; no event for an id never attached; the sum of
// bufferedAmount is the server's total and send() reports it; a drained server keeps nothing
// queued; the output is an HTTP response, and after a 101 (only once accepted) a valid server
// frame stream carrying the user's data frames in order and nothing after a close frame.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "../native/wire.h"
#include "server.h"
#include "stream_transport.h"

using namespace epollws;

namespace {

#define REQUIRE(cond)                                                         \
  do {                                                                        \
    if (!(cond)) {                                                            \
      std::fprintf(stderr, "server_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                           \
    }                                                                         \
  } while (0)

// Reads the program front to back; past the end everything reads as 0.
struct Input {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  bool done() const { return at >= size; }
  uint8_t byte() { return at < size ? data[at++] : 0; }
  uint32_t u16() { return static_cast<uint32_t>(byte()) << 8 | byte(); }
  std::string bytes(size_t n) {
    n = std::min(n, size - std::min(at, size));
    std::string out(reinterpret_cast<const char*>(data) + at, n);
    at += n;
    return out;
  }
};

// One client as the fuzzer plays it, and what it saw of the server.
struct Peer {
  ConnectionId id;
  std::string script;  // what the client sends, fed in pieces
  size_t fed = 0;
  std::string output;  // taken from the server
  size_t parsedAt = 0;
  bool headDone = false;
  bool websocket = false;  // the head was a 101
  bool closeFrameSeen = false;
  bool inFragment = false;
  bool upgraded = false;  // UPGRADE seen: the user knows it
  bool accepted = false;
  bool rejected = false;
  int closeEvents = 0;
  uint8_t reported = 0;  // delivery flags seen (takeDeliveries): each at most once
  std::deque<std::pair<uint8_t, std::string>> expected;  // data frames the user queued
};

uint64_t key(ConnectionId id) { return static_cast<uint64_t>(id.slot) << 32 | id.generation; }

class Harness {
 public:
  explicit Harness(ServerOptions options, bool echo) : server_(withClock(std::move(options))), echo_(echo) {
    REQUIRE(server_.init() == 0);
  }

  void run(Input& in) {
    for (int steps = 0; !in.done() && steps < 4000; ++steps) {
      step(in);
      turn();
    }
    server_.dropConnections(false);
    turn();
    turn();
    for (Peer& p : peers_) {
      REQUIRE(p.closeEvents == ((p.upgraded && !p.rejected) ? 1 : 0));
      ByteBuffer out;
      REQUIRE(server_.takeOutput(p.id, out).status == static_cast<int>(CallStatus::CLOSED));
    }
    REQUIRE(server_.connectionCount() == 0);
    REQUIRE(server_.totalBuffered() == 0);
  }

 private:
  ServerOptions withClock(ServerOptions options) {
    options.clock = &clock_;
    return options;
  }
  Peer* pick(Input& in) { return peers_.empty() ? nullptr : &peers_[in.byte() % peers_.size()]; }

  void step(Input& in) {
    switch (in.byte() % 10) {
      case 0: attach(in); break;
      case 1: if (Peer* p = pick(in)) appendFrame(in, *p); break;
      case 2: if (Peer* p = pick(in)) p->script += in.bytes(in.byte()); break;
      case 3: if (Peer* p = pick(in)) feed(*p, in.u16() % 2048 + 1); break;
      case 4:
        if (Peer* p = pick(in)) {
          uint8_t how = in.byte();
          if (how < 200) server_.streamEnded(p->id, how & 1);  // a FIN, or a reset
          else server_.pauseStreamOutput(p->id, how & 1);      // the driver's socket stops / starts draining
        }
        break;
      case 5: if (Peer* p = pick(in)) userCall(in, *p); break;
      case 6: clock_.advance(in.u16() * 4u); break;
      case 7: if (Peer* p = pick(in)) take(*p); break;
      case 8: drain(); break;
      default:
        server_.flush();  // calls made outside a turn, as a timer callback would
        if (in.byte() & 1) {
          takeDeliveries();  // as the binding does: only the streams that have something
        } else {
          for (Peer& p : peers_) take(p);
        }
        break;
    }
  }

  void attach(Input& in) {
    if (peers_.size() >= 12) return;
    uint8_t kind = in.byte() % 3;
    size_t window = 256 + in.u16();
    std::string request = wire::UPGRADE_REQUEST;
    if (kind == 1) {
      uint32_t pos = in.u16() % request.size();
      request[pos] = static_cast<char>(in.byte());
    } else if (kind == 2) {
      request = in.bytes(in.byte());
    }
    Peer p;
    p.id = server_.attachStream({"192.0.2.9", 443, 4}, window);
    p.script = request;
    REQUIRE(index_.find(key(p.id)) == index_.end());
    index_[key(p.id)] = peers_.size();
    attachedSinceBatch_ = true;
    peers_.push_back(std::move(p));
  }

  static std::string payloadOf(Input& in, size_t length) {
    uint8_t fill = in.byte();
    if (fill >= 0x80) return in.bytes(length);   // the input's bytes (often invalid UTF-8)
    std::string out(length, 'a');
    for (size_t i = 0; i < length; ++i) out[i] = static_cast<char>('a' + (i + fill) % 26);
    return out;
  }

  void appendFrame(Input& in, Peer& p) {
    static const uint8_t FIRST_BYTES[] = {0x81, 0x82, 0x01, 0x80, 0x00, 0x89, 0x8a, 0x88, 0x02, 0xc1};
    uint8_t choice = in.byte();
    uint8_t b0 = choice < 200 ? FIRST_BYTES[choice % sizeof FIRST_BYTES] : in.byte();
    size_t length = in.u16() % 400;
    if (choice % 16 == 15) length = 70000;  // past the 64 KiB paths (direct reads, external messages)
    uint8_t mask[4] = {in.byte(), in.byte(), in.byte(), in.byte()};
    p.script += wire::toString(wire::clientFrame(b0, payloadOf(in, length), 0, mask));
  }

  void feed(Peer& p, size_t n) {
    n = std::min(n, p.script.size() - p.fed);
    server_.feed(p.id, reinterpret_cast<const uint8_t*>(p.script.data()) + p.fed, n);
    p.fed += n;
  }

  void send(Peer& p, Opcode opcode, const std::string& payload) {
    SendResult r = server_.send(p.id, opcode, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    if (r.status != static_cast<int>(CallStatus::OK)) return;
    REQUIRE(static_cast<int64_t>(r.buffered) == server_.bufferedAmount(p.id));
    if (opcode == Opcode::TEXT || opcode == Opcode::BINARY) {
      p.expected.emplace_back(static_cast<uint8_t>(opcode), payload);
    }
  }

  void accept(Peer& p, std::string_view protocol, std::string_view extra) {
    if (server_.acceptUpgrade(p.id, protocol, "", extra) >= 0) p.accepted = true;
  }

  void userCall(Input& in, Peer& p) {
    static const uint16_t CODES[] = {1000, 1001, 1005, 1006, 1011, 3000, 4999, 0};
    switch (in.byte() % 6) {
      case 0: accept(p, "", ""); break;
      case 1: accept(p, "chat", in.byte() & 1 ? "X-Fuzz: 1\r\n" : "broken"); break;
      case 2:
        if (server_.rejectUpgrade(p.id, 400 + in.byte() % 200, "", "no") == 0) p.rejected = true;
        break;
      case 3: {
        uint8_t which = in.byte();
        Opcode opcode = which % 3 == 0 ? Opcode::TEXT : which % 3 == 1 ? Opcode::BINARY : Opcode::PING;
        size_t length = in.u16() % (opcode == Opcode::PING ? 126 : 40000);
        send(p, opcode, std::string(length, 'e'));
        break;
      }
      case 4: server_.close(p.id, CODES[in.byte() % 8], in.bytes(in.byte() % 140)); break;
      default: server_.terminate(p.id); break;
    }
  }

  size_t take(Peer& p) {
    ByteBuffer out;
    Server::StreamOutput s = server_.takeOutput(p.id, out);
    p.output.append(reinterpret_cast<const char*>(out.data()), out.size());
    checkOutput(p);
    return s.bytes;
  }

  void takeDeliveries() {
    deliveries_.clear();
    server_.takeDeliveries(deliveries_);
    for (Server::StreamDelivery& d : deliveries_) {
      auto found = index_.find(key(d.id));
      REQUIRE(found != index_.end());
      Peer& p = peers_[found->second];
      constexpr uint8_t ONCE = StreamTransport::DELIVERY_WRITE_SHUT | StreamTransport::DELIVERY_CLOSED;
      REQUIRE((p.reported & d.flags & ONCE) == 0);
      REQUIRE(!(p.reported & StreamTransport::DELIVERY_CLOSED) || d.bytes.empty());  // nothing after the close
      p.reported |= d.flags;
      REQUIRE(d.flags != 0 || !d.bytes.empty());
      p.output.append(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
      checkOutput(p);
    }
  }

  // Takes output and runs turns until nothing moves; then nothing may stay queued.
  void drain() {
    for (int i = 0; i < 5000; ++i) {
      size_t moved = 0;
      for (Peer& p : peers_) moved += take(p);
      turn();
      if (moved == 0) break;
    }
    for (Peer& p : peers_) {
      int64_t buffered = server_.bufferedAmount(p.id);
      REQUIRE(buffered <= 0);
    }
  }

  void turn() {
    server_.runTurn(0);
    server_.takeBatch(batch_);
    stoppedMayBeStale_ = attachedSinceBatch_;
    attachedSinceBatch_ = false;
    for (const EventRecord& r : batch_.records) onEvent(r);
    server_.endTurn();
    int64_t sum = 0;
    for (Peer& p : peers_) sum += std::max<int64_t>(0, server_.bufferedAmount(p.id));
    REQUIRE(static_cast<size_t>(sum) == server_.totalBuffered());
  }

  void onEvent(const EventRecord& r) {
    EventKind kind = static_cast<EventKind>(r.kind);
    if (trace_) std::fprintf(stderr, "event %u slot %u length %u arg %u\n", r.kind, r.slot, r.length, r.arg);
    if (kind == EventKind::STOPPED) {
      // True when it was queued; a stream attached since may have made it stale.
      REQUIRE(stoppedMayBeStale_ || server_.connectionCount() == 0);
      return;
    }
    REQUIRE(kind != EventKind::ACCEPT_ERROR);  // no listener
    auto found = index_.find(static_cast<uint64_t>(r.slot) << 32 | r.generation);
    REQUIRE(found != index_.end());
    Peer& p = peers_[found->second];
    REQUIRE(p.closeEvents == 0);
    switch (kind) {
      case EventKind::UPGRADE:
        REQUIRE(!p.upgraded);
        p.upgraded = true;
        if (echo_) accept(p, "", "");
        break;
      case EventKind::CLIENT_ERROR:
        REQUIRE(!p.upgraded);
        break;
      case EventKind::CLOSE:
        REQUIRE(p.upgraded && !p.rejected);
        ++p.closeEvents;
        break;
      case EventKind::MESSAGE: {
        REQUIRE(p.accepted);
        if (!echo_) break;
        const uint8_t* bytes = r.arg & MESSAGE_EXTERNAL ? batch_.externals[r.offset].data() : batch_.data.data() + r.offset;
        send(p, r.arg & MESSAGE_BINARY ? Opcode::BINARY : Opcode::TEXT,
             std::string(reinterpret_cast<const char*>(bytes), r.length));
        break;
      }
      default:  // PING, PONG, DRAIN, ERROR: only on a connection that opened
        REQUIRE(p.accepted);
        break;
    }
  }

  void checkOutput(Peer& p) {
    if (!p.headDone) {
      size_t end = p.output.find("\r\n\r\n");
      if (end == std::string::npos) {
        REQUIRE(p.output.size() < 64 * 1024);
        return;
      }
      REQUIRE(p.output.rfind("HTTP/1.1 ", 0) == 0);
      p.headDone = true;
      p.websocket = p.output.compare(9, 4, "101 ") == 0;
      REQUIRE(!p.websocket || p.accepted);
      p.parsedAt = end + 4;
    }
    if (!p.websocket) return;  // an error response: its body, then FIN
    wire::ServerFrame frame;
    for (;;) {
      size_t at = p.parsedAt;
      wire::Decoded d = wire::decodeServerFrame(p.output, at, frame);
      if (d == wire::Decoded::NEED_MORE) return;
      REQUIRE(d == wire::Decoded::FRAME);
      REQUIRE(!p.closeFrameSeen);  // nothing follows a close frame
      p.parsedAt = at;
      if (frame.opcode == 0x8) {
        REQUIRE(frame.payload.size() != 1);
        p.closeFrameSeen = true;
      } else if (frame.opcode < 0x8) {
        REQUIRE((frame.opcode == 0) == p.inFragment);
        p.inFragment = !frame.fin;
        REQUIRE(!p.expected.empty());
        REQUIRE(p.expected.front().first == frame.opcode);
        REQUIRE(p.expected.front().second == frame.payload);
        p.expected.pop_front();
      }
    }
  }

  ManualClock clock_;
  Server server_;
  bool echo_;
  bool trace_ = std::getenv("SERVER_FUZZ_TRACE") != nullptr;  // lists the events, to check a seed
  bool attachedSinceBatch_ = false;  // since the last takeBatch
  bool stoppedMayBeStale_ = false;   // a stream was attached before the batch being handled
  EventBatch batch_;
  std::vector<Server::StreamDelivery> deliveries_;
  std::vector<Peer> peers_;
  std::unordered_map<uint64_t, size_t> index_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  uint8_t a = in.byte(), b = in.byte(), c = in.byte(), d = in.byte();
  ServerOptions options;
  static const uint64_t BACKPRESSURE[] = {0, 4096, 65536, 1 << 20};
  static const uint64_t TOTAL[] = {0, 16384, 200000, 1 << 20};
  static const uint64_t PAYLOAD[] = {125, 70000, 1 << 20, 100};
  options.maxBackpressure = BACKPRESSURE[a & 3];
  options.maxTotalBackpressure = TOTAL[(a >> 2) & 3];
  options.dropOnBackpressure = (a >> 4) & 1;
  options.maxPayload = PAYLOAD[(a >> 5) & 3];
  options.path = b & 1 ? "/chat" : "";
  options.maxConnections = b & 2 ? 3 : 0;
  options.proxyProtocol = (b & 0x1c) == 0x1c;
  options.sendPings = b & 0x20;
  options.maxFragments = b & 0x40 ? 4 : 100000;
  options.handshakeTimeoutMs = 1000 + c * 40u;
  options.closeTimeoutMs = 500 + (c & 0x0f) * 200u;
  options.idleTimeoutMs = d & 1 ? 0 : 2000 + (d >> 1) * 100u;
  Harness harness(std::move(options), (b & 0x80) == 0);
  harness.run(in);
  return 0;
}
