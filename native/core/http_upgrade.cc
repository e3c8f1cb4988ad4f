#include "http_upgrade.h"

#include <algorithm>
#include <cstring>

#include "http_token.h"

namespace epollws {

namespace {

constexpr std::string_view CRLF = "\r\n";

// VCHAR, obs-text, SP, HTAB: what may appear inside a field value (RFC 9110 §5.5). NUL, CR, LF
// and the other controls are what header-injection and smuggling tricks are made of.
bool isFieldValueChar(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// base64 of exactly 16 bytes: 22 alphabet characters and "==" (the regex ws uses; like ws we do
// not insist that the unused low bits of the last character are zero).
// ws's rule (its subprotocol.parse): comma-separated tokens with optional whitespace around
// them, none empty, none repeated. Sorted views find a repeat in n log n, whatever the count.
bool isValidProtocolList(std::string_view list) {
  std::vector<std::string_view> names;
  while (true) {
    size_t comma = list.find(',');
    std::string_view name = trimOws(list.substr(0, comma));
    if (!isHttpToken(name)) return false;
    names.push_back(name);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) == names.end();
}

bool isValidKey(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    if (!isBase64Char(key[i])) return false;
  }
  return true;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

namespace detail {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace detail

bool headerHasToken(std::string_view headerValue, std::string_view token) {
  while (true) {
    size_t comma = headerValue.find(',');
    if (detail::equalsIgnoreCase(trimOws(headerValue.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    headerValue.remove_prefix(comma + 1);
  }
}

bool isHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool isHttpFieldValue(std::string_view s) {
  if (!s.empty() && (isOws(s.front()) || isOws(s.back()))) return false;
  for (char c : s) {
    if (!isFieldValueChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool isHttpHeaderLines(std::string_view lines) {
  while (!lines.empty()) {
    size_t end = lines.find("\r\n");
    if (end == std::string_view::npos) return false;
    std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !isHttpToken(line.substr(0, colon))) return false;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (!isHttpFieldValue(value)) return false;
  }
  return true;
}

UpgradeParser::UpgradeParser(size_t maxHeaderSize) : maxHeaderSize_(maxHeaderSize) {}

UpgradeParser::State UpgradeParser::fail(HandshakeFailure failure) {
  state_ = State::FAILED;
  failure_ = failure;
  return state_;
}

UpgradeParser::State UpgradeParser::feed(const char* data, size_t len, size_t* headBytes) {
  if (headBytes != nullptr) *headBytes = 0;
  if (state_ != State::NEED_MORE) return state_;

  // Only the bytes that still fit under the limit are scanned, so an oversized head fails with 431
  // at the same byte however the input is split.
  size_t room = maxHeaderSize_ - buffer_.size();
  size_t scanLimit = len < room ? len : room;
  size_t i = 0;
  bool terminated = false;
  bool badLineEnding = false;
  for (; i < scanLimit; ++i) {
    char c = data[i];
    if (afterCr_) {
      afterCr_ = false;
      if (c != '\n') {
        badLineEnding = true;
        break;
      }
      if (lineLength_ == 0) {  // CRLF right after CRLF: the head ends here
        ++i;
        terminated = true;
        break;
      }
      lineLength_ = 0;
    } else if (c == '\r') {
      afterCr_ = true;
    } else if (c == '\n') {
      badLineEnding = true;
      break;
    } else {
      ++lineLength_;
    }
  }
  if (headBytes != nullptr) *headBytes = i;
  // The single copy of each head byte: the views handed out later point into buffer_.
  buffer_.insert(buffer_.end(), data, data + i);

  if (badLineEnding) return fail(HandshakeFailure::INVALID_LINE_ENDING);
  if (terminated) return parseHead();
  if (len > room) return fail(HandshakeFailure::HEADERS_TOO_LARGE);
  return state_;
}

bool UpgradeParser::parseRequestLine(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only.
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);

  if (!isHttpToken(method) || target.empty()) return false;
  for (char c : target) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !isDigit(version[5]) ||
      version[6] != '.' || !isDigit(version[7])) {
    return false;
  }
  request_.method = method;
  request_.target = target;
  request_.httpVersion = version;
  return true;
}

void UpgradeParser::joinInto(std::vector<char>& joined, std::string_view* field,
                             std::string_view value) {
  // Repeated list headers mean the same as one comma-joined header (RFC 9110 §5.3). The common
  // single-header case stays a view into buffer_; only a repeat allocates.
  if (value.empty()) return;
  if (field->empty()) {
    *field = value;
    return;
  }
  if (joined.empty()) joined.assign(field->begin(), field->end());
  joined.insert(joined.end(), {',', ' '});
  joined.insert(joined.end(), value.begin(), value.end());
  *field = std::string_view(joined.data(), joined.size());
}

UpgradeParser::State UpgradeParser::parseHead() {
  std::string_view head(buffer_.data(), buffer_.size());

  // The scan guaranteed that every CR starts a CRLF and that the head ends with an empty line.
  size_t eol = head.find(CRLF);
  if (!parseRequestLine(head.substr(0, eol))) return fail(HandshakeFailure::MALFORMED_REQUEST_LINE);

  // One exact allocation for the header list: every header line ends with the only CR it holds.
  size_t crCount = 0;
  for (const char* p = head.data(); (p = static_cast<const char*>(
                                         std::memchr(p, '\r', head.data() + head.size() - p)));
       ++p) {
    ++crCount;
  }
  request_.headers.reserve(crCount - 2);  // minus the request line and the empty line

  size_t hostCount = 0, keyCount = 0, versionCount = 0, originCount = 0, protocolCount = 0;
  bool upgradeSeen = false;
  bool upgradeOk = false;
  bool connectionOk = false;
  size_t pos = eol + CRLF.size();
  while (true) {
    eol = head.find(CRLF, pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + CRLF.size();
    if (line.empty()) break;

    // A leading SP/HTAB is obs-fold (RFC 9112 §5.2); an empty or non-token name, which includes
    // whitespace before the colon, is a smuggling vector (RFC 9112 §5.1). Both get 400.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail(HandshakeFailure::MALFORMED_HEADER_LINE);
    std::string_view name = line.substr(0, colon);
    if (!isHttpToken(name)) return fail(HandshakeFailure::MALFORMED_HEADER_LINE);
    std::string_view value = trimOws(line.substr(colon + 1));
    for (char c : value) {
      if (!isFieldValueChar(static_cast<unsigned char>(c))) {
        return fail(HandshakeFailure::INVALID_HEADER_VALUE);
      }
    }
    request_.headers.push_back(HttpHeader{name, value});

    using detail::equalsIgnoreCase;
    if (equalsIgnoreCase(name, "Host")) {
      ++hostCount;
      request_.host = value;
    } else if (equalsIgnoreCase(name, "Upgrade")) {
      upgradeSeen = true;
      upgradeOk = upgradeOk || headerHasToken(value, "websocket");
    } else if (equalsIgnoreCase(name, "Connection")) {
      connectionOk = connectionOk || headerHasToken(value, "upgrade");
    } else if (equalsIgnoreCase(name, "Sec-WebSocket-Key")) {
      ++keyCount;
      request_.key = value;
    } else if (equalsIgnoreCase(name, "Sec-WebSocket-Version")) {
      ++versionCount;
      request_.version = value;
    } else if (equalsIgnoreCase(name, "Sec-WebSocket-Protocol")) {
      ++protocolCount;
      joinInto(joinedProtocols_, &request_.protocols, value);
    } else if (equalsIgnoreCase(name, "Sec-WebSocket-Extensions")) {
      joinInto(joinedExtensions_, &request_.extensions, value);
    } else if (equalsIgnoreCase(name, "Origin")) {
      ++originCount;
      request_.origin = value;
    }
  }

  // What node:http calls an upgrade (an Upgrade header and "upgrade" in Connection) or not: a
  // plain request, whatever its method, gets ws's 426 (its own http server's answer).
  if (!upgradeSeen || !connectionOk) return fail(HandshakeFailure::UPGRADE_REQUIRED);
  if (request_.method != "GET") return fail(HandshakeFailure::INVALID_METHOD);
  // HTTP/1.1 or a later 1.x; HTTP/1.0 has no Upgrade mechanism (RFC 6455 §4.1).
  if (request_.httpVersion[5] != '1' || request_.httpVersion[7] == '0') {
    return fail(HandshakeFailure::UNSUPPORTED_HTTP_VERSION);
  }
  // RFC 9112 §3.2: exactly one Host. Two could make us and a proxy disagree on the virtual host.
  if (hostCount == 0) return fail(HandshakeFailure::MISSING_HOST);
  if (hostCount > 1) return fail(HandshakeFailure::DUPLICATE_HOST);
  if (!upgradeOk) return fail(HandshakeFailure::INVALID_UPGRADE);
  if (keyCount != 1 || !isValidKey(request_.key)) {
    return fail(HandshakeFailure::INVALID_KEY);
  }
  if (versionCount > 1) return fail(HandshakeFailure::DUPLICATE_VERSION);
  // 13 (RFC 6455) and 8 (the last draft, same framing) as ws; any other is answered with the
  // versions spoken (refuseHandshake).
  if (request_.version != "13" && request_.version != "8") return fail(HandshakeFailure::INVALID_VERSION);
  // Origin checks (verifyClient) must see the one value the browser sent, not a pick among several.
  if (originCount > 1) return fail(HandshakeFailure::DUPLICATE_ORIGIN);
  if (protocolCount > 0 && !isValidProtocolList(request_.protocols)) return fail(HandshakeFailure::INVALID_SUBPROTOCOL);

  state_ = State::COMPLETE;
  return state_;
}

void UpgradeParser::release() {
  // Swap with empties: clear() alone would keep the capacity. Move-assigning request_ frees its
  // header vector.
  std::vector<char>().swap(buffer_);
  std::vector<char>().swap(joinedProtocols_);
  std::vector<char>().swap(joinedExtensions_);
  request_ = UpgradeRequest();
  afterCr_ = false;
  lineLength_ = 0;
}

}  // namespace epollws
