// The types of the server's user-call API, shared by Server and Connection: the options, a
// connection's id, and what the calls return.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "clock.h"
#include "deflate_negotiation.h"

namespace epollws {

struct ServerOptions {
  uint64_t maxPayload = 100 * 1024 * 1024;
  size_t maxHeaderSize = 16 * 1024;
  uint32_t maxConnections = 0;       // 0: no limit besides the fd limit
  std::string path;                  // empty: any path is accepted
  uint32_t handshakeTimeoutMs = 10000;
  uint32_t closeTimeoutMs = 30000;
  uint32_t idleTimeoutMs = 120000;   // no bytes from the peer for this long: drop it; 0 disables
  bool sendPings = true;             // ping a peer idle for half of idleTimeoutMs
  uint64_t maxBackpressure = 64 * 1024 * 1024;  // queued output that triggers the policy; 0 = none
  bool dropOnBackpressure = false;   // policy: drop the send (true) or drop the connection (false)
  // Output queued in all connections together that triggers the policy on the connections holding
  // the most (see Server::totalBudgetCutoff); 0 = no limit.
  uint64_t maxTotalBackpressure = 1024ull * 1024 * 1024;
  uint32_t maxFragments = 100000;    // frames in one message; 0 = no limit
  bool proxyProtocol = false;        // every connection starts with a PROXY protocol v1/v2 header
  bool autoPong = true;              // answer pings with a pong (ws's autoPong)
  const Clock* clock = nullptr;      // nullptr: the monotonic clock; the caller keeps it alive
  DeflateOptions deflate;            // permessage-deflate (off unless enabled)
  // TLS handshake steps (reads of a socket still in its handshake) per turn: the rest wait for
  // the next turn, so established connections are served between them.
  uint32_t tlsHandshakesPerTurn = 32;
};

struct ConnectionId {
  uint32_t slot;
  uint32_t generation;
};

// Results of calls made on behalf of the user. Negative values mean the call did nothing.
enum class CallStatus : int {
  OK = 0,
  ACCEPTED_DEFLATE = 1,  // acceptUpgrade: the 101 is queued and permessage-deflate was agreed
  CLOSED = -1,       // the connection is closing or gone (a stale id too)
  WRONG_STATE = -2,  // e.g. accept() on an open connection
  DROPPED = -3,      // over maxBackpressure with the drop policy: the message was not queued
  INVALID_HEADERS = -4,  // extraHeaderLines are not "Name: value\r\n" lines of valid HTTP fields
};

// What send() did, and the connection's bufferedAmount after it (one lookup for both).
struct SendResult {
  int status;       // a CallStatus
  size_t buffered;  // 0 unless status is OK
};

}  // namespace epollws
