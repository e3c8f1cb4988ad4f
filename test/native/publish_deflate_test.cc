// Server::publish under permessage-deflate, over stream connections (the test takes the bytes and
// inflates them as a client would): subscribers without server context takeover share one
// compressed frame per window size (the deflate runs once, however many they are), subscribers
// with it are compressed by their own stream (their client's window stays in step with sends and
// publishes in any order), the threshold and compress=false leave a publish plain, subscribers
// without the extension get the plain frame, and a fragmented send in progress still refuses.
#include <zlib.h>

#include <string>
#include <vector>

#include "check.h"
#include "server_driver.h"

using namespace driver;

namespace {

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

struct Frame {
  bool rsv1 = false;
  uint8_t opcode = 0;
  std::string payload;  // as on the wire (compressed when rsv1)
  std::string message;  // inflated when rsv1
};

// A client of one connection: its wire bytes after the 101, and its inflater (context takeover:
// one stream for every compressed message, as a client keeps it).
struct Client {
  ConnectionId id;
  z_stream z{};
  std::string wire;
  explicit Client(ConnectionId id_) : id(id_) { CHECK_EQ(inflateInit2(&z, -15), Z_OK); }
  ~Client() { inflateEnd(&z); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  std::string inflateMessage(std::string payload) {
    payload.append("\x00\x00\xff\xff", 4);
    z.next_in = reinterpret_cast<Bytef*>(&payload[0]);
    z.avail_in = static_cast<uInt>(payload.size());
    std::string out;
    char chunk[16384];
    do {
      z.next_out = reinterpret_cast<Bytef*>(chunk);
      z.avail_out = sizeof(chunk);
      int ret = inflate(&z, Z_SYNC_FLUSH);
      CHECK(ret == Z_OK || ret == Z_BUF_ERROR);
      out.append(chunk, sizeof(chunk) - z.avail_out);
    } while (z.avail_in != 0 || z.avail_out == 0);
    return out;
  }
  // Every complete frame in the bytes taken so far.
  std::vector<Frame> frames() {
    std::vector<Frame> result;
    size_t at = 0;
    while (wire.size() - at >= 2) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(wire.data()) + at;
      CHECK(p[0] & 0x80);            // publishes and these sends are whole messages
      CHECK_EQ(p[1] & 0x80, 0);      // server frames are unmasked
      uint64_t length = p[1] & 0x7f;
      size_t header = 2;
      if (length == 126) {
        length = (uint64_t{p[2]} << 8) | p[3];
        header = 4;
      } else if (length == 127) {
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
        header = 10;
      }
      CHECK(wire.size() - at >= header + length);
      Frame f;
      f.rsv1 = (p[0] & 0x40) != 0;
      f.opcode = p[0] & 0x0f;
      f.payload = wire.substr(at + header, length);
      f.message = f.rsv1 ? inflateMessage(f.payload) : f.payload;
      result.push_back(std::move(f));
      at += header + length;
    }
    CHECK_EQ(at, wire.size());
    wire.clear();
    return result;
  }
};

struct Fixture {
  Server server;
  std::vector<std::unique_ptr<Client>> clients;
  explicit Fixture(ServerOptions options) : server(std::move(options)) { CHECK_EQ(server.init(), 0); }
  std::string take(ConnectionId id) {
    ByteBuffer out;
    server.takeOutput(id, out);
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
  }
  // `offer`: the Sec-WebSocket-Extensions value ("" offers nothing); `agreed` must be in the answer.
  Client& open(const std::string& offer, const std::string& agreed) {
    ConnectionId id = server.attachStream({"192.0.2.1", 5000, 4}, 1 << 24);
    std::string request = wire::UPGRADE_REQUEST;
    if (!offer.empty()) request.insert(request.size() - 2, "Sec-WebSocket-Extensions: " + offer + "\r\n");
    CHECK_EQ(server.feed(id, bytes(request), request.size()), 0);
    std::vector<Event> events = turn(server, 0);
    CHECK(events.size() == 1 && events[0].kind == EventKind::UPGRADE);
    int accepted = server.acceptUpgrade(id, "", "", "");
    CHECK_EQ(accepted, static_cast<int>(offer.empty() ? CallStatus::OK : CallStatus::ACCEPTED_DEFLATE));
    turn(server, 0);
    std::string response = take(id);
    CHECK(response.rfind("HTTP/1.1 101", 0) == 0);
    if (!agreed.empty()) CHECK(response.find("Sec-WebSocket-Extensions: " + agreed + "\r\n") != std::string::npos);
    clients.push_back(std::make_unique<Client>(id));
    return *clients.back();
  }
  std::vector<Frame> frames(Client& c) {
    server.flush();
    c.wire += take(c.id);
    return c.frames();
  }
  Server::PublishResult publish(const std::string& topic, const std::string& text, bool compress = true) {
    return server.publish(topic, Opcode::TEXT, bytes(text), text.size(), nullptr, compress);
  }
};

ServerOptions deflateOptions(size_t threshold, bool serverNoContextTakeover = false) {
  ServerOptions options;
  options.deflate.enabled = true;
  options.deflate.threshold = threshold;
  options.deflate.serverNoContextTakeover = serverNoContextTakeover;
  return options;
}

std::string chatMessage(size_t size) {
  std::string out;
  for (int i = 0; out.size() < size; ++i) out += "{\"user\":\"alice\",\"room\":\"lobby\",\"seq\":" + std::to_string(i) + "}";
  out.resize(size);
  return out;
}

void noContextTakeoverDeflatesOncePerWindowSize() {
  Fixture f(deflateOptions(0));
  const size_t N = 12;
  std::vector<Client*> wide, narrow;
  for (size_t i = 0; i < N; ++i) {
    wide.push_back(&f.open("permessage-deflate; server_no_context_takeover",
                           "permessage-deflate; server_no_context_takeover"));
  }
  for (size_t i = 0; i < 3; ++i) {
    narrow.push_back(&f.open("permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                             "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"));
  }
  Client& plain = f.open("", "");
  for (auto& c : f.clients) f.server.subscribe(c->id, "chat");
  std::string small = chatMessage(300), large = chatMessage(20000);  // copied / shared by reference
  CHECK_EQ(f.publish("chat", small).queued, N + 4);
  CHECK_EQ(f.server.publishStats().deflates, uint64_t{2});  // window 15 and window 10: once each
  CHECK_EQ(f.publish("chat", large).queued, N + 4);
  CHECK_EQ(f.server.publishStats().deflates, uint64_t{4});
  std::string wideWire[2];
  for (Client* c : wide) {
    std::vector<Frame> got = f.frames(*c);
    CHECK_EQ(got.size(), size_t{2});
    for (size_t m = 0; m < got.size(); ++m) {
      CHECK(got[m].rsv1 && got[m].opcode == 1);
      CHECK(got[m].message == (m == 0 ? small : large));
      CHECK(got[m].payload.size() < got[m].message.size() / 2);
      if (c == wide[0]) wideWire[m] = got[m].payload;
      CHECK(got[m].payload == wideWire[m]);  // the same bytes for all: the one shared frame
    }
  }
  for (Client* c : narrow) {
    std::vector<Frame> got = f.frames(*c);
    CHECK(got.size() == 2 && got[0].rsv1 && got[1].rsv1);
    CHECK(got[0].message == small && got[1].message == large);
  }
  std::vector<Frame> got = f.frames(plain);  // no extension: the plain frame
  CHECK(got.size() == 2 && !got[0].rsv1 && !got[1].rsv1);
  CHECK(got[0].payload == small && got[1].payload == large);
}

// The server option asks every client for server_no_context_takeover: then every publish is
// deflated once, whatever the clients offered.
void serverOptionMakesEveryoneShare() {
  Fixture f(deflateOptions(0, true));
  for (int i = 0; i < 5; ++i) f.open("permessage-deflate; client_max_window_bits", "");
  for (auto& c : f.clients) f.server.subscribe(c->id, "t");
  std::string message = chatMessage(1500);
  for (int i = 0; i < 3; ++i) CHECK_EQ(f.publish("t", message).queued, size_t{5});
  CHECK_EQ(f.server.publishStats().deflates, uint64_t{3});
  for (auto& c : f.clients) {
    std::vector<Frame> got = f.frames(*c);
    CHECK_EQ(got.size(), size_t{3});
    for (const Frame& frame : got) CHECK(frame.rsv1 && frame.message == message);
  }
}

// Context takeover: each subscriber's stream compresses the publish, in order with its own
// compressed sends, so its client (one inflater for the whole connection) decodes everything.
void contextTakeoverCompressesPerSubscriber() {
  Fixture f(deflateOptions(0));
  Client& a = f.open("permessage-deflate", "permessage-deflate");
  Client& b = f.open("permessage-deflate", "permessage-deflate");
  f.server.subscribe(a.id, "t");
  f.server.subscribe(b.id, "t");
  std::string m1 = chatMessage(2000), m2 = chatMessage(2100), s = chatMessage(1800);
  CHECK_EQ(f.server.send(a.id, Opcode::TEXT, bytes(s), s.size(), true, true).status, 0);
  CHECK_EQ(f.publish("t", m1).queued, size_t{2});
  CHECK_EQ(f.server.send(a.id, Opcode::TEXT, bytes(s), s.size(), true, true).status, 0);
  CHECK_EQ(f.publish("t", m2).queued, size_t{2});
  CHECK_EQ(f.server.publishStats().deflates, uint64_t{4});  // one per subscriber and publish
  std::vector<Frame> got = f.frames(a);
  CHECK_EQ(got.size(), size_t{4});
  const std::string expectA[] = {s, m1, s, m2};
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].rsv1 && got[i].message == expectA[i]);
  // The history paid off: m2 after m1 compresses to little.
  CHECK(got[3].payload.size() < got[1].payload.size());
  got = f.frames(b);
  CHECK(got.size() == 2 && got[0].rsv1 && got[0].message == m1 && got[1].message == m2);
}

void thresholdAndCompressFalseStayPlain() {
  Fixture f(deflateOptions(1024));
  Client& shared = f.open("permessage-deflate; server_no_context_takeover", "");
  Client& own = f.open("permessage-deflate", "");
  f.server.subscribe(shared.id, "t");
  f.server.subscribe(own.id, "t");
  std::string under = chatMessage(1023), over = chatMessage(1024);
  f.publish("t", under);
  f.publish("t", over, false);
  f.publish("t", over);
  CHECK_EQ(f.server.publishStats().deflates, uint64_t{2});  // only the last one, once for each kind
  for (Client* c : {&shared, &own}) {
    std::vector<Frame> got = f.frames(*c);
    CHECK_EQ(got.size(), size_t{3});
    CHECK(!got[0].rsv1 && got[0].payload == under);
    CHECK(!got[1].rsv1 && got[1].payload == over);
    CHECK(got[2].rsv1 && got[2].message == over);
  }
}

// A subscriber in the middle of a fragmented send refuses the publish and its compressor is not
// touched: after the message ends, the next publish decodes with the same client stream.
void fragmentedSendStillRefuses() {
  Fixture f(deflateOptions(0));
  Client& a = f.open("permessage-deflate", "");
  Client& b = f.open("permessage-deflate; server_no_context_takeover", "");
  f.server.subscribe(a.id, "t");
  f.server.subscribe(b.id, "t");
  std::string part = chatMessage(700), m = chatMessage(1200);
  CHECK_EQ(f.server.send(a.id, Opcode::TEXT, bytes(part), part.size(), false, true).status, 0);
  Server::PublishResult r = f.publish("t", m);
  CHECK_EQ(r.queued, size_t{1});
  CHECK_EQ(r.refused, size_t{1});
  CHECK_EQ(f.server.publishStats().deflates, uint64_t{1});  // b's shared frame only
  CHECK_EQ(f.server.send(a.id, Opcode::CONTINUATION, bytes(part), part.size(), true, true).status, 0);
  CHECK_EQ(f.publish("t", m).queued, size_t{2});
  f.server.flush();
  // a: the fragmented message (two frames, one deflate stream), then the publish.
  std::string wire = f.take(a.id);
  CHECK(static_cast<uint8_t>(wire[0]) == 0x41);  // TEXT, RSV1, not FIN
  a.wire = wire;
  // The frames() walk wants FIN frames: read the two fragments by hand, then the rest.
  size_t at = 0;
  std::string first;
  for (int i = 0; i < 2; ++i) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(wire.data()) + at;
    size_t length = p[1] & 0x7f, header = 2;
    if (length == 126) {
      length = (size_t{p[2]} << 8) | p[3];
      header = 4;
    }
    first += wire.substr(at + header, length);
    at += header + length;
  }
  CHECK(a.inflateMessage(first) == part + part);
  a.wire = wire.substr(at);
  std::vector<Frame> got = a.frames();
  CHECK(got.size() == 1 && got[0].rsv1 && got[0].message == m);
  got = f.frames(b);
  CHECK(got.size() == 2 && got[0].message == m && got[1].message == m);
}

}  // namespace

int main() {
  noContextTakeoverDeflatesOncePerWindowSize();
  serverOptionMakesEveryoneShare();
  contextTakeoverCompressesPerSubscriber();
  thresholdAndCompressFalseStayPlain();
  fragmentedSendStillRefuses();
  return CHECK_SUMMARY("publish_deflate_test");
}
