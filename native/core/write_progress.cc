// Send callbacks (write_progress.h): the connection's side (counting what the transport took,
// reporting a reached mark) and the Server calls that start tracking and arm marks.
#include "write_progress.h"

#include "connection.h"
#include "server.h"

namespace epollws {

void Connection::reportWritten(ConnectionHost& host, size_t bytes) {
  WriteProgress& progress = extras->progress;
  progress.written += bytes;
  if (progress.mark == 0 || progress.written < progress.mark) return;
  progress.mark = 0;  // one event per mark: the user arms the next one
  host.batch.addWritten(slot, generation, progress.written);
  host.noteEventQueued();
}

void Connection::armWritten(ConnectionHost& host, uint64_t mark) {
  WriteProgress& progress = extras->progress;
  if (progress.written >= mark) {
    host.batch.addWritten(slot, generation, progress.written);  // taken already: say so now
    host.noteEventQueued();
    return;
  }
  if (progress.mark == 0 || mark < progress.mark) progress.mark = mark;
}

void Server::trackWrites(ConnectionId id) {
  Connection* conn = lookup(id);
  if (conn && conn->state != ConnState::CLOSED) conn->ensureExtras().progress.tracking = true;
}

int64_t Server::markWritten(ConnectionId id) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED || !conn->extras || !conn->extras->progress.tracking) return -1;
  uint64_t end = conn->queuedEnd();
  conn->armWritten(host_, end);
  return static_cast<int64_t>(end);
}

int Server::armWritten(ConnectionId id, uint64_t mark) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED || !conn->extras || !conn->extras->progress.tracking) {
    return static_cast<int>(CallStatus::CLOSED);
  }
  conn->armWritten(host_, mark);
  return static_cast<int>(CallStatus::OK);
}

}  // namespace epollws
