// Connections over a StreamTransport: attaching one, the driver's feed / end / take calls, and
// the readiness a stream has in place of epoll's (see stream_transport.h).
#include <sys/epoll.h>

#include "server.h"
#include "stream_transport.h"

namespace epollws {

ConnectionId Server::attachStream(PeerAddress peer, size_t window) {
  Connection* conn = addConnection(-1);  // no fd: the reactor has nothing to watch
  if (!conn) return {UINT32_MAX, 0};     // never a valid slot
  conn->ensureExtras().transport = std::make_unique<StreamTransport>(std::move(peer), window);
  if (options_.maxConnections && liveConnections_ > options_.maxConnections) {
    conn->handshake()->refuseStatus = 503;
  }
  setDeadline(conn, options_.handshakeTimeoutMs);
  ConnectionId id{conn->slot, conn->generation};
  streams_.push_back(id);
  return id;
}

StreamTransport* Server::streamOf(ConnectionId id) const {
  Connection* conn = lookup(id);
  if (!conn || !conn->extras || !conn->extras->transport) return nullptr;
  return conn->extras->transport->asStream();
}

int Server::feed(ConnectionId id, const uint8_t* bytes, size_t length) {
  StreamTransport* stream = streamOf(id);
  if (!stream || stream->closed()) return static_cast<int>(CallStatus::CLOSED);
  stream->feed(bytes, length);
  noteEventQueued();  // the driver runs a turn to read them
  return static_cast<int>(CallStatus::OK);
}

int Server::streamEnded(ConnectionId id) {
  StreamTransport* stream = streamOf(id);
  if (!stream || stream->closed()) return static_cast<int>(CallStatus::CLOSED);
  stream->end();
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
      if (!conn->readPaused && !conn->outputPaused) events |= EPOLLIN;
      if (stream.ended()) events |= EPOLLRDHUP;
    }
    if (events) onReady(conn, events);
  }
  streams_.resize(kept);
}

}  // namespace epollws
