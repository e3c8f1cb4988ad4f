// FdTransport on its own: reads into the caller's buffer, a writev the kernel takes in part,
// shutting down writing, a peer that is gone, and the peer address of a loopback connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "check.h"
#include "transport.h"

using namespace epollws;

namespace {

void readAndWouldBlock() {
  int fds[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
  FdTransport io(fds[0]);
  uint8_t buffer[16];
  CHECK_EQ(io.read(buffer, sizeof buffer).status, IoResult::Status::WOULD_BLOCK);
  CHECK_EQ(::write(fds[1], "hello, transport", 16), 16);
  IoResult r = io.read(buffer, 5);  // no more than the capacity
  CHECK_EQ(r.status, IoResult::Status::OK);
  CHECK_EQ(r.bytes, size_t(5));
  CHECK_EQ(std::string(reinterpret_cast<char*>(buffer), 5), std::string("hello"));
  r = io.read(buffer, sizeof buffer);
  CHECK_EQ(r.bytes, size_t(11));
  ::close(fds[1]);
  CHECK_EQ(io.read(buffer, sizeof buffer).status, IoResult::Status::END);
}

void partialWritev() {
  int fds[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
  int small = 4096;
  ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  FdTransport io(fds[0]);
  std::vector<uint8_t> a(1 << 20, 'a'), b(1 << 20, 'b');
  iovec parts[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  IoResult first = io.writev(parts, 2);
  CHECK_EQ(first.status, IoResult::Status::OK);
  CHECK(first.bytes > 0);
  CHECK(first.bytes < a.size() + b.size());  // the kernel took part of it
  IoResult second = io.writev(parts, 2);
  CHECK_EQ(second.status, IoResult::Status::WOULD_BLOCK);  // full until the peer reads
  // What was taken arrives in order, from the first part on.
  std::vector<uint8_t> got(first.bytes);
  size_t done = 0;
  while (done < got.size()) {
    ssize_t n = ::recv(fds[1], got.data() + done, got.size() - done, 0);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  CHECK_EQ(done, first.bytes);
  CHECK(got.front() == 'a');
  ::close(fds[1]);
}

void shutdownWriteAndGonePeer() {
  int fds[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
  FdTransport io(fds[0]);
  uint8_t byte = 'z';
  iovec part{&byte, 1};
  CHECK_EQ(io.writev(&part, 1).bytes, size_t(1));
  io.shutdownWrite();
  char buffer[4];
  CHECK_EQ(::recv(fds[1], buffer, sizeof buffer, 0), ssize_t(1));
  CHECK_EQ(::recv(fds[1], buffer, sizeof buffer, 0), ssize_t(0));  // our FIN
  ::close(fds[1]);
  FdTransport other;
  int again[2];
  ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, again);
  other = FdTransport(again[0]);
  ::close(again[1]);
  CHECK_EQ(other.writev(&part, 1).status, IoResult::Status::FAILED);  // EPIPE, without a SIGPIPE
  CHECK(other.pollFd() >= 0);
  other.close();
  CHECK_EQ(other.pollFd(), -1);
}

void peerAddressOnLoopback() {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listener, 1);
  socklen_t length = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &length);
  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  sockaddr_in local{};
  length = sizeof local;
  ::getsockname(client, reinterpret_cast<sockaddr*>(&local), &length);
  FdTransport io(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  PeerAddress peer = io.peerAddress();
  CHECK_EQ(peer.address, std::string("127.0.0.1"));
  CHECK_EQ(peer.port, ntohs(local.sin_port));
  CHECK_EQ(peer.family, 4);
  ::close(client);
  ::close(listener);
}

}  // namespace

int main() {
  readAndWouldBlock();
  partialWritev();
  shutdownWriteAndGonePeer();
  peerAddressOnLoopback();
  return CHECK_SUMMARY("transport_test");
}
