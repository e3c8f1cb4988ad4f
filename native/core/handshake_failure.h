// Why an opening handshake was refused: one enum for the parser, the server and the binding, so
// that every path (the core's own listeners, sockets taken over from node:http) refuses a given
// request with the same status and message, and JS can match on a name instead of on the text.
// Header-only: the table is small and every user is already in the core.
#pragma once
#include <cstddef>
#include <cstdint>

namespace epollws {

enum class HandshakeFailure : uint8_t {
  NONE = 0,
  INVALID_LINE_ENDING,
  HEADERS_TOO_LARGE,
  MALFORMED_REQUEST_LINE,
  INVALID_METHOD,
  UNSUPPORTED_HTTP_VERSION,
  MALFORMED_HEADER_LINE,
  INVALID_HEADER_VALUE,
  MISSING_HOST,
  DUPLICATE_HOST,
  INVALID_UPGRADE,
  INVALID_CONNECTION,
  INVALID_KEY,
  DUPLICATE_VERSION,
  INVALID_VERSION,
  DUPLICATE_ORIGIN,
  INVALID_SUBPROTOCOL,
  INVALID_PROXY_HEADER,
  PATH_NOT_SERVED,
  TOO_MANY_CONNECTIONS,
  UPGRADE_REQUIRED,
  COUNT
};

// Set in CLIENT_ERROR's arg when the core holds the refused connection for the user to answer.
constexpr uint32_t CLIENT_ERROR_HELD = 0x100;

// The versions of the protocol spoken (RFC 6455's 13 and draft 8, same framing, as ws), named in
// the answer to any other.
constexpr const char* SUPPORTED_VERSIONS_HEADER = "Sec-WebSocket-Version: 13, 8\r\n";

struct HandshakeFailureInfo {
  const char* name;     // the enum's name, what JS sees as err.reason
  int status;           // the HTTP status of the answer
  const char* message;  // sentence case, no trailing period; also the answer's body
};

namespace detail {
constexpr HandshakeFailureInfo HANDSHAKE_FAILURES[] = {
    {"NONE", 0, ""},
    {"INVALID_LINE_ENDING", 400, "Invalid line ending in request head (CRLF required)"},
    {"HEADERS_TOO_LARGE", 431, "Request header fields too large"},
    {"MALFORMED_REQUEST_LINE", 400, "Malformed HTTP request line"},
    {"INVALID_METHOD", 405, "Invalid HTTP method"},
    {"UNSUPPORTED_HTTP_VERSION", 400, "Unsupported HTTP version"},
    {"MALFORMED_HEADER_LINE", 400, "Malformed HTTP header line"},
    {"INVALID_HEADER_VALUE", 400, "Invalid character in header value"},
    {"MISSING_HOST", 400, "Missing Host header"},
    {"DUPLICATE_HOST", 400, "Duplicate Host header"},
    {"INVALID_UPGRADE", 400, "Invalid Upgrade header"},
    {"INVALID_CONNECTION", 400, "Invalid Connection header"},
    {"INVALID_KEY", 400, "Missing or invalid Sec-WebSocket-Key header"},
    {"DUPLICATE_VERSION", 400, "Duplicate Sec-WebSocket-Version header"},
    // ws's answer: 400 naming the versions spoken (Sec-WebSocket-Version: 13, 8; refuseHandshake).
    {"INVALID_VERSION", 400, "Missing or invalid Sec-WebSocket-Version header"},
    {"DUPLICATE_ORIGIN", 400, "Duplicate Origin header"},
    {"INVALID_SUBPROTOCOL", 400, "Invalid Sec-WebSocket-Protocol header"},
    {"INVALID_PROXY_HEADER", 400, "Invalid PROXY protocol header"},
    {"PATH_NOT_SERVED", 404, "Path not served"},
    {"TOO_MANY_CONNECTIONS", 503, "Too many connections"},
    // A plain HTTP request (no Upgrade, or no "upgrade" in Connection) on the own listener: what
    // ws's own http server answers to anything that is not an upgrade.
    {"UPGRADE_REQUIRED", 426, "Upgrade Required"},
};
static_assert(sizeof(HANDSHAKE_FAILURES) / sizeof(HANDSHAKE_FAILURES[0]) ==
                  static_cast<size_t>(HandshakeFailure::COUNT),
              "HANDSHAKE_FAILURES must have one entry per HandshakeFailure");
}  // namespace detail

// Out-of-range values read the NONE entry rather than past the table.
inline const HandshakeFailureInfo& handshakeFailureInfo(HandshakeFailure failure) {
  size_t index = static_cast<size_t>(failure);
  return detail::HANDSHAKE_FAILURES[index < static_cast<size_t>(HandshakeFailure::COUNT) ? index : 0];
}

}  // namespace epollws
