// The upgrade flow: read the request head (after a PROXY header when configured), refuse what
// RFC 6455 §4.2.1 forbids, hand valid requests to the user, and answer with 101 (acceptUpgrade) or
// an HTTP error (rejectUpgrade); adopt() takes over a connection whose upgrade Node's http read.
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "clock.h"
#include "handshake.h"
#include "net.h"
#include "proxy_protocol.h"
#include "server.h"

namespace epollws {
namespace {

std::string_view pathOf(std::string_view target) {
  size_t query = target.find('?');
  return query == std::string_view::npos ? target : target.substr(0, query);
}

}  // namespace

void Server::readHandshake(Connection* conn, uint8_t* data, size_t len) {
  HandshakeState& hs = *conn->handshake();
  if (hs.awaitingProxyHeader) {
    readProxyHeader(conn, data, len);
    return;
  }
  size_t headBytes = 0;
  UpgradeParser::State state = hs.parser.feed(reinterpret_cast<const char*>(data), len, &headBytes);
  if (state == UpgradeParser::State::NEED_MORE) return;
  if (state == UpgradeParser::State::FAILED) {
    refuseHandshake(conn, hs.parser.failureStatus(), hs.parser.failureReason());
    return;
  }
  finishHandshakeHead(conn, data + headBytes, len - headBytes);
}

// A proxy in front (HAProxy, nginx, AWS NLB) prefixes the connection with the client's real
// address. Everything after the header is the HTTP request, parsed as if it had just been read.
void Server::readProxyHeader(Connection* conn, const uint8_t* data, size_t len) {
  HandshakeState& hs = *conn->handshake();
  size_t room = MAX_PROXY_HEADER - hs.proxyBytes.size();
  hs.proxyBytes.append(data, len < room ? len : room);
  ProxyHeader header = parseProxyHeader(hs.proxyBytes.data(), hs.proxyBytes.size());
  if (header.state == ProxyHeader::State::NEED_MORE) return;
  if (header.state == ProxyHeader::State::INVALID) {
    refuseHandshake(conn, 400, "Invalid PROXY protocol header");
    return;
  }
  hs.awaitingProxyHeader = false;
  if (!header.local) {
    hs.proxyAddress = std::move(header.sourceAddress);
    hs.proxyPort = header.sourcePort;
    hs.proxyFamily = header.family;
  }
  // The bytes past the header: those buffered plus any that did not fit in the buffer.
  size_t buffered = hs.proxyBytes.size();
  ByteBuffer rest;
  rest.append(hs.proxyBytes.data() + header.length, buffered - header.length);
  if (len > room) rest.append(data + room, len - room);
  hs.proxyBytes.release();
  if (!rest.empty()) readHandshake(conn, rest.data(), rest.size());
}

void Server::finishHandshakeHead(Connection* conn, const uint8_t* rest, size_t restLen) {
  HandshakeState& hs = *conn->handshake();
  const UpgradeRequest& request = hs.parser.request();
  if (hs.refuseStatus) {
    refuseHandshake(conn, hs.refuseStatus, "Too many connections");
    return;
  }
  if (!options_.path.empty() && pathOf(request.target) != options_.path) {
    refuseHandshake(conn, 404, "Path not served");
    return;
  }
  hs.acceptKey = computeAcceptKey(request.key);
  hs.pendingInput.assign(rest, rest + restLen);

  // Reading goes on while the user decides (see handleReadable): pausing and resuming would cost
  // two epoll_ctl calls per handshake.
  conn->state = ConnState::AWAITING_ACCEPT;
  conn->known = true;

  PeerAddress peer = peerOf(conn);
  if (!hs.proxyAddress.empty()) {
    peer.address = hs.proxyAddress;
    peer.port = hs.proxyPort;
    peer.family = hs.proxyFamily;
  }
  std::string port = std::to_string(peer.port);
  std::string_view head = hs.parser.rawHead();
  size_t length = peer.address.size() + 1 + port.size() + 1 + 1 + 1 + head.size();
  uint8_t* out = batch_.add(EventKind::UPGRADE, conn->slot, conn->generation, static_cast<uint32_t>(length), 0);
  auto put = [&out](const void* bytes, size_t n) {
    std::memcpy(out, bytes, n);
    out += n;
  };
  put(peer.address.data(), peer.address.size());
  put("\0", 1);
  put(port.data(), port.size());
  put("\0", 1);
  put(peer.family == 6 ? "6" : "4", 1);
  put("\0", 1);
  put(head.data(), head.size());
  noteEventQueued();
}

PeerAddress Server::peerOf(Connection* conn) const {
  HandshakeState* hs = conn->handshake();
  if (hs && hs->peer.ss_family != 0) return formatAddress(hs->peer);
  return conn->io().peerAddress();
}

void Server::refuseHandshake(Connection* conn, int status, const char* reason) {
  PeerAddress peer = peerOf(conn);
  std::string port = std::to_string(peer.port);
  size_t reasonLength = std::strlen(reason);
  size_t length = reasonLength + 1 + peer.address.size() + 1 + port.size();
  uint8_t* out = batch_.add(EventKind::CLIENT_ERROR, conn->slot, conn->generation, static_cast<uint32_t>(length),
                            static_cast<uint32_t>(status));
  std::memcpy(out, reason, reasonLength);
  out[reasonLength] = 0;
  std::memcpy(out + reasonLength + 1, peer.address.data(), peer.address.size());
  out[reasonLength + 1 + peer.address.size()] = 0;
  std::memcpy(out + reasonLength + 2 + peer.address.size(), port.data(), port.size());
  noteEventQueued();

  std::string response = buildHttpErrorResponse(status, {}, {});
  conn->output.appendCopy(response.data(), response.size(), totalQueued_);
  conn->takeHandshake();
  beginDraining(conn);
}

int Server::acceptUpgrade(ConnectionId id, std::string_view protocol, std::string_view extensions,
                          std::string_view extraHeaderLines) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  if (conn->state != ConnState::AWAITING_ACCEPT) return static_cast<int>(CallStatus::WRONG_STATE);
  if (!isHttpHeaderLines(extraHeaderLines) || !isHttpFieldValue(protocol) || !isHttpFieldValue(extensions)) {
    return static_cast<int>(CallStatus::INVALID_HEADERS);
  }
  std::unique_ptr<HandshakeState> hs = conn->takeHandshake();
  std::string response =
      buildSwitchingProtocolsResponse(hs->acceptKey, protocol, extensions, extraHeaderLines);
  conn->output.appendCopy(response.data(), response.size(), totalQueued_);
  conn->releaseOutput = true;
  markDirty(conn);
  conn->state = ConnState::OPEN;
  conn->lastActivityMs = clockMs();
  setDeadline(conn, 0);  // the handshake deadline no longer applies; the idle timer does
  if (conn->readPaused) {
    conn->readPaused = false;
    updateInterest(conn);
  }
  if (!hs->pendingInput.empty()) {
    // Frames that arrived with the request head: parse them now, as if just read.
    consumeFrames(conn, hs->pendingInput.data(), hs->pendingInput.size());
    if (!batch_.empty()) noteEventQueued();
  }
  return static_cast<int>(CallStatus::OK);
}

int Server::rejectUpgrade(ConnectionId id, int status, std::string_view extraHeaderLines,
                          std::string_view body) {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::CLOSED);
  if (conn->state != ConnState::AWAITING_ACCEPT) return static_cast<int>(CallStatus::WRONG_STATE);
  if (!isHttpHeaderLines(extraHeaderLines)) return static_cast<int>(CallStatus::INVALID_HEADERS);
  std::string response = buildHttpErrorResponse(status, extraHeaderLines, body);
  conn->output.appendCopy(response.data(), response.size(), totalQueued_);
  conn->takeHandshake();
  // The user saw this connection (UPGRADE) but it never opened: no CLOSE event for it.
  conn->known = false;
  if (conn->readPaused) {
    conn->readPaused = false;
    updateInterest(conn);
  }
  beginDraining(conn);
  return static_cast<int>(CallStatus::OK);
}

Server::AdoptResult Server::adopt(int fd, std::string_view key, std::string_view protocol,
                                  std::string_view extensions, std::string_view extraHeaderLines,
                                  const uint8_t* head, size_t headLength) {
  AdoptResult result;
  int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    result.error = errno;
    return result;
  }
  UniqueFd owned(own);
  int flags = ::fcntl(own, F_GETFL);
  if (flags < 0 || ::fcntl(own, F_SETFL, flags | O_NONBLOCK) != 0) {
    result.error = errno;
    return result;
  }
  owned.release();  // the connection's transport owns it from here
  Connection* conn = addConnection(own);
  if (!conn) {
    result.error = EBADF;
    return result;
  }
  conn->takeHandshake();
  conn->known = true;
  conn->state = ConnState::OPEN;
  conn->lastActivityMs = clockMs();
  armTimer(conn);
  std::string response =
      buildSwitchingProtocolsResponse(computeAcceptKey(key), protocol, extensions, extraHeaderLines);
  conn->output.appendCopy(response.data(), response.size(), totalQueued_);
  conn->releaseOutput = true;
  markDirty(conn);
  result.id = {conn->slot, conn->generation};
  if (headLength) {
    std::vector<uint8_t> frames(head, head + headLength);  // parsed in place: do not touch the caller's
    consumeFrames(conn, frames.data(), frames.size());
    if (!batch_.empty()) noteEventQueued();
  }
  return result;
}

}  // namespace epollws
