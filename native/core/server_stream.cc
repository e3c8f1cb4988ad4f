// Connections over a StreamTransport: attaching one, the driver's feed / end / take calls, and
// the readiness a stream has in place of epoll's (see stream_transport.h).
#include <sys/epoll.h>

#include <cerrno>

#include "server.h"
#include "stream_transport.h"

namespace epollws {

Connection* Server::addStream(PeerAddress peer, size_t window) {
  Connection* conn = addConnection(-1);  // no fd: the reactor has nothing to watch
  if (!conn) return nullptr;
  conn->ensureExtras().transport = std::make_unique<StreamTransport>(std::move(peer), window);
  streams_.push_back({conn->slot, conn->generation});
  return conn;
}

ConnectionId Server::attachStream(PeerAddress peer, size_t window) {
  Connection* conn = addStream(std::move(peer), window);
  if (!conn) return {UINT32_MAX, 0};  // never a valid slot
  if (options_.maxConnections && liveConnections_ > options_.maxConnections) {
    conn->handshake()->refuseStatus = 503;
  }
  setDeadline(conn, options_.handshakeTimeoutMs);
  return {conn->slot, conn->generation};
}

Server::AdoptResult Server::adoptStream(PeerAddress peer, size_t window, std::string_view requestHead,
                                        const uint8_t* rest, size_t restLength, bool servePath, bool answerRefusal) {
  AdoptResult result;
  Connection* conn = addStream(std::move(peer), window);
  if (!conn) {
    result.error = ENOMEM;
    return result;
  }
  adoptRequest(conn, result, requestHead, rest, restLength, servePath, answerRefusal);
  return result;
}

void Server::takeDeliveries(std::vector<StreamDelivery>& out) {
  bool wake = false;
  for (ConnectionId id : streams_) {
    Connection* conn = lookup(id);
    if (!conn) continue;  // released; serviceStreams prunes it
    StreamDelivery delivery{id, ByteBuffer(), 0};
    if (!conn->extras->transport->asStream()->takeDelivery(delivery.bytes, delivery.flags)) continue;
    // Room again in the send buffer: a connection waiting for it is written in the next turn.
    if (!delivery.bytes.empty() && conn->writeArmed) wake = true;
    out.push_back(std::move(delivery));
  }
  if (wake) noteEventQueued();
}

int Server::pauseStreamOutput(ConnectionId id, bool paused) {
  StreamTransport* stream = streamOf(id);
  if (!stream) return static_cast<int>(CallStatus::CLOSED);
  stream->pauseOutput(paused);
  if (!paused && stream->hasOutput()) noteEventQueued();  // the next turn hands it over
  return static_cast<int>(CallStatus::OK);
}

StreamTransport* Server::streamOf(ConnectionId id) const {
  Connection* conn = lookup(id);
  if (!conn || !conn->extras || !conn->extras->transport) return nullptr;
  return conn->extras->transport->asStream();
}

int Server::feed(ConnectionId id, const uint8_t* bytes, size_t length) {
  StreamTransport* stream = streamOf(id);
  if (!stream || stream->closed()) return static_cast<int>(CallStatus::CLOSED);
  bool held = stream->feed(bytes, length);
  noteEventQueued();  // the driver runs a turn to read them
  return held ? STREAM_INPUT_HELD : static_cast<int>(CallStatus::OK);
}

int Server::streamEnded(ConnectionId id, bool failed) {
  StreamTransport* stream = streamOf(id);
  if (!stream || stream->closed()) return static_cast<int>(CallStatus::CLOSED);
  stream->end(failed);
  noteEventQueued();
  return static_cast<int>(CallStatus::OK);
}

Server::StreamOutput Server::takeOutput(ConnectionId id, ByteBuffer& out) {
  StreamOutput result;
  StreamTransport* stream = streamOf(id);
  if (!stream) {
    result.status = static_cast<int>(CallStatus::CLOSED);
    return result;
  }
  result.bytes = stream->takeOutput(out);
  result.writeShut = stream->writeShut();
  result.closed = stream->closed();
  // Room again in the send buffer: a connection waiting for it is written in the next turn.
  if (result.bytes && lookup(id)->writeArmed) noteEventQueued();
  return result;
}

// What epoll would report for the stream, from the interest updateInterest() keeps in the
// connection's flags: readable (input or the peer's end) unless reading is paused, the peer's end
// alone while an upgrade awaits its decision with too much buffered, writable when the connection
// waits for room and the driver has taken output.
void Server::serviceStreams() {
  size_t kept = 0;
  for (ConnectionId id : streams_) {
    Connection* conn = lookup(id);
    if (!conn) continue;  // released: forget it
    streams_[kept++] = id;
    if (conn->state == ConnState::CLOSED) continue;
    StreamTransport& stream = *conn->extras->transport->asStream();
    uint32_t events = 0;
    if (conn->writeArmed && stream.writable()) events |= EPOLLOUT;
    if (stream.hasInput() || stream.ended()) {
      if (!conn->readPaused && !conn->outputPaused && !conn->userPaused) events |= EPOLLIN;
      if (stream.ended()) events |= EPOLLRDHUP;
    }
    // A broken stream (reset, socket error) is what epoll reports as EPOLLERR | EPOLLHUP whatever
    // the interest: a connection paused for its output or by the user closes on it, as over an fd
    // (its socket is gone, so the output it waits to hand over can never drain).
    if (stream.failed()) events |= EPOLLERR | EPOLLHUP;
    if (events) onReady(conn, events);
  }
  streams_.resize(kept);
}

}  // namespace epollws
