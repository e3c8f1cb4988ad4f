// Send callbacks that fire when the kernel has taken a message's bytes, as ws's do (its
// socket.write callback). Only connections whose user asked (a send with a callback) pay for it,
// in their ConnectionExtras: the count of bytes the transport took since then and the lowest
// count the user waits for. The user keeps its callbacks keyed by the count at which each
// message ends (Connection::queuedEnd after the send); the core reports WRITTEN once the
// transport has taken that many, then waits for the user to arm the next mark. Nothing is
// allocated per message, and a connection nobody waits on pays one pointer test per write.
//
//   tracking off ── send with a callback: trackWrites ──► tracking, mark = that send's end
//       ▲                                                   │ written >= mark: WRITTEN(written),
//       │ (the connection closes: WRITTEN(written) then    │ mark = 0; the user fires the callbacks
//       │  CLOSE; the user fails what is left)              ▼ up to there and arms the next mark
//       └──────────────────────────────────────────────── waiting (mark 0 until armed)
#pragma once
#include <cstdint>

namespace epollws {

struct WriteProgress {
  uint64_t written = 0;  // bytes the transport took since tracking began
  uint64_t mark = 0;     // report WRITTEN once written reaches this; 0: nobody waits
  bool tracking = false;
};

}  // namespace epollws
