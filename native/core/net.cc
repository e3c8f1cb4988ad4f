#include "net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "unique_fd.h"

namespace epollws {
namespace {

SocketResult fail(const char* syscall, int error) {
  SocketResult result;
  result.error = error;
  result.syscall = syscall;
  return result;
}

SocketResult bindAndListen(const sockaddr* addr, socklen_t addrLen, int backlog, bool reusePort,
                           bool dualStack) {
  UniqueFd fd(::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail("socket", errno);
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (reusePort && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    return fail("setsockopt", errno);
  }
  if (addr->sa_family == AF_INET6) {
    int v6only = dualStack ? 0 : 1;
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (::bind(fd.get(), addr, addrLen) != 0) return fail("bind", errno);
  if (::listen(fd.get(), backlog) != 0) return fail("listen", errno);

  sockaddr_storage bound{};
  socklen_t boundLen = sizeof bound;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &boundLen);
  SocketResult result;
  result.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  result.fd = fd.release();
  return result;
}

}  // namespace

SocketResult openListener(const std::string& host, uint16_t port, int backlog, bool reusePort) {
  if (host.empty()) {
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_addr = in6addr_any;
    any6.sin6_port = htons(port);
    SocketResult result =
        bindAndListen(reinterpret_cast<sockaddr*>(&any6), sizeof any6, backlog, reusePort, true);
    if (result.error != EAFNOSUPPORT && result.error != EADDRNOTAVAIL) return result;
    sockaddr_in any4{};
    any4.sin_family = AF_INET;
    any4.sin_addr.s_addr = htonl(INADDR_ANY);
    any4.sin_port = htons(port);
    return bindAndListen(reinterpret_cast<sockaddr*>(&any4), sizeof any4, backlog, reusePort, false);
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) return fail("getaddrinfo", rc == EAI_SYSTEM ? errno : ENOENT);
  SocketResult result = fail("getaddrinfo", ENOENT);
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    // "::" given explicitly keeps Node's meaning: dual-stack.
    bool dualStack = ai->ai_family == AF_INET6 &&
                     IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    result = bindAndListen(ai->ai_addr, ai->ai_addrlen, backlog, reusePort, dualStack);
    if (result.error == 0) break;
  }
  ::freeaddrinfo(found);
  return result;
}

void setNoDelay(int fd) {
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

PeerAddress peerAddressOf(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return PeerAddress{};
  return formatAddress(addr);
}

PeerAddress formatAddress(const sockaddr_storage& addr) {
  PeerAddress peer;
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    peer.port = ntohs(in6->sin6_port);
    peer.family = 6;
  } else if (addr.ss_family == AF_INET) {
    auto* in4 = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
    peer.port = ntohs(in4->sin_port);
    peer.family = 4;
  }
  peer.address = text;
  return peer;
}

}  // namespace epollws
