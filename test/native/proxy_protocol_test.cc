// PROXY protocol v1/v2 header reader (native/core/proxy_protocol.h).
#include "proxy_protocol.h"

#include <string>
#include <vector>

#include "check.h"

using namespace epollws;
using State = ProxyHeader::State;

static const std::string HTTP = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
static const std::string V2_SIG("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

// Parses the first `len` bytes of `input` from an exact-size heap copy, so ASan sees any read past them.
static ProxyHeader parsePrefix(const std::string& input, size_t len) {
  std::vector<uint8_t> copy(input.begin(), input.begin() + len);
  return parseProxyHeader(copy.data(), copy.size());
}

static ProxyHeader parse(const std::string& input) { return parsePrefix(input, input.size()); }

// Feeds a growing prefix one byte at a time, the way a connection accumulates reads: every prefix
// shorter than the header must be NEED_MORE, every longer one COMPLETE with the same result.
static ProxyHeader checkByteByByte(const std::string& header) {
  std::string input = header + HTTP;
  for (size_t n = 0; n < header.size(); ++n) {
    ProxyHeader h = parsePrefix(input, n);
    if (h.state != State::NEED_MORE) {
      std::fprintf(stderr, "prefix %zu of a valid header was not NEED_MORE\n", n);
      CHECK(false);
      break;
    }
  }
  ProxyHeader last;
  for (size_t n = header.size(); n <= input.size(); ++n) {
    last = parsePrefix(input, n);
    CHECK(last.state == State::COMPLETE);
    CHECK_EQ(last.length, header.size());
  }
  CHECK_EQ(input.substr(last.length), HTTP);
  return last;
}

// The first prefix length at which the input is INVALID (0 if never); once INVALID it must stay so.
static size_t invalidAt(const std::string& input) {
  size_t first = 0;
  for (size_t n = 1; n <= input.size(); ++n) {
    ProxyHeader h = parsePrefix(input, n);
    if (first == 0) {
      if (h.state == State::INVALID) first = n;
      else CHECK(h.state == State::NEED_MORE);
    } else {
      CHECK(h.state == State::INVALID);
    }
  }
  return first;
}

static bool isInvalid(const std::string& input) { return parse(input).state == State::INVALID; }

static std::string v2(uint8_t verCmd, uint8_t family, const std::string& payload) {
  std::string s = V2_SIG;
  s.push_back(static_cast<char>(verCmd));
  s.push_back(static_cast<char>(family));
  s.push_back(static_cast<char>(payload.size() >> 8));
  s.push_back(static_cast<char>(payload.size() & 0xFF));
  return s + payload;
}

static const std::string V2_IPV4_BLOCK(
    "\xCB\x00\x71\x07"   // 203.0.113.7
    "\xC0\x00\x02\x01"   // 192.0.2.1
    "\xD4\x31"           // 54321
    "\x01\xBB", 12);     // 443
static const std::string V2_IPV6_BLOCK(
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"  // 2001:db8::1
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"  // 2001:db8::2
    "\x00\x50"                                                          // 80
    "\x1F\x90", 36);                                                    // 8080
// An ALPN TLV ("h2") and a NOOP TLV with three bytes of padding.
static const std::string TLVS("\x01\x00\x02h2\x04\x00\x03\x00\x00\x00", 11);

static void testV1Tcp4() {
  const std::string header = "PROXY TCP4 203.0.113.7 192.0.2.1 54321 443\r\n";
  ProxyHeader h = parse(header + HTTP);
  CHECK(h.state == State::COMPLETE);
  CHECK_EQ(h.length, header.size());
  CHECK(!h.local);
  CHECK_EQ(h.family, 4);
  CHECK_EQ(h.sourceAddress, "203.0.113.7");
  CHECK_EQ(h.sourcePort, uint16_t(54321));
  ProxyHeader b = checkByteByByte(header);
  CHECK_EQ(b.sourceAddress, "203.0.113.7");
  CHECK_EQ(b.sourcePort, uint16_t(54321));
  // Nothing after the header at all is fine too.
  CHECK(parse(header).state == State::COMPLETE);
}

static void testV1Tcp6() {
  const std::string header = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
  ProxyHeader h = checkByteByByte(header);
  CHECK(!h.local);
  CHECK_EQ(h.family, 6);
  CHECK_EQ(h.sourceAddress, "2001:db8::1");
  CHECK_EQ(h.sourcePort, uint16_t(0));
  // Non-canonical spellings are accepted and reported canonically.
  h = parse("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 2\r\n");
  CHECK(h.state == State::COMPLETE);
  CHECK_EQ(h.sourceAddress, "2001:db8::1");
  h = parse("PROXY TCP6 ::ffff:203.0.113.7 ::1 1 2\r\n");
  CHECK(h.state == State::COMPLETE);
  CHECK_EQ(h.sourceAddress, "::ffff:203.0.113.7");
  // The longest line the spec allows (107 bytes with CRLF) fits.
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n";
  CHECK_EQ(longest.size(), size_t(104));
  CHECK(parse(longest).state == State::COMPLETE);
}

static void testV1Unknown() {
  ProxyHeader h = checkByteByByte("PROXY UNKNOWN\r\n");
  CHECK(h.local);
  CHECK_EQ(h.family, 0);
  CHECK(h.sourceAddress.empty());
  // Whatever follows UNKNOWN on the line is ignored, up to the 107-byte limit.
  h = checkByteByByte("PROXY UNKNOWN ffff:f::1 whatever 1 2\r\n");
  CHECK(h.local);
  std::string longest = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  CHECK_EQ(longest.size(), size_t(107));
  CHECK(parse(longest).state == State::COMPLETE);
  CHECK(isInvalid("PROXY UNKNOWN " + std::string(107 - 15, 'x') + "\r\n"));
  CHECK(isInvalid("PROXY UNKNOWNX\r\n"));
  CHECK(isInvalid("PROXY UNKNOWN \x01\r\n"));
}

static void testV1Malformed() {
  const char* bad[] = {
      "PROXY\r\n",
      "PROXY \r\n",
      "PROXY TCP4\r\n",
      "PROXY TCP4 \r\n",
      "PROXY TCP4 203.0.113.7\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 54321\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 54321 443 \r\n",        // trailing space
      "PROXY TCP4 203.0.113.7 192.0.2.1 54321 443 8\r\n",       // extra field
      "PROXY TCP4  203.0.113.7 192.0.2.1 54321 443\r\n",        // double space
      "PROXY  TCP4 203.0.113.7 192.0.2.1 54321 443\r\n",
      "PROXY TCP4 203.0.113.256 192.0.2.1 54321 443\r\n",       // bad octet
      "PROXY TCP4 203.0.113 192.0.2.1 54321 443\r\n",           // three octets
      "PROXY TCP4 203.0.113.7 192.0.2.1.5 54321 443\r\n",
      "PROXY TCP4 203.0.113.07 192.0.2.1 54321 443\r\n",        // leading zero in an octet
      "PROXY TCP4 2001:db8::1 192.0.2.1 54321 443\r\n",         // v6 address under TCP4
      "PROXY TCP6 203.0.113.7 2001:db8::2 54321 443\r\n",       // v4 address under TCP6
      "PROXY TCP6 2001:db8:::1 2001:db8::2 54321 443\r\n",
      "PROXY TCP6 2001:db8::g 2001:db8::2 54321 443\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 65536 443\r\n",         // port over 65535
      "PROXY TCP4 203.0.113.7 192.0.2.1 54321 99999\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 123456 443\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 054321 443\r\n",        // leading zero in a port
      "PROXY TCP4 203.0.113.7 192.0.2.1 00 443\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 -1 443\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 +1 443\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 1a 443\r\n",
      "PROXY TCP4 203.0.113.7 192.0.2.1 54321 443\n",           // bare LF
      "PROXY TCP4 203.0.113.7 192.0.2.1 54321 443\rX",          // CR without LF
      "PROXY TCP4 203.0.113.7\t192.0.2.1 54321 443\r\n",        // tab
      "PROXY TCP5 203.0.113.7 192.0.2.1 54321 443\r\n",
      "PROXY tcp4 203.0.113.7 192.0.2.1 54321 443\r\n",
      "proxy TCP4 203.0.113.7 192.0.2.1 54321 443\r\n",         // lowercase keyword
      "PROXYTCP4 203.0.113.7 192.0.2.1 54321 443\r\n",
  };
  for (const char* s : bad) {
    if (!isInvalid(s)) {
      std::fprintf(stderr, "accepted: %s\n", s);
      CHECK(false);
    }
    CHECK(invalidAt(s) > 0);
  }
  // A NUL inside the line.
  CHECK(isInvalid(std::string("PROXY TCP4 203.0.113.7\0 192.0.2.1 54321 443\r\n", 44)));
  // "0" alone is a port, not a leading zero.
  CHECK(parse("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n").state == State::COMPLETE);
}

static void testV1LineLimit() {
  // No CRLF within 107 bytes: INVALID exactly at the 107th byte, not before.
  std::string endless = "PROXY UNKNOWN " + std::string(200, 'x');
  CHECK_EQ(invalidAt(endless), size_t(107));
  // A CR as the 107th byte leaves no room for the LF.
  std::string crLast = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  CHECK_EQ(crLast.size(), size_t(108));
  CHECK_EQ(invalidAt(crLast), size_t(107));
}

static void testV1EarlyInvalid() {
  // Plain HTTP on a PROXY port fails on its first byte.
  CHECK_EQ(invalidAt("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), size_t(1));
  CHECK_EQ(invalidAt("\x16\x03\x01"), size_t(1));  // a TLS ClientHello
  CHECK_EQ(invalidAt("POST / HTTP/1.1\r\n"), size_t(2));
  CHECK_EQ(invalidAt("PROXY TCP5 1.2.3.4 1.2.3.4 1 1\r\n"), size_t(10));
  CHECK_EQ(invalidAt("PROXY TCP4 1.2.3.x 1.2.3.4 1 1\r\n"), size_t(18));
  CHECK_EQ(invalidAt("PROXY TCP4 1.2.3.999 1.2.3.4 1 1\r\n"), size_t(21));  // at the space after it
  CHECK_EQ(invalidAt("PROXY TCP4 1.2.3.4 1.2.3.4 01 1\r\n"), size_t(29));
  CHECK_EQ(invalidAt("PROXY TCP4 1.2.3.4 1.2.3.4 65536 1\r\n"), size_t(32));
  CHECK_EQ(invalidAt("PROXY TCP4 1.2.3.4 1.2.3.4 1 1 1\r\n"), size_t(31));
  CHECK_EQ(invalidAt("PROXY TCP4 1.2.3.4\r\n"), size_t(19));  // too few fields, known at the CR
  // Nothing to decide on empty input.
  CHECK(parseProxyHeader(nullptr, 0).state == State::NEED_MORE);
}

static void testV2Ipv4() {
  std::string header = v2(0x21, 0x11, V2_IPV4_BLOCK);
  ProxyHeader h = parse(header + HTTP);
  CHECK(h.state == State::COMPLETE);
  CHECK_EQ(h.length, size_t(28));
  CHECK(!h.local);
  CHECK_EQ(h.family, 4);
  CHECK_EQ(h.sourceAddress, "203.0.113.7");
  CHECK_EQ(h.sourcePort, uint16_t(54321));
  checkByteByByte(header);
  // With TLVs after the address block: skipped, counted in the length.
  header = v2(0x21, 0x11, V2_IPV4_BLOCK + TLVS);
  h = checkByteByByte(header);
  CHECK_EQ(h.length, size_t(16 + 12 + 11));
  CHECK_EQ(h.sourceAddress, "203.0.113.7");
  CHECK_EQ(h.sourcePort, uint16_t(54321));
}

static void testV2Ipv6() {
  std::string header = v2(0x21, 0x21, V2_IPV6_BLOCK);
  ProxyHeader h = checkByteByByte(header);
  CHECK_EQ(h.length, size_t(52));
  CHECK(!h.local);
  CHECK_EQ(h.family, 6);
  CHECK_EQ(h.sourceAddress, "2001:db8::1");
  CHECK_EQ(h.sourcePort, uint16_t(80));
  h = checkByteByByte(v2(0x21, 0x21, V2_IPV6_BLOCK + TLVS));
  CHECK_EQ(h.length, size_t(16 + 36 + 11));
  CHECK_EQ(h.sourceAddress, "2001:db8::1");
}

static void testV2LocalAndUnspec() {
  // LOCAL: the family byte and any block are ignored.
  ProxyHeader h = checkByteByByte(v2(0x20, 0x00, ""));
  CHECK(h.local);
  CHECK_EQ(h.family, 0);
  CHECK_EQ(h.length, size_t(16));
  h = checkByteByByte(v2(0x20, 0x11, V2_IPV4_BLOCK));
  CHECK(h.local);
  CHECK(h.sourceAddress.empty());
  CHECK(parse(v2(0x20, 0xFF, "")).state == State::COMPLETE);
  // PROXY with UNSPEC, with and without TLVs.
  h = checkByteByByte(v2(0x21, 0x00, ""));
  CHECK(h.local);
  h = checkByteByByte(v2(0x21, 0x00, TLVS));
  CHECK(h.local);
  CHECK_EQ(h.length, size_t(16 + 11));
  // UDP and unix sockets are ignored (real peer kept), but their blocks must be there.
  CHECK(checkByteByByte(v2(0x21, 0x12, V2_IPV4_BLOCK)).local);
  CHECK(checkByteByByte(v2(0x21, 0x22, V2_IPV6_BLOCK)).local);
  CHECK(checkByteByByte(v2(0x21, 0x31, std::string(216, '\0'))).local);
  CHECK(checkByteByByte(v2(0x21, 0x32, std::string(216, 'a'))).local);
  CHECK(isInvalid(v2(0x21, 0x31, std::string(215, '\0'))));
}

static void testV2Malformed() {
  // Wrong version nibble (1 and 3), unknown commands: decided at byte 13.
  CHECK_EQ(invalidAt(v2(0x11, 0x11, V2_IPV4_BLOCK)), size_t(13));
  CHECK_EQ(invalidAt(v2(0x31, 0x11, V2_IPV4_BLOCK)), size_t(13));
  CHECK_EQ(invalidAt(v2(0x22, 0x11, V2_IPV4_BLOCK)), size_t(13));
  CHECK_EQ(invalidAt(v2(0x2F, 0x11, V2_IPV4_BLOCK)), size_t(13));
  // Undefined families: decided at byte 14.
  const uint8_t badFamilies[] = {0x01, 0x10, 0x13, 0x20, 0x23, 0x30, 0x41, 0xFF};
  for (uint8_t f : badFamilies) CHECK_EQ(invalidAt(v2(0x21, f, V2_IPV4_BLOCK)), size_t(14));
  // A corrupted signature fails at the corrupted byte.
  for (size_t i = 1; i < 12; ++i) {
    std::string s = v2(0x21, 0x11, V2_IPV4_BLOCK);
    s[i] = static_cast<char>(s[i] ^ 0x40);
    CHECK_EQ(invalidAt(s), i + 1);
  }
  // Length too small for the address block: decided at byte 16.
  CHECK_EQ(invalidAt(v2(0x21, 0x11, V2_IPV4_BLOCK.substr(0, 11))), size_t(16));
  CHECK_EQ(invalidAt(v2(0x21, 0x21, V2_IPV4_BLOCK)), size_t(16));
  // Oversize length: over 4096 fails at byte 16, 4096 itself is fine.
  std::string over = V2_SIG + std::string("\x21\x11\x10\x01", 4);
  CHECK_EQ(invalidAt(over), size_t(16));
  CHECK(isInvalid(V2_SIG + std::string("\x21\x11\xFF\xFF", 4)));
  std::string max = v2(0x21, 0x11, V2_IPV4_BLOCK + std::string(4096 - 12, '\0'));
  CHECK_EQ(max.size(), MAX_PROXY_HEADER);
  ProxyHeader h = parse(max + HTTP);
  CHECK(h.state == State::COMPLETE);
  CHECK_EQ(h.length, MAX_PROXY_HEADER);
  CHECK(parsePrefix(max, max.size() - 1).state == State::NEED_MORE);
  // Truncated headers wait for more rather than fail.
  std::string full = v2(0x21, 0x21, V2_IPV6_BLOCK);
  for (size_t n = 1; n < full.size(); ++n) CHECK(parsePrefix(full, n).state == State::NEED_MORE);
  // 0x0D then anything but the signature (a stray CRLF before a request).
  CHECK_EQ(invalidAt("\r\nGET / HTTP/1.1\r\n"), size_t(3));
}

int main() {
  testV1Tcp4();
  testV1Tcp6();
  testV1Unknown();
  testV1Malformed();
  testV1LineLimit();
  testV1EarlyInvalid();
  testV2Ipv4();
  testV2Ipv6();
  testV2LocalAndUnspec();
  testV2Malformed();
  return CHECK_SUMMARY("proxy_protocol_test");
}
