// Request-head reader and validator (native/core/http_upgrade.h).
#include "http_upgrade.h"

#include <utility>

#include "check.h"

using namespace epollws;
using State = UpgradeParser::State;

static const std::string VALID =
    "GET /chat?room=1 HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

// A masked client frame that arrives in the same read as the head.
static const std::string FRAME("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);

// Feeds `input` in chunks cut at `cuts` (sorted offsets); returns the final state and collects what
// was left over after the head in *rest.
static State feedCuts(UpgradeParser& p, const std::string& input, const std::vector<size_t>& cuts,
                      std::string* rest) {
  State s = State::NEED_MORE;
  size_t from = 0;
  std::vector<size_t> ends(cuts);
  ends.push_back(input.size());
  for (size_t to : ends) {
    // An exact-size copy so that ASan sees any read past the chunk.
    std::vector<char> chunk(input.begin() + from, input.begin() + to);
    size_t head = 12345;
    s = p.feed(chunk.data(), chunk.size(), &head);
    CHECK(head <= chunk.size());
    if (s == State::COMPLETE && rest != nullptr) rest->append(chunk.data() + head, chunk.size() - head);
    if (s == State::NEED_MORE) CHECK_EQ(head, chunk.size());
    from = to;
  }
  return s;
}

static void checkValidRequest(const UpgradeParser& p) {
  const UpgradeRequest& r = p.request();
  CHECK_EQ(r.method, "GET");
  CHECK_EQ(r.target, "/chat?room=1");
  CHECK_EQ(r.httpVersion, "HTTP/1.1");
  CHECK_EQ(r.host, "server.example.com");
  CHECK_EQ(r.key, "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK_EQ(r.version, "13");
  CHECK_EQ(r.protocols, "chat, superchat");
  CHECK_EQ(r.extensions, "");
  CHECK_EQ(r.origin, "http://example.com");
  CHECK_EQ(r.headers.size(), size_t(7));
  if (r.headers.size() == 7) {
    CHECK_EQ(r.headers[0].name, "Host");
    CHECK_EQ(r.headers[2].value, "Upgrade");
    CHECK_EQ(r.headers[6].name, "Sec-WebSocket-Version");
  }
  CHECK_EQ(p.rawHead(), VALID);
}

static void testValidWhole() {
  UpgradeParser p;
  size_t head = 0;
  CHECK(p.feed(VALID.data(), VALID.size(), &head) == State::COMPLETE);
  CHECK_EQ(head, VALID.size());
  CHECK(p.state() == State::COMPLETE);
  checkValidRequest(p);
  // Later feeds consume nothing: those bytes are frames.
  CHECK(p.feed(FRAME.data(), FRAME.size(), &head) == State::COMPLETE);
  CHECK_EQ(head, size_t(0));
  CHECK(p.feed(nullptr, 0, nullptr) == State::COMPLETE);
}

static void testValidWithTrailingFrame() {
  std::string input = VALID + FRAME;
  UpgradeParser p;
  size_t head = 0;
  CHECK(p.feed(input.data(), input.size(), &head) == State::COMPLETE);
  CHECK_EQ(head, VALID.size());
  checkValidRequest(p);
}

static void testValidByteByByte() {
  std::string input = VALID + FRAME;
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
  UpgradeParser p;
  std::string rest;
  CHECK(feedCuts(p, input, cuts, &rest) == State::COMPLETE);
  CHECK_EQ(rest, FRAME);
  checkValidRequest(p);
}

static void testValidEverySplit() {
  std::string input = VALID + FRAME;
  int bad = 0;
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    UpgradeParser p;
    std::string rest;
    if (feedCuts(p, input, {cut}, &rest) != State::COMPLETE || rest != FRAME ||
        p.rawHead() != VALID || p.request().key != "dGhlIHNhbXBsZSBub25jZQ==") {
      ++bad;
    }
  }
  CHECK_EQ(bad, 0);
  // Two cuts, around the terminator where the CRLF state machine matters most.
  bad = 0;
  for (size_t a = VALID.size() - 8; a < input.size(); ++a) {
    for (size_t b = a; b <= input.size(); ++b) {
      UpgradeParser p;
      std::string rest;
      if (feedCuts(p, input, {a, b}, &rest) != State::COMPLETE || rest != FRAME) ++bad;
    }
  }
  CHECK_EQ(bad, 0);
}

static void testMoveKeepsViews() {
  UpgradeParser p;
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\n";
  CHECK(p.feed(req.data(), req.size(), nullptr) == State::COMPLETE);
  UpgradeParser q(std::move(p));
  CHECK_EQ(q.request().host, "h");
  CHECK_EQ(q.request().protocols, "a, b");
  UpgradeParser r;
  r = std::move(q);
  CHECK_EQ(r.request().target, "/");
  CHECK_EQ(r.request().protocols, "a, b");
  CHECK_EQ(r.rawHead(), req);
}

// Every split of a failing request must fail the same way.
static void expectFailure(const std::string& input, int status, const char* reason = nullptr) {
  UpgradeParser whole;
  size_t head = 0;
  State s = whole.feed(input.data(), input.size(), &head);
  CHECK(s == State::FAILED);
  CHECK_EQ(whole.failureStatus(), status);
  if (reason != nullptr) CHECK_EQ(std::string(whole.failureReason()), reason);
  if (s != State::FAILED || whole.failureStatus() != status) {
    std::fprintf(stderr, "  request: %s\n  got status %d (%s)\n", input.c_str(),
                 whole.failureStatus(), whole.failureReason());
  }
  CHECK(std::string(whole.failureReason()).size() > 0);
  // A failed parser stays failed.
  CHECK(whole.feed(VALID.data(), VALID.size(), &head) == State::FAILED);
  CHECK_EQ(head, size_t(0));

  int bad = 0;
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    UpgradeParser p;
    if (feedCuts(p, input, {cut}, nullptr) != State::FAILED || p.failureStatus() != status) ++bad;
  }
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
  UpgradeParser p;
  if (feedCuts(p, input, cuts, nullptr) != State::FAILED || p.failureStatus() != status) ++bad;
  CHECK_EQ(bad, 0);
}

// VALID with one header line replaced (or removed when `with` is empty).
static std::string replaceLine(std::string_view prefix, std::string_view with) {
  std::string out = VALID;
  size_t at = out.find(std::string(prefix));
  if (at == std::string::npos) return out;
  size_t eol = out.find("\r\n", at);
  out.replace(at, eol + 2 - at, with);
  return out;
}

static std::string insertLine(std::string_view line) {
  std::string out = VALID;
  out.insert(out.size() - 2, line);
  return out;
}

static void testRequestLineFailures() {
  expectFailure("POST /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 405,
                "Invalid HTTP method");
  expectFailure("POST /chat HTTP/1.1\r\nHost: a\r\n\r\n", 426, "Upgrade Required");  // not an upgrade
  expectFailure(replaceLine("GET ", "get / HTTP/1.1\r\n"), 405);
  expectFailure(replaceLine("GET ", "GET / HTTP/1.0\r\n"), 400, "Unsupported HTTP version");
  expectFailure(replaceLine("GET ", "GET / HTTP/2.0\r\n"), 400, "Unsupported HTTP version");
  expectFailure(replaceLine("GET ", "GET / HTTP/0.9\r\n"), 400);
  expectFailure(replaceLine("GET ", "GET /\r\n"), 400, "Malformed HTTP request line");
  expectFailure(replaceLine("GET ", "GET  / HTTP/1.1\r\n"), 400);
  expectFailure(replaceLine("GET ", "GET / HTTP/1.1 \r\n"), 400);
  expectFailure(replaceLine("GET ", "GET /a b HTTP/1.1\r\n"), 400);
  expectFailure(replaceLine("GET ", "GET / http/1.1\r\n"), 400);
  expectFailure(replaceLine("GET ", "GET / HTTP/1.10\r\n"), 400);
  expectFailure(replaceLine("GET ", std::string("GET /\0 HTTP/1.1\r\n", 17)), 400);
  expectFailure(replaceLine("GET ", "G(T / HTTP/1.1\r\n"), 400);
  expectFailure("\r\n", 400);
  expectFailure("\r\nGET / HTTP/1.1\r\n\r\n", 400);
}

static void testHeaderSyntaxFailures() {
  expectFailure(insertLine("X-Folded: a\r\n b\r\n"), 400, "Malformed HTTP header line");
  expectFailure(insertLine("\tX: a\r\n"), 400);
  expectFailure(insertLine("X-Space : a\r\n"), 400);
  expectFailure(insertLine("X Space: a\r\n"), 400);
  expectFailure(insertLine(": a\r\n"), 400);
  expectFailure(insertLine("NoColon\r\n"), 400);
  expectFailure(insertLine(std::string("X-Nul: a\0b\r\n", 12)), 400, "Invalid character in header value");
  expectFailure(insertLine("X-Ctl: a\x01 b\r\n"), 400);
  expectFailure(insertLine("X-Del: a\x7f\r\n"), 400);
  // Line endings.
  expectFailure("GET / HTTP/1.1\nHost: a\n\n", 400, "Invalid line ending in request head (CRLF required)");
  expectFailure(insertLine("X-Lf: a\nb\r\n"), 400);
  expectFailure(insertLine("X-Cr: a\rb\r\n"), 400);
  expectFailure("GET / HTTP/1.1\r\nHost: a\r\n\r\r", 400);
  // Bare LF fails immediately, without waiting for more input.
  UpgradeParser p;
  CHECK(p.feed("GET / HTTP/1.1\n", 15, nullptr) == State::FAILED);
}

static void testHeaderValueRules() {
  // obs-text and HTAB are fine, OWS is trimmed.
  std::string req = insertLine("X-Latin: caf\xe9\tok\r\nX-Empty:\r\nX-Ows: \t v \t\r\n");
  UpgradeParser p;
  CHECK(p.feed(req.data(), req.size(), nullptr) == State::COMPLETE);
  const auto& h = p.request().headers;
  CHECK_EQ(h.size(), size_t(10));
  if (h.size() == 10) {
    CHECK_EQ(h[7].value, "caf\xe9\tok");
    CHECK_EQ(h[8].name, "X-Empty");
    CHECK_EQ(h[8].value, "");
    CHECK_EQ(h[9].value, "v");
  }
}

static void testValidationFailures() {
  expectFailure(replaceLine("Host:", ""), 400, "Missing Host header");
  expectFailure(insertLine("Host: other\r\n"), 400, "Duplicate Host header");
  // Not an upgrade at all (what node:http would not call one): ws's own server answers 426.
  expectFailure(replaceLine("Upgrade:", ""), 426, "Upgrade Required");
  expectFailure(replaceLine("Upgrade:", "Upgrade: h2c\r\n"), 400, "Invalid Upgrade header");
  expectFailure(replaceLine("Upgrade:", "Upgrade: websockets\r\n"), 400);
  expectFailure(replaceLine("Connection:", ""), 426, "Upgrade Required");
  expectFailure(replaceLine("Connection:", "Connection: keep-alive\r\n"), 426);
  expectFailure(replaceLine("Connection:", "Connection: upgrades\r\n"), 426);
  const char* keyReason = "Missing or invalid Sec-WebSocket-Key header";
  expectFailure(replaceLine("Sec-WebSocket-Key:", ""), 400, keyReason);
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"), 400);
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n"), 400);
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n"), 400);
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n"), 400);
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-=\r\n"), 400);
  // base64 of 18 bytes: valid base64, wrong length.
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n"), 400);
  expectFailure(replaceLine("Sec-WebSocket-Key:", "Sec-WebSocket-Key: \r\n"), 400);
  expectFailure(insertLine("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), 400, keyReason);
  const char* versionReason = "Missing or invalid Sec-WebSocket-Version header";
  expectFailure(replaceLine("Sec-WebSocket-Version:", ""), 400, versionReason);
  expectFailure(replaceLine("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 7\r\n"), 400, versionReason);
  expectFailure(replaceLine("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 13, 8\r\n"), 400);
  expectFailure(replaceLine("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 013\r\n"), 400);
  // Draft 8 (same framing) is spoken, as by ws.
  {
    std::string v8 = replaceLine("Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8\r\n");
    UpgradeParser p;
    CHECK(p.feed(v8.data(), v8.size(), nullptr) == State::COMPLETE);
    CHECK_EQ(p.request().version, "8");
  }
  expectFailure(insertLine("Sec-WebSocket-Version: 13\r\n"), 400, "Duplicate Sec-WebSocket-Version header");
  expectFailure(insertLine("Origin: http://evil.example\r\n"), 400, "Duplicate Origin header");
}

static void testValidationOrder() {
  // A request that is not an upgrade gets 426 whatever its method (ws's own http server).
  expectFailure("PUT / HTTP/1.1\r\n\r\n", 426, "Upgrade Required");
  expectFailure("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 426);
  expectFailure("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\r\n", 426);
  // Then the method, as ws does; then Host, Upgrade, key, version.
  expectFailure("PUT / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 405);
  expectFailure("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400, "Unsupported HTTP version");
  expectFailure("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", 400, "Missing Host header");
  expectFailure("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", 400, "Invalid Upgrade header");
  expectFailure("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                "Sec-WebSocket-Version: 8\r\n\r\n",
                400, "Missing or invalid Sec-WebSocket-Key header");
}

static void testCaseAndTokens() {
  std::string req =
      "GET / HTTP/1.1\r\n"
      "hOsT: a:8080\r\n"
      "UPGRADE: WebSocket\r\n"
      "connection: keep-alive, Upgrade\r\n"
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "SEC-WEBSOCKET-VERSION: 13\r\n"
      "sec-websocket-extensions: permessage-deflate\r\n"
      "Sec-WebSocket-Extensions: x-foo\r\n"
      "\r\n";
  UpgradeParser p;
  CHECK(p.feed(req.data(), req.size(), nullptr) == State::COMPLETE);
  CHECK_EQ(p.request().host, "a:8080");
  CHECK_EQ(p.request().key, "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK_EQ(p.request().extensions, "permessage-deflate, x-foo");
  CHECK_EQ(p.request().headers[0].name, "hOsT");  // names are kept as sent

  // Upgrade/Connection may each be split over several lines.
  std::string split =
      "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
      "Connection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  UpgradeParser q;
  CHECK(q.feed(split.data(), split.size(), nullptr) == State::COMPLETE);
  CHECK_EQ(q.request().protocols, "");
  CHECK_EQ(q.request().origin, "");

  CHECK(headerHasToken("keep-alive, Upgrade", "upgrade"));
  CHECK(headerHasToken("Upgrade", "upgrade"));
  CHECK(headerHasToken(" ,  upgrade\t,", "UPGRADE"));
  CHECK(!headerHasToken("upgrades", "upgrade"));
  CHECK(!headerHasToken("up grade", "upgrade"));
  CHECK(!headerHasToken("", "upgrade"));
  CHECK(!headerHasToken("keep-alive", "upgrade"));

  CHECK(isHttpToken("Sec-WebSocket-Protocol"));
  CHECK(!isHttpToken(""));
  CHECK(!isHttpToken("a b"));
  CHECK(!isHttpToken("a:b"));
  CHECK(isHttpFieldValue("a b\tc"));
  CHECK(isHttpFieldValue(""));
  CHECK(!isHttpFieldValue(" a"));
  CHECK(!isHttpFieldValue("a\r\nX-Injected: 1"));
}

static void testRepeatedProtocols() {
  std::string req = replaceLine("Sec-WebSocket-Protocol:",
                                "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol:\r\n"
                                "sec-websocket-protocol: superchat , v2\r\n");
  for (size_t cut = 0; cut <= req.size(); ++cut) {
    UpgradeParser p;
    CHECK(feedCuts(p, req, {cut}, nullptr) == State::COMPLETE);
    CHECK_EQ(p.request().protocols, "chat, superchat , v2");
  }
}

static void testOversize() {
  // A head of exactly the limit is fine; one byte more is 431, however it is split.
  size_t limit = VALID.size();
  {
    UpgradeParser p(limit);
    CHECK(p.feed(VALID.data(), VALID.size(), nullptr) == State::COMPLETE);
  }
  {
    UpgradeParser p(limit - 1);
    size_t head = 0;
    CHECK(p.feed(VALID.data(), VALID.size(), &head) == State::FAILED);
    CHECK_EQ(p.failureStatus(), 431);
    CHECK_EQ(std::string(p.failureReason()), "Request header fields too large");
  }
  {
    UpgradeParser p(limit - 1);
    State s = State::NEED_MORE;
    size_t fedBeforeFailure = 0;
    for (size_t i = 0; i < VALID.size() && s == State::NEED_MORE; ++i) {
      s = p.feed(&VALID[i], 1, nullptr);
      if (s == State::NEED_MORE) ++fedBeforeFailure;
    }
    CHECK(s == State::FAILED);
    CHECK_EQ(p.failureStatus(), 431);
    CHECK_EQ(fedBeforeFailure, limit - 1);
    CHECK(p.rawHead().size() <= limit - 1);
  }
  // An endless header line with the default limit, fed in 1000-byte reads and byte by byte.
  std::string endless = "GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'a');
  {
    UpgradeParser p;
    State s = State::NEED_MORE;
    for (size_t off = 0; off < endless.size() && s == State::NEED_MORE; off += 1000) {
      s = p.feed(endless.data() + off, std::min<size_t>(1000, endless.size() - off), nullptr);
    }
    CHECK(s == State::FAILED);
    CHECK_EQ(p.failureStatus(), 431);
    CHECK(p.rawHead().size() <= UpgradeParser::DEFAULT_MAX_HEADER_SIZE);
  }
  {
    UpgradeParser p;
    State s = State::NEED_MORE;
    size_t fed = 0;
    for (; fed < endless.size() && s == State::NEED_MORE; ++fed) s = p.feed(&endless[fed], 1, nullptr);
    CHECK(s == State::FAILED);
    CHECK_EQ(p.failureStatus(), 431);
    CHECK_EQ(fed, UpgradeParser::DEFAULT_MAX_HEADER_SIZE + 1);
  }
  // Many small headers count too.
  std::string many = "GET / HTTP/1.1\r\n";
  while (many.size() < 17000) many += "X: y\r\n";
  many += "\r\n";
  expectFailure(many, 431);
}

static void testRelease() {
  UpgradeParser p;
  CHECK(p.feed(VALID.data(), VALID.size(), nullptr) == State::COMPLETE);
  p.release();
  CHECK(p.rawHead().empty());
  CHECK(p.request().headers.empty());
  CHECK(p.request().key.empty());
  CHECK(p.state() == State::COMPLETE);
  // Releasing a half-read parser (e.g. on handshake timeout) is fine too.
  UpgradeParser q;
  CHECK(q.feed(VALID.data(), 10, nullptr) == State::NEED_MORE);
  q.release();
  CHECK(q.rawHead().empty());
}

int main() {
  testValidWhole();
  testValidWithTrailingFrame();
  testValidByteByByte();
  testValidEverySplit();
  testMoveKeepsViews();
  testRequestLineFailures();
  testHeaderSyntaxFailures();
  testHeaderValueRules();
  testValidationFailures();
  testValidationOrder();
  testCaseAndTokens();
  testRepeatedProtocols();
  testOversize();
  testRelease();
  return CHECK_SUMMARY("http_upgrade_test");
}
