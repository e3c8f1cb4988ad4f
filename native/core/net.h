// Socket set-up helpers (syscall shims) used by the server.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace epollws {

struct SocketResult {
  int fd = -1;
  int error = 0;
  const char* syscall = "";
  uint16_t port = 0;
};

// A non-blocking, close-on-exec listening socket. An empty host binds "::" dual-stack, falling
// back to 0.0.0.0 where IPv6 is unavailable; otherwise the first address the host resolves to.
SocketResult openListener(const std::string& host, uint16_t port, int backlog, bool reusePort);

// Sets TCP_NODELAY on an accepted socket (errors are harmless and ignored).
void setNoDelay(int fd);

// "127.0.0.1" / "::1" and the port of an address; family is 4 or 6.
struct PeerAddress {
  std::string address;
  uint16_t port = 0;
  int family = 0;
};
PeerAddress peerAddressOf(int fd);
PeerAddress formatAddress(const sockaddr_storage& addr);

}  // namespace epollws
