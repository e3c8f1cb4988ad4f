// Reader for the HAProxy PROXY protocol header (v1 text line or v2 binary block) that a load balancer
// puts in front of the HTTP request to pass on the client's real address.
//
// Stateless: the caller keeps every byte received so far and calls again with all of them while the
// answer is NEED_MORE; the whole header is at most MAX_PROXY_HEADER bytes, so re-scanning is cheap and
// there is no parser object to keep per connection. A header that is not well formed is INVALID as soon
// as the bytes seen prove it, so a client that speaks plain HTTP to a PROXY-only port is refused at
// once rather than left waiting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace epollws {

struct ProxyHeader {
  enum class State { NEED_MORE, COMPLETE, INVALID };
  State state = State::NEED_MORE;
  size_t length = 0;        // bytes of the PROXY header (when COMPLETE): the HTTP request starts after them
  bool local = false;       // v2 LOCAL command or v1 "PROXY UNKNOWN": keep the real peer address
  int family = 0;           // 4 or 6 (0 when local / unknown)
  std::string sourceAddress;  // textual, "203.0.113.7" or "2001:db8::1"
  uint16_t sourcePort = 0;
};

// Parses a PROXY protocol v1 (text) or v2 (binary) header at the start of `data` (all bytes received so
// far on the connection, it is called again with more when NEED_MORE). INVALID for anything that is not a
// well-formed header (the caller then refuses the connection): no signature, v1 line over 107 bytes or
// without CRLF, bad addresses/ports, v2 with wrong version/command/family, length over the bytes a v2
// header may declare (cap at 4 KiB), etc. Decide INVALID as early as the bytes allow (e.g. first byte is
// neither 'P' nor 0x0D). v2 TLVs are skipped. v2 families: TCP over IPv4 (0x11) and IPv6 (0x21); UNSPEC
// (0x00) or LOCAL command -> local = true; other families (UDP, unix) -> local = true as the spec says a
// receiver may ignore them.
ProxyHeader parseProxyHeader(const uint8_t* data, size_t len);

// Max bytes to buffer before deciding: 16 + 4096 (v2 cap) — the caller's buffer bound.
constexpr size_t MAX_PROXY_HEADER = 16 + 4096;

}  // namespace epollws
