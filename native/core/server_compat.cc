// Calls ws users make on an open connection that need the core: pause()/resume() (the connection
// is not read meanwhile) and the peer's address once the request is gone (ws's `_socket`).
#include "server.h"

namespace epollws {

int Server::pauseReading(ConnectionId id, bool paused) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  if (conn->userPaused == paused) return static_cast<int>(CallStatus::OK);
  conn->userPaused = paused;
  // Level-triggered: what the kernel holds is reported again once reading is watched.
  conn->updateInterest(host_);
  return static_cast<int>(CallStatus::OK);
}

PeerAddress Server::peerAddress(ConnectionId id) const {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return PeerAddress{};
  return peerOf(conn);
}

}  // namespace epollws
