// The upgrade flow: read the request head (after a PROXY header when configured), refuse what
// RFC 6455 §4.2.1 forbids, hand valid requests to the user, and answer with 101 (acceptUpgrade) or
// an HTTP error (rejectUpgrade). adoptHandshake() takes over a connection whose request head
// node:http read and runs it through the same parser and checks, so both paths refuse alike.
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
  if (hs.refusalHeld) return;  // the user answers this one; what the client sends is not read
  if (hs.awaitingProxyHeader) {
    readProxyHeader(conn, data, len);
    return;
  }
  size_t headBytes = 0;
  UpgradeParser::State state = hs.parser.feed(reinterpret_cast<const char*>(data), len, &headBytes);
  if (state == UpgradeParser::State::NEED_MORE) return;
  if (state == UpgradeParser::State::FAILED) {
    refuseHandshake(conn, hs.parser.failure());
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
    refuseHandshake(conn, HandshakeFailure::INVALID_PROXY_HEADER);
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
    refuseHandshake(conn, HandshakeFailure::TOO_MANY_CONNECTIONS);
    return;
  }
  if (!hs.adopted && !options_.path.empty() && pathOf(request.target) != options_.path) {
    refuseHandshake(conn, HandshakeFailure::PATH_NOT_SERVED);
    return;
  }
  hs.acceptKey = computeAcceptKey(request.key);
  hs.pendingInput.assign(rest, rest + restLen);

  // Reading goes on while the user decides (see Connection::onReady): pausing and resuming would cost
  // two epoll_ctl calls per handshake.
  conn->state = ConnState::AWAITING_ACCEPT;
  conn->known = true;
  if (hs.adopted) return;  // the user has the request (node:http's IncomingMessage)

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

void Server::refuseHandshake(Connection* conn, HandshakeFailure failure) {
  const HandshakeFailureInfo& info = handshakeFailureInfo(failure);
  HandshakeState& hs = *conn->handshake();
  if (!hs.adopted) {
    queueClientError(conn, failure, holdRefusals_);
    if (holdRefusals_) {
      hs.refusalHeld = true;
      hs.parser.release();
      std::vector<uint8_t>().swap(hs.pendingInput);
      hs.proxyBytes.release();
      return;
    }
  }
  std::string_view lines = failure == HandshakeFailure::INVALID_VERSION ? SUPPORTED_VERSIONS_HEADER : "";
  std::string response = buildHttpErrorResponse(info.status, lines, {info.message});
  conn->output.appendCopy(response.data(), response.size(), totalQueued_);
  conn->takeHandshake();
  beginDraining(conn);
}

// CLIENT_ERROR: arg is the HandshakeFailure; the payload "message\0address\0port\0head", where head
// is the request head when it was read whole and its lines parsed (refused for what it says, as
// ws's wsClientError gets node's request), else empty.
void Server::queueClientError(Connection* conn, HandshakeFailure failure, bool held) {
  const char* reason = handshakeFailureInfo(failure).message;
  PeerAddress peer = peerOf(conn);
  std::string port = std::to_string(peer.port);
  std::string_view head;
  switch (failure) {
    case HandshakeFailure::INVALID_LINE_ENDING:
    case HandshakeFailure::HEADERS_TOO_LARGE:
    case HandshakeFailure::MALFORMED_REQUEST_LINE:
    case HandshakeFailure::MALFORMED_HEADER_LINE:
    case HandshakeFailure::INVALID_HEADER_VALUE:
    case HandshakeFailure::INVALID_PROXY_HEADER:
      break;  // no request to show (node:http would not have parsed one either)
    default:
      head = conn->handshake()->parser.rawHead();
  }
  size_t reasonLength = std::strlen(reason);
  size_t length = reasonLength + 1 + peer.address.size() + 1 + port.size() + 1 + head.size();
  uint8_t* out = batch_.add(EventKind::CLIENT_ERROR, conn->slot, conn->generation, static_cast<uint32_t>(length),
                            static_cast<uint32_t>(failure) | (held ? CLIENT_ERROR_HELD : 0));
  auto put = [&out](const void* bytes, size_t n) {
    if (n) std::memcpy(out, bytes, n);
    out += n;
  };
  put(reason, reasonLength);
  put("\0", 1);
  put(peer.address.data(), peer.address.size());
  put("\0", 1);
  put(port.data(), port.size());
  put("\0", 1);
  put(head.data(), head.size());
  noteEventQueued();
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
  DeflateNegotiation deflate = negotiateDeflate(hs->parser.request().extensions, options_.deflate);
  if (deflate.accepted) {
    extensions = deflate.response;
    conn->ensureExtras().deflate = std::make_unique<PerMessageDeflate>(deflate.params, options_.deflate);
    conn->parser.allowRsv1();
  }
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
  // The 101 leaves now, as ws writes it: the user's first bufferedAmount is its own data, and a
  // terminate() from the 'connection' handler still lets the client see the connection open.
  conn->flush(host_);
  if (conn->state == ConnState::CLOSED) return static_cast<int>(CallStatus::OK);  // the client left
  if (!hs->pendingInput.empty()) {
    // Frames that arrived with the request head: parse them now, as if just read.
    consumeFrames(conn, hs->pendingInput.data(), hs->pendingInput.size());
    if (!batch_.empty()) noteEventQueued();
  }
  return static_cast<int>(deflate.accepted ? CallStatus::ACCEPTED_DEFLATE : CallStatus::OK);
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

Connection* Server::heldRefusal(ConnectionId id) const {
  Connection* conn = lookup(id);
  if (!conn || conn->state == ConnState::CLOSED) return nullptr;
  HandshakeState* hs = conn->handshake();
  return hs && hs->refusalHeld ? conn : nullptr;
}

int Server::writeRefusal(ConnectionId id, const uint8_t* data, size_t length) {
  Connection* conn = heldRefusal(id);
  if (!conn) return static_cast<int>(CallStatus::CLOSED);  // answered, gone, or never held
  conn->output.appendCopy(data, length, totalQueued_);
  markDirty(conn);
  return static_cast<int>(CallStatus::OK);
}

int Server::endRefusal(ConnectionId id) {
  Connection* conn = heldRefusal(id);
  if (!conn) return static_cast<int>(CallStatus::CLOSED);  // answered, gone, or never held
  conn->takeHandshake();
  beginDraining(conn);  // what the user wrote goes out, then FIN
  return static_cast<int>(CallStatus::OK);
}

Server::AdoptResult Server::adoptHandshake(int fd, std::string_view requestHead, const uint8_t* rest,
                                           size_t restLength, bool servePath, bool answerRefusal) {
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
  adoptRequest(conn, result, requestHead, rest, restLength, servePath, answerRefusal);
  return result;
}

// The part of an adoption that is the same whatever carries the bytes (an fd, a stream).
void Server::adoptRequest(Connection* conn, AdoptResult& result, std::string_view requestHead, const uint8_t* rest,
                          size_t restLength, bool servePath, bool answerRefusal) {
  result.id = {conn->slot, conn->generation};
  HandshakeState& hs = *conn->handshake();
  hs.adopted = true;
  hs.awaitingProxyHeader = false;  // node:http read the request first: no PROXY header is in front
  setDeadline(conn, options_.handshakeTimeoutMs);  // the decision gets the same time on both paths

  // node:http parsed a complete head, so the rebuilt one is complete too; NEED_MORE would mean a
  // head without its blank line, which no client sent.
  size_t headBytes = 0;
  UpgradeParser::State state = hs.parser.feed(requestHead.data(), requestHead.size(), &headBytes);
  if (state == UpgradeParser::State::FAILED) {
    result.failure = hs.parser.failure();
  } else if (state == UpgradeParser::State::NEED_MORE || headBytes != requestHead.size()) {
    result.failure = HandshakeFailure::MALFORMED_HEADER_LINE;
  } else if (!servePath) {
    result.failure = HandshakeFailure::PATH_NOT_SERVED;
  } else if (options_.maxConnections && liveConnections_ > options_.maxConnections) {
    result.failure = HandshakeFailure::TOO_MANY_CONNECTIONS;
  }
  if (result.failure == HandshakeFailure::NONE) {
    finishHandshakeHead(conn, rest, restLength);
  } else if (answerRefusal) {
    refuseHandshake(conn, result.failure);
  } else {
    closeConnection(conn);  // the user answers on node's socket; the core's copy just goes
  }
}

}  // namespace epollws
