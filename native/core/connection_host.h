// What a Connection needs from the server that owns it, and nothing more: the turn's event batch,
// the server-wide output total, the dirty and close-reply lists, the reactor, the options and the
// turn's clock, all by reference (read and written inline on the hot path), plus the few calls
// only the owner can make (slot bookkeeping, the timer wheel, the server-wide budget), which are
// virtual because they are rare: once per close, per deadline, or per send while over the bound.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "event_batch.h"
#include "reactor.h"
#include "server_options.h"

namespace epollws {

struct Connection;

// The calls a connection makes on its owner (Server implements them).
class ConnectionOwner {
 public:
  // The connection has just closed (fd gone, CLOSE event queued): free its slot after delivery.
  virtual void onConnectionClosed(Connection& conn) = 0;
  // The connection's deadline or state changed: make sure the timer wheel will look at it.
  virtual void armTimer(Connection& conn) = 0;
  // Bytes from a connection still in the opening handshake (the upgrade flow is the owner's).
  virtual void onHandshakeBytes(Connection& conn, uint8_t* data, size_t len) = 0;
  // While the total is over maxTotalBackpressure: the queue size from which a connection counts
  // among those holding the most.
  virtual size_t totalBudgetCutoff() = 0;
  // An inflate spent its budget for this turn (see MessageAssembler): call the connection's
  // resumeInflate() in the next turn, and make sure there is one.
  virtual void onInflateStalled(Connection& conn) = 0;
  // The connection's transport holds input epoll will not report (TLS read-ahead): read it in the
  // next turn, and make sure there is one.
  virtual void onInputBuffered(Connection& conn) = 0;

 protected:
  ~ConnectionOwner() = default;
};

struct ConnectionHost {
  const ServerOptions& options;
  ConnectionOwner& owner;
  Reactor& reactor;
  EventBatch& batch;                    // this turn's events
  size_t& totalQueued;                  // sum of every connection's output.size()
  std::vector<uint32_t>& dirty;         // slots with output for the end-of-turn flush
  std::vector<uint32_t>& closeReplies;  // slots whose close reply waits for the user's batch
  const uint64_t& nowMs;                // read once per turn
  const bool& inTurn;
  uint32_t& tlsHandshakeBudget;         // TLS handshake steps this turn may still take

  // Now, from the server's clock (ServerOptions::clock, or the monotonic clock).
  uint64_t clockMs() const { return options.clock ? options.clock->nowMs() : monotonicMs(); }

  // Events raised outside a turn (by the user's calls) must wake the driver.
  void noteEventQueued() {
    if (!inTurn) reactor.wake();
  }
};

}  // namespace epollws
