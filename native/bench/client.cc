#include "client.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "pattern.h"

namespace epollws::bench {
namespace {

constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kMaxResponseHead = 16 * 1024;

enum Opcode : uint8_t { kCont = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

std::string base64(const uint8_t* data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// True when the comma-separated header value holds `token` (case-insensitive), as RFC 7230 lists do.
bool hasToken(const std::string& value, const char* token) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    std::string item = lower(trim(value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos)));
    if (item == token) return true;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

void fail(const char* fmt, ...) {
  std::fflush(stdout);
  std::fputs("loadgen: error: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::exit(1);
}

uint64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void Connection::start(const Target& target, const in_addr* source) {
  int fd = ::socket(target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket(): %s", std::strerror(errno));
  fd_ = UniqueFd(fd);
  int one = 1;
  // Several messages are in flight; Nagle would hold small frames back and measure the delayed-ACK
  // timer instead of the server.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source != nullptr) {
    // Without this, bind() picks the ephemeral port at once from a range shared by all
    // destinations; deferring it to connect() lets the kernel reuse ports per 4-tuple.
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = *source;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, source, buf, sizeof buf);
      fail("bind(%s): %s", buf, std::strerror(errno));
    }
  }
  hostHeader_ = target.hostHeader;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0 && errno != EINPROGRESS)
    fail("connect to %s: %s", hostHeader_.c_str(), std::strerror(errno));
  state_ = State::kConnecting;
  ++shared_.pendingHandshakes;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.ptr = this;
  if (epoll_ctl(shared_.epollFd, EPOLL_CTL_ADD, fd, &ev) != 0) fail("epoll_ctl: %s", std::strerror(errno));
  wantWrite_ = true;
}

void Connection::onEvents(uint32_t events) {
  if (state_ == State::kConnecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) onConnected();
    return;
  }
  if (state_ == State::kTls) {
    driveTls();
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) onReadable();
  if ((events & EPOLLOUT) && fd_.get() >= 0) flush();
}

void Connection::onConnected() {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) fail("connection %u: connect to %s: %s", id_, hostHeader_.c_str(), std::strerror(err));
  if (shared_.tls) {
    ssl_ = SSL_new(shared_.tls);
    if (!ssl_) fail("SSL_new failed");
    SSL_set_fd(ssl_, fd_.get());
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set_connect_state(ssl_);
    state_ = State::kTls;
    driveTls();
    return;
  }
  sendUpgrade();
}

void Connection::driveTls() {
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    sendUpgrade();
    return;
  }
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) {
    setWantWrite(false);
  } else if (err == SSL_ERROR_WANT_WRITE) {
    setWantWrite(true);
  } else {
    fail("connection %u: TLS handshake failed (SSL error %d)", id_, err);
  }
}

ssize_t Connection::ioRead(uint8_t* buf, size_t len) {
  if (!ssl_) return ::recv(fd_.get(), buf, len, 0);
  int n = SSL_read(ssl_, buf, static_cast<int>(len > (1u << 30) ? (1u << 30) : len));
  if (n > 0) return n;
  int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_ZERO_RETURN) return 0;
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (err == SSL_ERROR_SYSCALL && n == 0) return 0;
  errno = EPROTO;
  return -1;
}

ssize_t Connection::ioWrite(const uint8_t* buf, size_t len) {
  if (!ssl_) return ::send(fd_.get(), buf, len, MSG_NOSIGNAL);
  int n = SSL_write(ssl_, buf, static_cast<int>(len > (1u << 30) ? (1u << 30) : len));
  if (n > 0) return n;
  int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  errno = EPIPE;
  return -1;
}

void Connection::sendUpgrade() {
  uint8_t raw[16];
  if (getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) fail("getrandom failed");
  std::string key = base64(raw, sizeof raw);
  std::string concat = key + kGuid;
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(concat.data()), concat.size(), digest);
  expectedAccept_ = base64(digest, sizeof digest);

  std::string req = "GET " + shared_.opts.path + " HTTP/1.1\r\nHost: " + hostHeader_ +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                    "\r\nSec-WebSocket-Version: 13\r\n" +
                    (shared_.opts.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "") +
                    "\r\n";
  state_ = State::kHandshake;
  std::memcpy(reserveOut(req.size()), req.data(), req.size());
  setWantWrite(false);
  flush();
}

void Connection::onReadable() {
  // TLS hands out one record (16 KiB at most) per read: read until it has nothing, not 4 times.
  int rounds = ssl_ ? 256 : 4;
  for (int round = 0; round < rounds; ++round) {
    uint8_t* buf = shared_.readBuf.data();
    ssize_t n = ioRead(buf, shared_.readBuf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      fail("connection %u: recv: %s", id_, std::strerror(errno));
    }
    if (n == 0) fail("connection %u: server closed the TCP connection unexpectedly", id_);
    if (state_ == State::kHandshake) {
      readHandshake(buf, static_cast<size_t>(n));
    } else {
      parseFrames(buf, static_cast<size_t>(n));
    }
    // A short read means the socket is drained; level-triggered epoll reports any later data.
    if (!ssl_ && static_cast<size_t>(n) < shared_.readBuf.size()) break;
  }
  flush();
}

void Connection::readHandshake(const uint8_t* data, size_t len) {
  handshakeIn_.append(reinterpret_cast<const char*>(data), len);
  size_t end = handshakeIn_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (handshakeIn_.size() > kMaxResponseHead) fail("connection %u: handshake response header too large", id_);
    return;
  }
  std::string head = handshakeIn_.substr(0, end + 2);
  std::string rest = handshakeIn_.substr(end + 4);
  std::string().swap(handshakeIn_);
  checkHandshakeResponse(head);
  onOpen();
  if (!rest.empty()) parseFrames(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
}

void Connection::checkHandshakeResponse(const std::string& head) {
  size_t eol = head.find("\r\n");
  std::string status = head.substr(0, eol);
  if (status.compare(0, 13, "HTTP/1.1 101 ") != 0 && status != "HTTP/1.1 101")
    fail("connection %u: expected HTTP/1.1 101, got \"%s\"", id_, status.c_str());
  bool upgrade = false, connection = false, accept = false;
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    std::string line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) fail("connection %u: malformed response header \"%s\"", id_, line.c_str());
    std::string name = lower(trim(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    if (name == "upgrade") {
      upgrade = lower(value) == "websocket";
    } else if (name == "connection") {
      connection = hasToken(value, "upgrade");
    } else if (name == "sec-websocket-accept") {
      if (value != expectedAccept_)
        fail("connection %u: Sec-WebSocket-Accept is \"%s\", expected \"%s\"", id_, value.c_str(),
             expectedAccept_.c_str());
      accept = true;
    } else if (name == "sec-websocket-extensions") {
      if (!shared_.opts.deflate || deflateOn_)
        fail("connection %u: server accepted extension \"%s\" that was not offered", id_, value.c_str());
      std::string why = parseDeflateAnswer(value, deflate_);
      if (!why.empty()) fail("connection %u: bad extension answer \"%s\": %s", id_, value.c_str(), why.c_str());
      deflateOn_ = true;
    }
  }
  if (!upgrade) fail("connection %u: response lacks \"Upgrade: websocket\"", id_);
  if (!connection) fail("connection %u: response lacks \"Connection: Upgrade\"", id_);
  if (!accept) fail("connection %u: response lacks Sec-WebSocket-Accept", id_);
  if (shared_.opts.deflate && !deflateOn_)
    fail("connection %u: the server did not accept permessage-deflate (no Sec-WebSocket-Extensions)", id_);
}

void Connection::onOpen() {
  state_ = State::kOpen;
  --shared_.pendingHandshakes;
  ++shared_.openConnections;
  shared_.lastOpenNs = monotonicNs();
  if (shared_.opts.connectMode && shared_.opts.deflate) {
    // One compressed message each way, so the server holds whatever an idle compressed connection
    // costs after use; the connection counts as open once its echo is verified.
    --shared_.openConnections;
    sentAt_.assign(1, 0);
    queueMessage();
    return;
  }
  if (shared_.opts.connectMode) {
    // Idle connections: give the memory back so the load generator's own footprint stays small.
    std::vector<uint8_t>().swap(out_);
    outOff_ = 0;
    return;
  }
  sentAt_.assign(shared_.opts.inflight, 0);
  if (shared_.sending)
    for (uint32_t i = 0; i < shared_.opts.inflight; ++i) queueMessage();
}

void Connection::parseFrames(const uint8_t* data, size_t len) {
  const bool text = shared_.opts.text;
  shared_.wireIn += len;
  while (len > 0) {
    if (!inPayload_) {
      size_t take = hdrNeed_ - hdrLen_;
      if (take > len) take = len;
      std::memcpy(hdr_ + hdrLen_, data, take);
      hdrLen_ = static_cast<uint8_t>(hdrLen_ + take);
      data += take;
      len -= take;
      if (hdrLen_ < hdrNeed_) return;
      if (hdrLen_ == 2) {
        if (hdr_[1] & 0x80) fail("connection %u: server sent a masked frame", id_);
        uint8_t l7 = hdr_[1] & 0x7F;
        hdrNeed_ = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
        if (hdrLen_ < hdrNeed_) continue;
      }
      onFrameHeader();
      if (!inPayload_) continue;  // empty payload already handled
    }
    size_t take = frameRemaining_ < len ? static_cast<size_t>(frameRemaining_) : len;
    if (frameOpcode_ >= kClose) {
      std::memcpy(ctl_ + ctlLen_, data, take);
      ctlLen_ = static_cast<uint8_t>(ctlLen_ + take);
    } else if (deflateOn_) {
      // Compressed (or not) bytes are checked once the whole message is in.
      msgIn_.insert(msgIn_.end(), data, data + take);
      msgOffset_ += take;
    } else {
      size_t bad = verifyChunk(data, take, msgSeed_, msgOffset_, text);
      if (bad != take) {
        uint64_t off = msgOffset_ + bad;
        fail("connection %u: message %llu: byte %llu is 0x%02x, expected 0x%02x (corrupted or out of order)",
             id_, static_cast<unsigned long long>(recvSeq_), static_cast<unsigned long long>(off), data[bad],
             patternByte(msgSeed_, off, text));
      }
      msgOffset_ += take;
    }
    data += take;
    len -= take;
    frameRemaining_ -= take;
    if (frameRemaining_ == 0) onFrameEnd();
  }
}

void Connection::onFrameHeader() {
  const Options& o = shared_.opts;
  frameFin_ = (hdr_[0] & 0x80) != 0;
  frameOpcode_ = hdr_[0] & 0x0F;
  // RSV1 marks a compressed message, allowed on its first frame once permessage-deflate is on.
  const bool rsv1 = (hdr_[0] & 0x40) != 0;
  const bool firstDataFrame = (frameOpcode_ == kText || frameOpcode_ == kBinary);
  if ((hdr_[0] & 0x30) || (rsv1 && !(deflateOn_ && firstDataFrame)))
    fail("connection %u: frame with RSV bits set (0x%02x)", id_, hdr_[0]);
  uint64_t plen = hdr_[1] & 0x7F;
  if (plen == 126) {
    plen = (static_cast<uint64_t>(hdr_[2]) << 8) | hdr_[3];
  } else if (plen == 127) {
    plen = 0;
    for (int i = 2; i < 10; ++i) plen = (plen << 8) | hdr_[i];
    if (plen >> 63) fail("connection %u: 64-bit frame length with the top bit set", id_);
  }
  hdrLen_ = 0;
  hdrNeed_ = 2;
  frameRemaining_ = plen;
  switch (frameOpcode_) {
    case kClose:
    case kPing:
    case kPong:
      if (!frameFin_ || plen > 125) fail("connection %u: bad control frame (opcode %u)", id_, frameOpcode_);
      ctlLen_ = 0;
      break;
    case kText:
    case kBinary:
      if (inMessage_) fail("connection %u: new data frame inside a fragmented message", id_);
      if ((frameOpcode_ == kText) != o.text)
        fail("connection %u: sent %s, server echoed %s", id_, o.text ? "text" : "binary",
             o.text ? "binary" : "text");
      if (recvSeq_ >= sendSeq_) fail("connection %u: received a message that was never sent", id_);
      inMessage_ = true;
      msgOffset_ = 0;
      msgCompressed_ = rsv1;
      msgIn_.clear();
      msgSeed_ = messageSeed(id_, recvSeq_);
      break;
    case kCont:
      if (!inMessage_) fail("connection %u: continuation frame without a message", id_);
      break;
    default:
      fail("connection %u: reserved opcode %u", id_, frameOpcode_);
  }
  // Compressed, a message may be longer than sent (incompressible data) but not by much.
  if (frameOpcode_ < kClose && msgOffset_ + plen > (deflateOn_ ? o.size + o.size / 8 + 1024 : o.size))
    fail("connection %u: message %llu is longer than the %llu bytes sent", id_,
         static_cast<unsigned long long>(recvSeq_), static_cast<unsigned long long>(o.size));
  inPayload_ = plen > 0;
  if (plen == 0) onFrameEnd();
}

void Connection::onFrameEnd() {
  inPayload_ = false;
  switch (frameOpcode_) {
    case kPing:
      queueFrame(kPong, ctl_, ctlLen_);
      return;
    case kPong:
      return;
    case kClose: {
      unsigned code = ctlLen_ >= 2 ? (static_cast<unsigned>(ctl_[0]) << 8 | ctl_[1]) : 1005;
      std::string reason(reinterpret_cast<const char*>(ctl_) + (ctlLen_ >= 2 ? 2 : 0),
                         ctlLen_ >= 2 ? ctlLen_ - 2 : 0);
      fail("connection %u: server sent close %u \"%s\"", id_, code, reason.c_str());
    }
    default:
      break;
  }
  if (frameFin_) onMessageComplete();
}

void Connection::onMessageComplete() {
  if (deflateOn_) checkDeflatedMessage();
  else if (msgOffset_ != shared_.opts.size)
    fail("connection %u: message %llu has %llu bytes, expected %llu", id_,
         static_cast<unsigned long long>(recvSeq_), static_cast<unsigned long long>(msgOffset_),
         static_cast<unsigned long long>(shared_.opts.size));
  inMessage_ = false;
  uint64_t sent = sentAt_[recvSeq_ % sentAt_.size()];
  ++recvSeq_;
  ++shared_.messages;
  shared_.payloadBytes += shared_.opts.size;
  shared_.latency.record(shared_.now > sent ? shared_.now - sent : 0);
  if (shared_.opts.connectMode) {
    // --connect --deflate: the one message came back intact; now idle, holding nothing.
    ++shared_.openConnections;
    shared_.lastOpenNs = monotonicNs();
    std::vector<uint8_t>().swap(msgIn_);
    std::vector<uint8_t>().swap(out_);
    outOff_ = 0;
    return;
  }
  if (shared_.sending) queueMessage();
}

DeflateCodec& Connection::codec() {
  if (!shared_.opts.connectMode) {
    if (!codec_) codec_ = std::make_unique<DeflateCodec>(deflate_);
    return *codec_;
  }
  if (!shared_.oneShotCodec) shared_.oneShotCodec = std::make_unique<DeflateCodec>(deflate_);
  return *shared_.oneShotCodec;
}

void Connection::checkDeflatedMessage() {
  const Options& o = shared_.opts;
  const std::vector<uint8_t>* got = &msgIn_;
  if (msgCompressed_) {
    DeflateCodec& c = codec();
    if (o.connectMode) c.resetInflater();
    if (!c.inflate(msgIn_.data(), msgIn_.size(), o.size, shared_.inflated))
      fail("connection %u: message %llu: corrupt compressed data or longer than the %llu bytes sent", id_,
           static_cast<unsigned long long>(recvSeq_), static_cast<unsigned long long>(o.size));
    got = &shared_.inflated;
    ++shared_.compressedEchoes;
  }
  jsonMessage(id_, recvSeq_, o.size, shared_.plain);
  if (got->size() != o.size)
    fail("connection %u: message %llu has %zu bytes after inflating, expected %llu", id_,
         static_cast<unsigned long long>(recvSeq_), got->size(), static_cast<unsigned long long>(o.size));
  if (std::memcmp(got->data(), shared_.plain.data(), o.size) != 0) {
    size_t i = 0;
    while ((*got)[i] == shared_.plain[i]) ++i;
    fail("connection %u: message %llu: byte %zu is 0x%02x, expected 0x%02x (corrupted or out of order)", id_,
         static_cast<unsigned long long>(recvSeq_), i, (*got)[i], shared_.plain[i]);
  }
}

void Connection::queueMessage() {
  const Options& o = shared_.opts;
  uint64_t len = o.size;
  if (deflateOn_) {
    jsonMessage(id_, sendSeq_, o.size, shared_.plain);
    shared_.packed.clear();
    DeflateCodec& c = codec();
    if (o.connectMode) c.resetDeflater();
    c.compress(shared_.plain.data(), shared_.plain.size(), shared_.packed);
    len = shared_.packed.size();
  }
  size_t hlen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  uint8_t* p = reserveOut(hlen + 4 + len);
  shared_.wireOut += hlen + 4 + len;
  p[0] = static_cast<uint8_t>(0x80 | (deflateOn_ ? 0x40 : 0) | (o.text ? kText : kBinary));
  if (len < 126) {
    p[1] = static_cast<uint8_t>(0x80 | len);
  } else if (len < 65536) {
    p[1] = 0x80 | 126;
    p[2] = static_cast<uint8_t>(len >> 8);
    p[3] = static_cast<uint8_t>(len);
  } else {
    p[1] = 0x80 | 127;
    for (int i = 0; i < 8; ++i) p[2 + i] = static_cast<uint8_t>(len >> (56 - 8 * i));
  }
  uint8_t* mask = p + hlen;
  nextMask(mask);
  if (deflateOn_) {
    const uint8_t* src = shared_.packed.data();
    for (uint64_t i = 0; i < len; ++i) mask[4 + i] = src[i] ^ mask[i & 3];
  } else {
    fillMaskedPayload(mask + 4, len, messageSeed(id_, sendSeq_), o.text, mask);
  }
  sentAt_[sendSeq_ % sentAt_.size()] = shared_.now;
  ++sendSeq_;
}

void Connection::queueFrame(uint8_t opcode, const uint8_t* payload, size_t len) {
  uint8_t* p = reserveOut(2 + 4 + len);
  p[0] = static_cast<uint8_t>(0x80 | opcode);
  p[1] = static_cast<uint8_t>(0x80 | len);
  nextMask(p + 2);
  for (size_t i = 0; i < len; ++i) p[6 + i] = payload[i] ^ p[2 + (i & 3)];
}

uint8_t* Connection::reserveOut(size_t n) {
  if (outOff_ == out_.size()) {
    out_.clear();
    outOff_ = 0;
  } else if (outOff_ > 65536 && outOff_ * 2 > out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<ptrdiff_t>(outOff_));
    outOff_ = 0;
  }
  size_t old = out_.size();
  out_.resize(old + n);
  return out_.data() + old;
}

void Connection::flush() {
  while (outOff_ < out_.size()) {
    ssize_t n = ioWrite(out_.data() + outOff_, out_.size() - outOff_);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        setWantWrite(true);
        return;
      }
      fail("connection %u: send: %s", id_, std::strerror(errno));
    }
    outOff_ += static_cast<size_t>(n);
  }
  setWantWrite(false);
}

void Connection::setWantWrite(bool want) {
  if (want == wantWrite_) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.ptr = this;
  if (epoll_ctl(shared_.epollFd, EPOLL_CTL_MOD, fd_.get(), &ev) != 0) fail("epoll_ctl: %s", std::strerror(errno));
  wantWrite_ = want;
}

void Connection::nextMask(uint8_t mask[4]) {
  // xorshift64*: masks only need to be unpredictable enough to exercise the server's unmasking
  // with varied keys, not cryptographically random.
  uint64_t x = shared_.maskState;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  shared_.maskState = x;
  uint32_t m = static_cast<uint32_t>((x * 0x2545F4914F6CDD1Dull) >> 32);
  std::memcpy(mask, &m, 4);
}

}  // namespace epollws::bench
