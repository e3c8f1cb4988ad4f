// Calls ws users make on an open connection that need the core: pause()/resume() (the connection
// is not read meanwhile), the peer's address once the request is gone (ws's `_socket`), and
// frames the user encoded itself (engine.io's `_sender.sendFrame()`), queued by reference.
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

// A frame the user encoded (socket.io's broadcast, ws's Sender.frame()), queued by reference: the
// same block for every recipient, as a publish's. The rules of a send: closing sockets take
// nothing, an unfinished fragmented message of the user's refuses it (a frame now would land
// inside it), and the backpressure policy applies.
SendResult Server::sendSharedFrame(ConnectionId id, SharedFrame* frame) {
  Connection* conn = lookup(id);
  if (!conn || !conn->canSend()) return {static_cast<int>(CallStatus::CLOSED), 0};
  if (conn->sendFragmented) return {static_cast<int>(CallStatus::DROPPED), 0};
  if (!conn->admitOutput(host_)) {
    return {static_cast<int>(conn->state == ConnState::CLOSED ? CallStatus::CLOSED : CallStatus::DROPPED), 0};
  }
  frame->ref();
  conn->output.appendShared(SharedFrameRef(frame), 0, totalQueued_);
  markDirty(conn);
  if (options_.maxBackpressure && conn->output.size() >= options_.maxBackpressure) conn->needDrain = true;
  return {static_cast<int>(CallStatus::OK), conn->output.size()};
}

}  // namespace epollws
