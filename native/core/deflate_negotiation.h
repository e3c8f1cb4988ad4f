// permessage-deflate (RFC 7692) negotiation on the server side, §7: every offer in the client's
// Sec-WebSocket-Extensions is considered in order and the first one this server can honour is
// taken. An offer that is malformed (unknown or repeated parameter, bad value, bad syntax) or that
// asks for what the server cannot or will not do is declined: the handshake still succeeds, only
// without the extension (a browser would rather talk uncompressed than not at all).
// Pure string work, no zlib: see permessage_deflate.h for the codec.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace epollws {

// The server's permessage-deflate configuration (ws's perMessageDeflate option, normalised by lib).
struct DeflateOptions {
  bool enabled = false;
  bool serverNoContextTakeover = false;  // we reset our compressor after each message
  bool clientNoContextTakeover = false;  // we ask the client to reset its compressor
  uint8_t serverMaxWindowBits = 0;       // 8..15 to limit our window; 0: the client decides (15)
  uint8_t clientMaxWindowBits = 0;       // 8..15 to limit the client's; 0: as the client offers
  int level = -1;                        // zlib level (-1: zlib's default, 6)
  int memLevel = 8;                      // zlib memLevel 1..9
  int strategy = 0;                      // zlib strategy (Z_DEFAULT_STRATEGY)
  size_t threshold = 1024;               // messages smaller than this go out uncompressed
};

// What one connection agreed on.
struct DeflateParams {
  bool serverNoContextTakeover = false;
  bool clientNoContextTakeover = false;
  uint8_t serverMaxWindowBits = 15;  // the window our compressor uses (9..15)
  uint8_t clientMaxWindowBits = 15;  // the largest window the client's compressor may use (8..15)
};

struct DeflateNegotiation {
  bool accepted = false;
  DeflateParams params;
  std::string response;  // the Sec-WebSocket-Extensions value to answer with ("" when declined)
};

// `header` is the request's Sec-WebSocket-Extensions value (repeated headers joined with ", ").
DeflateNegotiation negotiateDeflate(std::string_view header, const DeflateOptions& options);

}  // namespace epollws
