// The server side of the WebSocket opening handshake, once the request has been validated
// (see http_upgrade.h): the Sec-WebSocket-Accept value and the canned HTTP responses.
// handshake.cc is the only core file that includes OpenSSL, so a vendored SHA-1 can replace it
// (Electron, Windows) without touching anything else.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace epollws {

// The GUID that RFC 6455 §1.3 appends to the client's key before hashing.
constexpr std::string_view WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// base64 of a 20-byte SHA-1 digest.
constexpr size_t ACCEPT_KEY_LENGTH = 28;

// base64(SHA-1(key + GUID)), computed over the 20 raw digest bytes (not their hex form).
// `key` is used as sent (already trimmed by the parser); it is not validated here.
std::string computeAcceptKey(std::string_view key);

// "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
// "Sec-WebSocket-Accept: <acceptKey>\r\n", then "Sec-WebSocket-Protocol: <protocol>\r\n" and
// "Sec-WebSocket-Extensions: <extensions>\r\n" when non-empty, then extraHeaderLines verbatim
// (complete "Name: value\r\n" lines; the caller validates them, see isHttpToken/isHttpFieldValue),
// then the blank line.
std::string buildSwitchingProtocolsResponse(std::string_view acceptKey, std::string_view protocol,
                                            std::string_view extensions,
                                            std::string_view extraHeaderLines);

// "HTTP/1.1 <status> <reason>\r\nConnection: close\r\nContent-Type: text/plain\r\n"
// "Content-Length: <n>\r\n" + extraHeaderLines + "\r\n" + body. An empty body becomes the reason
// phrase. A 426 always carries "Sec-WebSocket-Version: 13" (added unless extraHeaderLines already
// has that header). A status outside 100..599 cannot go on a status line and is sent as 500.
std::string buildHttpErrorResponse(int status, std::string_view extraHeaderLines,
                                   std::string_view body);

// The RFC 9110 reason phrase for the statuses a WebSocket server plausibly sends; "Unknown" otherwise.
const char* httpReasonPhrase(int status);

}  // namespace epollws
