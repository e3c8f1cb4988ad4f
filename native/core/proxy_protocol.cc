#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string_view>

namespace epollws {

namespace {

using State = ProxyHeader::State;

// --- v1 (text) ---
constexpr std::string_view V1_PREFIX = "PROXY ";
// The longest line a v1 sender may emit, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses
// and ports); the spec lets a receiver give up after this many bytes without a CRLF.
constexpr size_t V1_MAX_LINE = 107;
constexpr size_t V1_FIELDS = 5;  // protocol, source, destination, source port, destination port
constexpr size_t IPV4_TEXT_MAX = 15;  // "255.255.255.255"
constexpr size_t IPV6_TEXT_MAX = 45;  // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
constexpr size_t PORT_TEXT_MAX = 5;
constexpr uint32_t PORT_MAX = 65535;

// --- v2 (binary) ---
constexpr uint8_t V2_SIGNATURE[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr size_t V2_SIGNATURE_SIZE = sizeof(V2_SIGNATURE);
constexpr size_t V2_VER_CMD_OFFSET = 12;
constexpr size_t V2_FAMILY_OFFSET = 13;
constexpr size_t V2_FIXED_SIZE = 16;  // signature, ver/cmd, family, 2-byte length
constexpr size_t V2_MAX_PAYLOAD = MAX_PROXY_HEADER - V2_FIXED_SIZE;
constexpr uint8_t V2_VERSION = 0x2;
constexpr uint8_t V2_CMD_LOCAL = 0x0;
constexpr uint8_t V2_CMD_PROXY = 0x1;
// Address family (high nibble) and transport (low nibble): the only values the spec defines.
constexpr uint8_t V2_UNSPEC = 0x00;
constexpr uint8_t V2_TCP4 = 0x11;
constexpr uint8_t V2_UDP4 = 0x12;
constexpr uint8_t V2_TCP6 = 0x21;
constexpr uint8_t V2_UDP6 = 0x22;
constexpr uint8_t V2_UNIX_STREAM = 0x31;
constexpr uint8_t V2_UNIX_DGRAM = 0x32;
// Address block sizes: two addresses and two ports (unix: two 108-byte paths, no ports).
constexpr size_t V2_INET_BLOCK = 4 + 4 + 2 + 2;
constexpr size_t V2_INET6_BLOCK = 16 + 16 + 2 + 2;
constexpr size_t V2_UNIX_BLOCK = 108 + 108;

ProxyHeader withState(State state) {
  ProxyHeader h;
  h.state = state;
  return h;
}

// Text form of an address through inet_ntop, so that v1 and v2 give the same canonical spelling.
std::string addressText(int af, const void* addr) {
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(af, addr, text, sizeof(text)) == nullptr) return std::string();
  return std::string(text);
}

// --- v1 ---

enum class V1Proto { PENDING, TCP4, TCP6, UNKNOWN };

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool isPrefixOf(std::string_view part, std::string_view word) {
  return part.size() <= word.size() && word.compare(0, part.size(), part) == 0;
}

// inet_pton wants a NUL-terminated string; the field is a view into the socket bytes.
bool parseV1Address(std::string_view text, V1Proto proto, void* out) {
  char copy[IPV6_TEXT_MAX + 1];
  if (text.empty() || text.size() > IPV6_TEXT_MAX) return false;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return inet_pton(proto == V1Proto::TCP4 ? AF_INET : AF_INET6, copy, out) == 1;
}

// Checks one space-separated field after "PROXY ". `whole` is false while the field runs to the end of
// the bytes received so far and may still grow, in which case only what those bytes already rule out
// fails. Sets `proto` once the protocol field is whole.
bool checkV1Field(size_t index, std::string_view field, bool whole, V1Proto& proto) {
  if (index == 0) {
    if (!whole) {
      return isPrefixOf(field, "TCP4") || isPrefixOf(field, "TCP6") || isPrefixOf(field, "UNKNOWN");
    }
    if (field == "TCP4") {
      proto = V1Proto::TCP4;
    } else if (field == "TCP6") {
      proto = V1Proto::TCP6;
    } else if (field == "UNKNOWN") {
      proto = V1Proto::UNKNOWN;
    } else {
      return false;
    }
    return true;
  }
  if (index >= V1_FIELDS) return false;
  if (whole && field.empty()) return false;  // two spaces in a row, or a space before the CRLF
  if (index <= 2) {
    bool v4 = proto == V1Proto::TCP4;
    if (field.size() > (v4 ? IPV4_TEXT_MAX : IPV6_TEXT_MAX)) return false;
    for (char c : field) {
      bool ok = v4 ? (isDigit(c) || c == '.') : (isHexDigit(c) || c == ':' || c == '.');
      if (!ok) return false;
    }
    if (!whole) return true;
    // Also rejects octets with leading zeros, which the spec forbids (they read as octal elsewhere).
    unsigned char addr[sizeof(in6_addr)];
    return parseV1Address(field, proto, addr);
  }
  // Ports: decimal, no leading zeros (again to avoid an octal reading), at most 65535.
  if (field.size() > PORT_TEXT_MAX) return false;
  if (field.size() > 1 && field[0] == '0') return false;
  uint32_t value = 0;
  for (char c : field) {
    if (!isDigit(c)) return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  return value <= PORT_MAX;
}

ProxyHeader parseV1(const uint8_t* data, size_t len) {
  const char* text = reinterpret_cast<const char*>(data);
  size_t prefixSeen = len < V1_PREFIX.size() ? len : V1_PREFIX.size();
  if (V1_PREFIX.compare(0, prefixSeen, text, prefixSeen) != 0) return withState(State::INVALID);

  // Find the CR within the line budget; only printable ASCII may come before it.
  size_t scanEnd = len < V1_MAX_LINE ? len : V1_MAX_LINE;
  size_t cr = std::string_view::npos;
  for (size_t i = 0; i < scanEnd; ++i) {
    unsigned char c = data[i];
    if (c == '\r') {
      cr = i;
      break;
    }
    if (c < 0x20 || c > 0x7E) return withState(State::INVALID);
  }
  bool lineEnded = cr != std::string_view::npos;
  if (!lineEnded && len >= V1_MAX_LINE) return withState(State::INVALID);
  // The LF must fit within the budget too, and must follow the CR directly.
  if (lineEnded && cr + 2 > V1_MAX_LINE) return withState(State::INVALID);
  bool lineComplete = lineEnded && cr + 1 < len;
  if (lineComplete && data[cr + 1] != '\n') return withState(State::INVALID);

  // A CR inside "PROXY " already failed the prefix comparison, so contentEnd >= prefix once it is seen.
  size_t contentEnd = lineEnded ? cr : scanEnd;
  if (contentEnd < V1_PREFIX.size()) return withState(State::NEED_MORE);

  V1Proto proto = V1Proto::PENDING;
  std::string_view fields[V1_FIELDS];
  size_t index = 0;
  size_t start = V1_PREFIX.size();
  for (size_t i = start;; ++i) {
    bool atEnd = i == contentEnd;
    if (!atEnd && text[i] != ' ') continue;
    bool whole = !atEnd || lineEnded;
    std::string_view field(text + start, i - start);
    if (!checkV1Field(index, field, whole, proto)) return withState(State::INVALID);
    fields[index] = field;
    // The spec has the receiver ignore whatever follows UNKNOWN up to the CRLF.
    if (proto == V1Proto::UNKNOWN || atEnd) break;
    ++index;
    start = i + 1;
  }
  if (lineEnded && proto != V1Proto::UNKNOWN && index != V1_FIELDS - 1) {
    return withState(State::INVALID);
  }
  if (!lineComplete) return withState(State::NEED_MORE);

  ProxyHeader h;
  h.state = State::COMPLETE;
  h.length = cr + 2;
  if (proto == V1Proto::UNKNOWN) {
    h.local = true;
    return h;
  }
  unsigned char addr[sizeof(in6_addr)];
  parseV1Address(fields[1], proto, addr);  // cannot fail: checkV1Field accepted it
  int af = proto == V1Proto::TCP4 ? AF_INET : AF_INET6;
  h.family = proto == V1Proto::TCP4 ? 4 : 6;
  h.sourceAddress = addressText(af, addr);
  uint32_t port = 0;
  for (char c : fields[3]) port = port * 10 + static_cast<uint32_t>(c - '0');
  h.sourcePort = static_cast<uint16_t>(port);
  return h;
}

// --- v2 ---

// Address block a PROXY command must carry for this family byte; false for undefined values.
bool v2AddressBlockSize(uint8_t family, size_t* size) {
  switch (family) {
    case V2_UNSPEC:
      *size = 0;
      return true;
    case V2_TCP4:
    case V2_UDP4:
      *size = V2_INET_BLOCK;
      return true;
    case V2_TCP6:
    case V2_UDP6:
      *size = V2_INET6_BLOCK;
      return true;
    case V2_UNIX_STREAM:
    case V2_UNIX_DGRAM:
      *size = V2_UNIX_BLOCK;
      return true;
    default:
      return false;
  }
}

ProxyHeader parseV2(const uint8_t* data, size_t len) {
  size_t signatureSeen = len < V2_SIGNATURE_SIZE ? len : V2_SIGNATURE_SIZE;
  if (std::memcmp(data, V2_SIGNATURE, signatureSeen) != 0) return withState(State::INVALID);
  if (len <= V2_VER_CMD_OFFSET) return withState(State::NEED_MORE);

  uint8_t verCmd = data[V2_VER_CMD_OFFSET];
  uint8_t command = verCmd & 0x0F;
  if ((verCmd >> 4) != V2_VERSION) return withState(State::INVALID);
  if (command != V2_CMD_LOCAL && command != V2_CMD_PROXY) return withState(State::INVALID);
  if (len <= V2_FAMILY_OFFSET) return withState(State::NEED_MORE);

  // LOCAL (health checks from the proxy itself): the spec has the receiver ignore the family byte.
  uint8_t family = data[V2_FAMILY_OFFSET];
  size_t blockSize = 0;
  if (command == V2_CMD_PROXY && !v2AddressBlockSize(family, &blockSize)) {
    return withState(State::INVALID);
  }
  if (len < V2_FIXED_SIZE) return withState(State::NEED_MORE);

  size_t payload = (static_cast<size_t>(data[14]) << 8) | data[15];
  if (payload > V2_MAX_PAYLOAD || payload < blockSize) return withState(State::INVALID);
  if (len < V2_FIXED_SIZE + payload) return withState(State::NEED_MORE);

  ProxyHeader h;
  h.state = State::COMPLETE;
  h.length = V2_FIXED_SIZE + payload;  // TLVs after the address block are skipped with it
  const uint8_t* block = data + V2_FIXED_SIZE;
  if (command == V2_CMD_PROXY && family == V2_TCP4) {
    in_addr addr;
    std::memcpy(&addr, block, sizeof(addr));
    h.family = 4;
    h.sourceAddress = addressText(AF_INET, &addr);
    h.sourcePort = static_cast<uint16_t>((block[8] << 8) | block[9]);
  } else if (command == V2_CMD_PROXY && family == V2_TCP6) {
    in6_addr addr;
    std::memcpy(&addr, block, sizeof(addr));
    h.family = 6;
    h.sourceAddress = addressText(AF_INET6, &addr);
    h.sourcePort = static_cast<uint16_t>((block[32] << 8) | block[33]);
  } else {
    // LOCAL, UNSPEC, UDP and unix sockets: nothing a TCP server can use, so keep the real peer.
    h.local = true;
  }
  return h;
}

}  // namespace

ProxyHeader parseProxyHeader(const uint8_t* data, size_t len) {
  if (len == 0) return withState(State::NEED_MORE);
  if (data[0] == static_cast<uint8_t>(V1_PREFIX[0])) return parseV1(data, len);
  if (data[0] == V2_SIGNATURE[0]) return parseV2(data, len);
  return withState(State::INVALID);
}

}  // namespace epollws
