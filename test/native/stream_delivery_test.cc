// What a driver with many streams sees (Server::takeDeliveries, adoptStream, pauseStreamOutput,
// feed's input hold): each stream's output, end of writing and close handed over once, output kept
// while the driver's socket does not drain, input held past INPUT_HIGH and released once read, and
// a request node:http read adopted onto a stream with the same checks as adoptHandshake, and a
// broken stream closing its connection even while that connection does not read.
#include <string>

#include "check.h"
#include "server_driver.h"
#include "stream_transport.h"

using namespace driver;

namespace {

struct Taken {
  std::string bytes;
  uint8_t flags = 0;
  int count = 0;  // deliveries for the stream
};

Taken take(Server& server, ConnectionId id) {
  std::vector<Server::StreamDelivery> list;
  server.takeDeliveries(list);
  Taken out;
  for (Server::StreamDelivery& d : list) {
    if (d.id.slot != id.slot || d.id.generation != id.generation) continue;
    out.bytes.append(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size());
    out.flags |= d.flags;
    ++out.count;
  }
  return out;
}

void feed(Server& server, ConnectionId id, const std::string& bytes, int expected = 0) {
  CHECK_EQ(server.feed(id, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), expected);
}

// The binding's order: a turn, the batch, flush, deliveries, then the slots are released.
std::vector<Event> turnAndTake(Server& server, ConnectionId id, Taken& taken) {
  server.runTurn(0);
  EventBatch batch;
  server.takeBatch(batch);
  std::vector<Event> events;
  for (const EventRecord& r : batch.records) {
    Event e{static_cast<EventKind>(r.kind), {r.slot, r.generation}, r.arg, {}};
    if (!(r.arg & MESSAGE_EXTERNAL && e.kind == EventKind::MESSAGE)) {
      e.payload.assign(reinterpret_cast<const char*>(batch.data.data()) + r.offset, r.length);
    }
    events.push_back(std::move(e));
  }
  server.flush();
  Taken now = take(server, id);
  taken.bytes += now.bytes;
  taken.flags |= now.flags;
  taken.count += now.count;
  server.endTurn();
  return events;
}

ConnectionId adoptOpen(Server& server, size_t window = 1 << 20) {
  std::string head = wire::UPGRADE_REQUEST;
  Server::AdoptResult r = server.adoptStream({"198.51.100.4", 443, 4}, window, head, nullptr, 0, true, true);
  CHECK_EQ(r.error, 0);
  CHECK(r.failure == HandshakeFailure::NONE);
  CHECK_EQ(server.acceptUpgrade(r.id, "", "", ""), 0);
  return r.id;
}

void adoptedStreamEchoesAndCloses() {
  Server server{ServerOptions{}};
  CHECK_EQ(server.init(), 0);
  ConnectionId id = adoptOpen(server);
  Taken taken;
  std::vector<Event> events = turnAndTake(server, id, taken);
  CHECK(events.empty());  // adopted: no UPGRADE event, the caller has the request
  CHECK(taken.bytes.rfind("HTTP/1.1 101", 0) == 0);
  CHECK_EQ(taken.flags, 0);

  // Nothing new: no delivery at all (the driver is not called for this stream).
  Taken idle = take(server, id);
  CHECK_EQ(idle.count, 0);

  feed(server, id, maskedFrame(0x81, "ping me"));
  taken = {};
  events = turnAndTake(server, id, taken);
  CHECK_EQ(events.size(), size_t{1});
  if (!events.empty()) CHECK_EQ(events[0].payload, std::string("ping me"));
  server.send(id, Opcode::TEXT, reinterpret_cast<const uint8_t*>("echo"), 4);
  taken = {};
  turnAndTake(server, id, taken);
  CHECK_EQ(taken.count, 1);
  CHECK(taken.bytes.find("echo") != std::string::npos);

  // The server closes: its close frame, then (after the peer's) the end of writing, then the
  // close, each reported once, the last before the slot is released.
  CHECK_EQ(server.close(id, 1000, "bye"), 0);
  taken = {};
  turnAndTake(server, id, taken);
  CHECK(taken.bytes.find("bye") != std::string::npos);
  feed(server, id, maskedFrame(0x88, std::string("\x03\xe8", 2)));
  taken = {};
  turnAndTake(server, id, taken);
  CHECK(taken.flags & StreamTransport::DELIVERY_WRITE_SHUT);
  CHECK(!(taken.flags & StreamTransport::DELIVERY_CLOSED));
  server.streamEnded(id);
  taken = {};
  events = turnAndTake(server, id, taken);
  CHECK_EQ(taken.flags, StreamTransport::DELIVERY_CLOSED);
  bool closed = false;
  for (Event& e : events) closed = closed || e.kind == EventKind::CLOSE;
  CHECK(closed);
  CHECK_EQ(server.connectionCount(), size_t{0});
}

void pausedOutputWaitsForDrain() {
  Server server{ServerOptions{}};
  CHECK_EQ(server.init(), 0);
  ConnectionId id = adoptOpen(server);
  Taken taken;
  turnAndTake(server, id, taken);
  CHECK_EQ(server.pauseStreamOutput(id, true), 0);
  server.send(id, Opcode::TEXT, reinterpret_cast<const uint8_t*>("held"), 4);
  taken = {};
  turnAndTake(server, id, taken);
  CHECK_EQ(taken.count, 0);  // the socket is not draining: nothing is handed over
  CHECK_EQ(server.pauseStreamOutput(id, false), 0);
  taken = {};
  turnAndTake(server, id, taken);
  CHECK(taken.bytes.find("held") != std::string::npos);
}

void inputHeldUntilRead() {
  ServerOptions options;
  options.maxPayload = 8u << 20;
  Server server{options};
  CHECK_EQ(server.init(), 0);
  ConnectionId id = adoptOpen(server);
  Taken taken;
  turnAndTake(server, id, taken);
  std::string big = maskedFrame(0x82, std::string(StreamTransport::INPUT_HIGH + 10, 'z'));
  feed(server, id, big.substr(0, StreamTransport::INPUT_HIGH / 2));
  feed(server, id, big.substr(StreamTransport::INPUT_HIGH / 2), Server::STREAM_INPUT_HELD);
  bool resumed = false;
  bool message = false;
  for (int i = 0; i < 20 && !(resumed && message); ++i) {
    taken = {};
    for (Event& e : turnAndTake(server, id, taken)) message = message || e.kind == EventKind::MESSAGE;
    resumed = resumed || (taken.flags & StreamTransport::DELIVERY_RESUME_INPUT);
  }
  CHECK(resumed);
  CHECK(message);
}

void adoptedRefusals() {
  Server server{ServerOptions{}};
  CHECK_EQ(server.init(), 0);
  std::string head = wire::UPGRADE_REQUEST;
  // Answered by the core: the 404 goes out through the stream, then its end.
  Server::AdoptResult r = server.adoptStream({"198.51.100.5", 1, 4}, 4096, head, nullptr, 0, false, true);
  CHECK(r.failure == HandshakeFailure::PATH_NOT_SERVED);
  Taken taken;
  turnAndTake(server, r.id, taken);
  CHECK(taken.bytes.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(taken.flags & StreamTransport::DELIVERY_WRITE_SHUT);
  // Left to the caller: the core's side closes at once, nothing written.
  Server::AdoptResult quiet = server.adoptStream({"198.51.100.6", 1, 4}, 4096, "GET / HTTP/1.1\r\n\r\n", nullptr, 0, true, false);
  CHECK(quiet.failure != HandshakeFailure::NONE);
  Taken none;
  turnAndTake(server, quiet.id, none);
  CHECK(none.bytes.empty());
  CHECK(none.flags & StreamTransport::DELIVERY_CLOSED);
}

void failedStreamCloses() {
  Server server{ServerOptions{}};
  CHECK_EQ(server.init(), 0);
  ConnectionId id = adoptOpen(server);
  Taken taken;
  turnAndTake(server, id, taken);
  CHECK_EQ(server.streamEnded(id, true), 0);  // a reset
  taken = {};
  std::vector<Event> events = turnAndTake(server, id, taken);
  bool closed = false;
  for (Event& e : events) closed = closed || (e.kind == EventKind::CLOSE && e.arg == 1006);
  CHECK(closed);
  CHECK(taken.flags & StreamTransport::DELIVERY_CLOSED);
}

// A stream that breaks while its connection does not read (paused for its own output, which the
// driver's socket stopped draining, or by the user) closes, as a reset does over an fd: the
// socket is gone, so the output the connection waits to hand over can never leave. A clean end
// alone leaves it open (the peer may still read what it is sent); a break after it closes it.
void brokenStreamClosesWhilePaused() {
  for (bool byUser : {false, true}) {
    ServerOptions options;
    options.maxBackpressure = 64 * 1024;
    Server server{options};
    CHECK_EQ(server.init(), 0);
    ConnectionId id = adoptOpen(server, 4096);
    Taken taken;
    turnAndTake(server, id, taken);
    if (byUser) {
      CHECK_EQ(server.pauseReading(id, true), 0);
    } else {
      CHECK_EQ(server.pauseStreamOutput(id, true), 0);  // the socket stopped draining
      std::string big(40 * 1024, 'q');  // past the 4 KiB window and half of maxBackpressure
      CHECK_EQ(server.send(id, Opcode::BINARY, reinterpret_cast<const uint8_t*>(big.data()), big.size()).status, 0);
    }
    feed(server, id, maskedFrame(0x81, "unread"));
    bool message = false;
    for (int i = 0; i < 3; ++i) {
      taken = {};
      for (Event& e : turnAndTake(server, id, taken)) message = message || e.kind == EventKind::MESSAGE;
    }
    CHECK(!message);  // not read: paused
    CHECK_EQ(server.streamEnded(id, false), 0);  // the peer's FIN
    taken = {};
    for (Event& e : turnAndTake(server, id, taken)) CHECK(e.kind != EventKind::CLOSE);
    CHECK_EQ(server.connectionCount(), size_t{1});
    CHECK_EQ(server.streamEnded(id, true), 0);  // then the socket breaks
    taken = {};
    bool closed = false;
    for (Event& e : turnAndTake(server, id, taken)) closed = closed || (e.kind == EventKind::CLOSE && e.arg == 1006);
    CHECK(closed);
    CHECK(taken.flags & StreamTransport::DELIVERY_CLOSED);
    CHECK_EQ(server.connectionCount(), size_t{0});
  }
}

}  // namespace

int main() {
  adoptedStreamEchoesAndCloses();
  pausedOutputWaitsForDrain();
  inputHeldUntilRead();
  adoptedRefusals();
  failedStreamCloses();
  brokenStreamClosesWhilePaused();
  return CHECK_SUMMARY("stream_delivery_test");
}
