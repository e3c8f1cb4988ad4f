// The per-turn inflate budget (PerMessageDeflate::INFLATE_BUDGET): a 100 MiB message inflated on
// one connection resumes turn after turn instead of stalling the reactor, while another
// connection's messages are delivered in the very turn they arrive; the paused connection's later
// frames keep their order. Counted in turns (the driver protocol), not timed. Streams carry the
// bytes, so every turn is deterministic; permessage-deflate is negotiated by the real handshake.
#include <zlib.h>

#include <string>

#include "check.h"
#include "server_driver.h"

using namespace driver;

namespace {

std::string compress(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);  // the 00 00 ff ff tail
  deflateEnd(&z);
  return out;
}

struct Rig {
  Server server;
  explicit Rig(ServerOptions options) : server(options) { CHECK_EQ(server.init(), 0); }
  void feed(ConnectionId id, const std::string& bytes) {
    CHECK_EQ(server.feed(id, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
  }
  ConnectionId open() {
    ConnectionId id = server.attachStream({"192.0.2.1", 5000, 4}, 1 << 20);
    std::string request = wire::UPGRADE_REQUEST;
    request.insert(request.size() - 2, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    feed(id, request);
    std::vector<Event> events = turn(server, 0);
    CHECK_EQ(events.size(), size_t{1});
    CHECK_EQ(server.acceptUpgrade(id, "", "", ""), static_cast<int>(CallStatus::ACCEPTED_DEFLATE));
    turn(server, 0);
    ByteBuffer out;
    server.takeOutput(id, out);
    std::string response(reinterpret_cast<const char*>(out.data()), out.size());
    CHECK(response.find("Sec-WebSocket-Extensions: permessage-deflate\r\n") != std::string::npos);
    return id;
  }
};

bool same(ConnectionId a, ConnectionId b) { return a.slot == b.slot && a.generation == b.generation; }

void hugeInflateDoesNotStallOthers() {
  ServerOptions options;
  options.deflate.enabled = true;
  options.maxPayload = 100 * 1024 * 1024;
  Rig rig(options);
  ConnectionId big = rig.open();
  ConnectionId other = rig.open();

  const size_t size = 100 * 1024 * 1024;
  std::string bomb = compress(std::string(size, 'z'));
  CHECK(bomb.size() < 200 * 1024);
  rig.feed(big, maskedFrame(0xC2, bomb) + maskedFrame(0x81, "after"));

  int turns = 0;
  int bigAt = -1, afterAt = -1;
  bool otherOnTime = true;
  for (; turns < 1000 && afterAt < 0; ++turns) {
    std::string ping = "other " + std::to_string(turns);
    rig.feed(other, maskedFrame(0x81, ping));
    bool otherSeen = false;
    for (const Event& e : turn(rig.server, 0)) {
      if (e.kind != EventKind::MESSAGE) continue;
      if (same(e.id, other)) {
        otherSeen = otherSeen || e.payload == ping;
      } else if (same(e.id, big) && e.payload == "after") {
        afterAt = turns;
      } else if (same(e.id, big)) {
        CHECK_EQ(e.payload.size(), size);
        CHECK(e.payload.find_first_not_of('z') == std::string::npos);
        bigAt = turns;
      }
    }
    // The other connection's message is delivered in the turn it arrived, every turn.
    if (!otherSeen) otherOnTime = false;
  }
  CHECK(otherOnTime);
  // 100 MiB at 1 MiB per turn: it took many turns, and the frame behind it came after it.
  CHECK(bigAt >= static_cast<int>(size / PerMessageDeflate::INFLATE_BUDGET) - 1);
  CHECK(afterAt >= bigAt && bigAt >= 0);
  std::printf("inflate_budget_test: 100 MiB inflated over %d turns; the other connection answered every turn\n",
              bigAt + 1);
}

// A paused inflate in the middle of a fragmented message, with frames behind it in the same read:
// everything comes out whole and in order over the turns.
void pausedFragmentsKeepTheirOrder() {
  ServerOptions options;
  options.deflate.enabled = true;
  Rig rig(options);
  ConnectionId id = rig.open();
  std::string text;
  for (int i = 0; text.size() < 3 * 1024 * 1024; ++i) text += "{\"n\":" + std::to_string(i * 7919 % 100003) + "},";
  // One compressor for the whole message: fragments are pieces of one deflate stream.
  std::string compressed = compress(text);
  size_t third = compressed.size() / 3;
  rig.feed(id, maskedFrame(0x41, compressed.substr(0, third)) + maskedFrame(0x89, "mid") +
                   maskedFrame(0x00, compressed.substr(third, third)) + maskedFrame(0x80, compressed.substr(2 * third)) +
                   maskedFrame(0x81, "next"));
  std::vector<std::string> seen;
  for (int turns = 0; turns < 100 && (seen.empty() || seen.back() != "next"); ++turns) {
    for (const Event& e : turn(rig.server, 0)) {
      if (e.kind == EventKind::MESSAGE) seen.push_back(e.payload == text ? "text" : e.payload);
      if (e.kind == EventKind::PING) seen.push_back("ping");
    }
  }
  CHECK_EQ(seen.size(), size_t{3});
  if (seen.size() == 3) {
    CHECK_EQ(seen[0], std::string("ping"));  // the ping came before the rest of the message
    CHECK_EQ(seen[1], std::string("text"));
    CHECK_EQ(seen[2], std::string("next"));
  }
}

}  // namespace

int main() {
  hugeInflateDoesNotStallOthers();
  pausedFragmentsKeepTheirOrder();
  return CHECK_SUMMARY("inflate_budget_test");
}
